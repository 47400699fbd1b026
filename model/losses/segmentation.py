"""Losses for binary segmentation. Targets are float masks: 1 wrinkle, 0 background (or a soft map in [0, 1]),
`ignore_index` (padding) ignored. Logits are (N, 1, H, W) or (N, H, W)."""
import logging
from typing import Literal, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from utils.errors import ConfigError
from utils.registry import LOSSES

log = logging.getLogger("facetrain")


def _flat(logits, target, ignore_index):
    if logits.dim() == target.dim() + 1:
        logits = logits.squeeze(1)
    valid = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    return logits, torch.where(valid, target, torch.zeros_like(target)), valid.to(logits.dtype)


@LOSSES.register
class WeightedBCE(nn.Module):
    """BCE with a weight on positive pixels. `pos_weight="auto"` sets it to
    negatives / positives over the training masks, capped at `max_pos_weight`."""

    def __init__(self, pos_weight: Union[float, Literal["auto"]] = 1.0, max_pos_weight: float = 100.0,
                 ignore_index: Optional[int] = 255):
        super().__init__()
        self.auto = pos_weight == "auto"
        if not self.auto and not isinstance(pos_weight, (int, float)):
            raise ValueError(f"pos_weight must be a number or 'auto', got {pos_weight!r}")
        self.max_pos_weight, self.ignore_index = max_pos_weight, ignore_index
        self.register_buffer("pos_weight", torch.tensor(1.0 if self.auto else float(pos_weight)))

    def prepare(self, dataset):
        """Estimate pos_weight from the training set once (it travels in checkpoints)."""
        if not self.auto:
            return
        if not hasattr(dataset, "pixel_counts"):
            raise ConfigError(f"loss: pos_weight='auto' needs a dataset with pixel_counts(); "
                              f"{type(dataset).__name__} has none, so give a number")
        pos, total = dataset.pixel_counts()
        value = min((total - pos) / max(pos, 1), self.max_pos_weight)
        self.pos_weight.fill_(value)
        log.info(f"WeightedBCE: pos_weight = {value:.2f} (auto: {pos} of {total} training pixels are "
                 f"positive; cap {self.max_pos_weight})")

    def forward(self, logits, target):
        logits, target, valid = _flat(logits, target, self.ignore_index)
        loss = F.binary_cross_entropy_with_logits(logits, target, pos_weight=self.pos_weight, reduction="none")
        return (loss * valid).sum() / valid.sum().clamp_min(1)


@LOSSES.register(aliases=("DiceLoss",))
class SoftF1Loss(nn.Module):
    """1 - soft F1 (= Dice) over all pixels of the batch. `smooth` keeps the loss
    non-zero on a batch without positives, so false positives are still punished."""

    def __init__(self, smooth: float = 1.0, ignore_index: Optional[int] = 255):
        super().__init__()
        self.smooth, self.ignore_index = smooth, ignore_index

    def forward(self, logits, target):
        logits, target, valid = _flat(logits, target, self.ignore_index)
        p = torch.sigmoid(logits) * valid
        t = target * valid
        tp = (p * t).sum()
        fp = (p * (1 - t)).sum()
        fn = ((1 - p) * t).sum()
        return 1 - (2 * tp + self.smooth) / (2 * tp + fp + fn + self.smooth)


@LOSSES.register
class SoftMaskMSE(nn.Module):
    """Mean squared error between sigmoid(logits) and a target map in [0, 1]: a regression loss for
    soft labels such as FFHQ-Wrinkle's weak texture maps (the paper's pretraining stage regresses
    them). Through the sigmoid the output stays a wrinkle probability map, so a fine-tuning stage
    with a binary loss starts from the same head."""

    def __init__(self, ignore_index: Optional[int] = 255):
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits, target):
        logits, target, valid = _flat(logits, target, self.ignore_index)
        loss = (torch.sigmoid(logits) - target) ** 2
        return (loss * valid).sum() / valid.sum().clamp_min(1)
