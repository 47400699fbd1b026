"""Losses by task family. A loss returns a tensor or a dict of weighted terms (summed by the trainer).
A loss may define `prepare(train_dataset)` to estimate statistics once before training."""
from . import classification, combine, multi_head, segmentation
