"""Classification losses. Targets are class indices, or class distributions (mixup/cutmix)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from utils.registry import LOSSES


@LOSSES.register
class CrossEntropy(nn.Module):
    """Cross entropy with optional class weights (a list from the config) and label smoothing."""

    def __init__(self, weight: Optional[list] = None, label_smoothing: float = 0.0, ignore_index: int = -100):
        super().__init__()
        self.register_buffer("weight", torch.tensor(weight, dtype=torch.float32) if weight is not None else None)
        self.label_smoothing, self.ignore_index = label_smoothing, ignore_index

    def forward(self, logits, target):
        if target.is_floating_point() and target.dim() == logits.dim():  # soft targets
            return F.cross_entropy(logits, target, weight=self.weight, label_smoothing=self.label_smoothing)
        return F.cross_entropy(logits, target.long(), weight=self.weight, ignore_index=self.ignore_index,
                               label_smoothing=self.label_smoothing)
