"""Everything a run writes for people to read: logs, progress, metrics.csv, TensorBoard, W&B, predictions."""
from . import class_predictions, part_overlay, predictions, submission, video_predictions  # prediction writers
from .logger import setup_logging
from .tracking import Tracker

__all__ = ["setup_logging", "Tracker"]
