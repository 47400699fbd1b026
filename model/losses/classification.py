"""Classification losses. Targets are class indices, or class distributions (mixup/cutmix).

Class weights (`weight` of CrossEntropy, `alpha` of FocalLoss) are a list from the config,
or "auto": balanced weights n_samples / (n_classes * n_class) from the training labels,
computed once before training (`prepare`) and saved with the checkpoint.
"""
import logging
from typing import Literal, Optional, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from utils.errors import ConfigError
from utils.registry import LOSSES
from utils.targets import is_soft

log = logging.getLogger("facetrain")


def balanced_weights(counts):
    """n / (k * count) per class, like scikit-learn's class_weight='balanced'; 1 for absent classes."""
    counts = np.asarray(counts, np.float64)
    weights = counts.sum() / (len(counts) * np.maximum(counts, 1))
    return np.where(counts > 0, weights, 1.0)


class ClassWeighted(nn.Module):
    """A loss with one per-class weight buffer, given as a list or estimated ("auto")."""

    weight_name = "weight"

    def _init_weights(self, value):
        if value is not None and value != "auto" and not isinstance(value, (list, tuple)):
            raise ValueError(f"{self.weight_name} must be a list of per-class numbers or 'auto', got {value!r}")
        self.auto = value == "auto"
        tensor = torch.tensor(value, dtype=torch.float32) if isinstance(value, (list, tuple)) else None
        self.register_buffer(self.weight_name, tensor)

    def prepare(self, dataset, key=None):
        """'auto' weights from the training labels (key: which labels, e.g. a head's name)."""
        if not self.auto:
            return
        if not hasattr(dataset, "class_counts"):
            raise ConfigError(f"loss: {self.weight_name}='auto' needs a dataset with class_counts(); "
                              f"{type(dataset).__name__} has none, so give a list")
        counts = dataset.class_counts(key)
        setattr(self, self.weight_name, torch.tensor(balanced_weights(counts), dtype=torch.float32))
        log.info(f"{type(self).__name__}{f' ({key})' if key else ''}: {self.weight_name} = "
                 f"{[round(float(w), 3) for w in getattr(self, self.weight_name)]} (auto, from class counts "
                 f"{counts.tolist()})")

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # 'auto' weights exist only after prepare(): take their size from the checkpoint.
        key = prefix + self.weight_name
        if key in state_dict and getattr(self, self.weight_name) is None:
            setattr(self, self.weight_name, torch.empty_like(state_dict[key]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def soft_target(target, logits, label_smoothing=0.0):
    """Class distributions (N, K) from indices or distributions, optionally smoothed."""
    k = logits.shape[-1]
    if not is_soft(target, logits):
        target = F.one_hot(target.long(), k).to(logits.dtype)
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / k
    return target


@LOSSES.register
class CrossEntropy(ClassWeighted):
    """Cross entropy with optional class weights (a list from the config, or "auto") and label smoothing."""

    def __init__(self, weight: Optional[Union[list, Literal["auto"]]] = None, label_smoothing: float = 0.0,
                 ignore_index: int = -100):
        super().__init__()
        self._init_weights(weight)
        self.label_smoothing, self.ignore_index = label_smoothing, ignore_index

    def forward(self, logits, target):
        if is_soft(target, logits):
            return F.cross_entropy(logits, target, weight=self.weight, label_smoothing=self.label_smoothing)
        return F.cross_entropy(logits, target.long(), weight=self.weight, ignore_index=self.ignore_index,
                               label_smoothing=self.label_smoothing)


@LOSSES.register
class FocalLoss(ClassWeighted):
    """Multi-class focal loss, mean over samples of -sum_c alpha_c t_c (1 - p_c)^gamma log p_c
    (Lin et al. 2017), with t the (smoothed, or mixed) target distribution. gamma 0 and no
    alpha is cross entropy; `alpha` is a per-class list or "auto" (balanced)."""

    weight_name = "alpha"

    def __init__(self, gamma: float = 2.0, alpha: Optional[Union[list, Literal["auto"]]] = None,
                 label_smoothing: float = 0.0, ignore_index: int = -100):
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self._init_weights(alpha)
        self.gamma, self.label_smoothing, self.ignore_index = gamma, label_smoothing, ignore_index

    def forward(self, logits, target):
        if not is_soft(target, logits):
            keep = target != self.ignore_index
            logits, target = logits[keep], target[keep]
        t = soft_target(target, logits, self.label_smoothing)
        log_p = F.log_softmax(logits.float(), -1)
        loss = -t * (1 - log_p.exp()).pow(self.gamma) * log_p
        if self.alpha is not None:
            loss = loss * self.alpha
        return loss.sum(-1).mean() if len(loss) else logits.sum() * 0


@LOSSES.register(aliases=("F1Loss",))
class SoftMacroF1Loss(nn.Module):
    """1 - macro soft-F1: per class, F1 from softmax probabilities (tp = sum p*t, fp = sum
    p*(1-t), fn = sum (1-p)*t over the batch), averaged over all the logits' classes (K is
    read from the logits, so one loss serves heads of any size)."""

    def __init__(self, eps: float = 1e-7, ignore_index: int = -100):
        super().__init__()
        self.eps, self.ignore_index = eps, ignore_index

    def forward(self, logits, target):
        if not is_soft(target, logits):
            keep = target != self.ignore_index
            logits, target = logits[keep], target[keep]
        t = soft_target(target, logits)
        p = logits.float().softmax(-1)
        tp = (p * t).sum(0)
        fp = (p * (1 - t)).sum(0)
        fn = ((1 - p) * t).sum(0)
        f1 = 2 * tp / (2 * tp + fp + fn + self.eps)
        return 1 - f1.mean()
