"""Everything a run writes for people to read: logs, progress, metrics.csv, TensorBoard, W&B, predictions."""
from . import predictions  # noqa: F401  (registers prediction writers)
from . import submission  # noqa: F401  (face-mask family)
from . import video_predictions  # noqa: F401
from . import class_predictions  # noqa: F401  (any labelled image set)
from . import part_overlay  # noqa: F401  (face parts)
from .logger import setup_logging
from .tracking import Tracker

__all__ = ["setup_logging", "Tracker"]
