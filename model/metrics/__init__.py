"""Metrics by task family; each accumulates state over an epoch (see base/base_metric.py)."""
from . import classification, face_attributes, segmentation
