"""Abstract bases: a dataset, a metric and a trainer. Task families subclass these."""
from .base_dataset import BaseDataset
from .base_metric import Metric, MetricCollection
from .base_trainer import BaseTrainer

__all__ = ["BaseDataset", "Metric", "MetricCollection", "BaseTrainer"]
