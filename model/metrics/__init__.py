"""Metrics by task family; each accumulates state over an epoch (see base/base_metric.py)."""
from . import classification, segmentation  # noqa: F401
from . import face_attributes  # noqa: F401  (face-mask family)
