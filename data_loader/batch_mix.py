"""Mixup and CutMix on whole training batches (data.train.batch_transform).

    "batch_transform": {"type": "CutMix", "args": {"alpha": 1.0, "prob": 0.5, "mode": "vertical"}}

Images are mixed with a shuffled copy of the batch and class-index targets become class
distributions mixed in the same proportion, so losses and metrics see soft targets. For a
multi-head target dict every head is mixed with the same pairs and proportion (sizes from
`num_classes`, by default the face heads mask 3, gender 2, age 3). Randomness comes only
from torch's global RNG, which the trainer checkpoints, so a resumed run mixes identically.
"""
from typing import Literal, Optional, Union

import torch
import torch.nn.functional as F

from utils.registry import BATCH_TRANSFORMS, takes_classes
from utils.targets import is_soft

from .mask_labels import HEADS as FACE_HEADS


@takes_classes(num_classes="count or head counts")
class _BatchMix:
    def __init__(self, alpha, prob, num_classes):
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if not 0 < prob <= 1:
            raise ValueError(f"prob must be in (0, 1], got {prob}")
        self.alpha, self.prob, self.num_classes = float(alpha), prob, num_classes

    def _soft(self, target, size, name):
        if is_soft(target):  # already a distribution
            return target
        if size is None:
            raise ValueError(f"{type(self).__name__}: give num_classes to turn class indices{name} into "
                             "distributions (e.g. num_classes: 18)")
        return F.one_hot(target.long(), size).float()

    def soft_targets(self, targets):
        if isinstance(targets, dict):
            if isinstance(self.num_classes, int):
                raise ValueError(f"{type(self).__name__}: the targets are heads {sorted(targets)}; give num_classes "
                                 "per head ({head: classes}), or leave it out for the face heads")
            sizes = self.num_classes or FACE_HEADS
            return {k: self._soft(v, sizes.get(k), f" of head '{k}'") for k, v in targets.items()}
        size = self.num_classes if isinstance(self.num_classes, int) else None
        return self._soft(targets, size, "")

    def __call__(self, inputs, targets):
        if self.prob < 1 and torch.rand(()).item() >= self.prob:
            return inputs, targets
        lam = torch.distributions.Beta(self.alpha, self.alpha).sample().item()
        perm = torch.randperm(inputs.shape[0]).to(inputs.device)
        inputs, lam = self.mix(inputs, perm, lam)
        soft = self.soft_targets(targets)
        if isinstance(soft, dict):
            return inputs, {k: lam * v + (1 - lam) * v[perm] for k, v in soft.items()}
        return inputs, lam * soft + (1 - lam) * soft[perm]

    def mix(self, inputs, perm, lam):
        """(mixed inputs, the share of the original image in them)."""
        raise NotImplementedError


@BATCH_TRANSFORMS.register
class Mixup(_BatchMix):
    """x = lam * x + (1 - lam) * x[perm], lam ~ Beta(alpha, alpha), applied to a batch with probability `prob`."""

    def __init__(self, alpha: float = 0.4, prob: float = 1.0, num_classes: Optional[Union[int, dict]] = None):
        super().__init__(alpha, prob, num_classes)

    def mix(self, inputs, perm, lam):
        return lam * inputs + (1 - lam) * inputs[perm], lam


@BATCH_TRANSFORMS.register
class CutMix(_BatchMix):
    """Pastes a region of the paired image: a random box ("box", covering 1 - lam of the image),
    or the left or right part ("vertical") / top or bottom part ("horizontal") cut at a random
    line, which keeps a face's mask region in one piece. Targets are mixed by the pasted area."""

    def __init__(self, alpha: float = 1.0, prob: float = 1.0, mode: Literal["box", "vertical", "horizontal"] = "box",
                 num_classes: Optional[Union[int, dict]] = None):
        super().__init__(alpha, prob, num_classes)
        self.mode = mode

    def mix(self, inputs, perm, lam):
        h, w = inputs.shape[-2:]
        y0, y1, x0, x1 = 0, h, 0, w
        if self.mode == "box":
            ch, cw = int(h * (1 - lam) ** 0.5), int(w * (1 - lam) ** 0.5)
            cy, cx = torch.randint(h, ()).item(), torch.randint(w, ()).item()
            y0, y1 = max(cy - ch // 2, 0), min(cy + ch - ch // 2, h)
            x0, x1 = max(cx - cw // 2, 0), min(cx + cw - cw // 2, w)
        else:
            size = h if self.mode == "horizontal" else w
            cut = int(round(size * (1 - lam)))
            start = 0 if torch.rand(()).item() < 0.5 else size - cut  # paste at either side
            if self.mode == "horizontal":
                y0, y1 = start, start + cut
            else:
                x0, x1 = start, start + cut
        out = inputs.clone()
        out[..., y0:y1, x0:x1] = inputs[perm][..., y0:y1, x0:x1]
        return out, 1 - (y1 - y0) * (x1 - x0) / (h * w)
