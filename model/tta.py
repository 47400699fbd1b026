"""Test-time augmentation for classifiers: average the softmax probabilities of several views.

    "inference": {"type": "TTA", "args": {"views": ["identity", "hflip"]}}

Views: "identity", "hflip", "vflip", and "zoom<f>" (e.g. "zoom1.1": the central 1/f of the
image, resized back to full size). `weights` weights the views (default equal).

Returns the log of the averaged probabilities, per head for a dict of heads. These are
logit-like: softmax gives back the averaged probabilities and argmax picks the same class,
so losses (cross entropy = NLL of the averaged probabilities), metrics and prediction
writers take them exactly like logits. Probabilities are over the last dimension.
"""
from typing import Optional

import torch.nn.functional as F

from utils.registry import INFERERS

TINY = 1e-30  # keeps the log finite where a probability underflows to 0


def _zoom(x, factor):
    h, w = x.shape[-2:]
    ch, cw = max(1, round(h / factor)), max(1, round(w / factor))
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return F.interpolate(x[..., y0:y0 + ch, x0:x0 + cw], size=(h, w), mode="bilinear", align_corners=False)


def view_fn(name):
    """The function applying view `name` to a batch (N, C, H, W)."""
    if name == "identity":
        return lambda x: x
    if name == "hflip":
        return lambda x: x.flip(-1)
    if name == "vflip":
        return lambda x: x.flip(-2)
    if name.startswith("zoom"):
        try:
            factor = float(name[4:])
        except ValueError:
            factor = 0.0
        if factor >= 1:
            return lambda x: _zoom(x, factor)
    raise ValueError(f"unknown TTA view {name!r}; use identity, hflip, vflip or zoom<factor >= 1> (e.g. zoom1.1)")


@INFERERS.register
class TTA:
    def __init__(self, views: list = ("identity", "hflip"), weights: Optional[list] = None):
        if not views:
            raise ValueError("views: give at least one view, e.g. ['identity', 'hflip']")
        self.views = [view_fn(v) for v in views]
        self.names = list(views)
        weights = [1.0] * len(views) if weights is None else [float(w) for w in weights]
        if len(weights) != len(views) or any(w < 0 for w in weights) or not sum(weights) > 0:
            raise ValueError(f"weights: expected {len(views)} non-negative numbers (one per view), got {weights}")
        self.weights = [w / sum(weights) for w in weights]

    def __call__(self, model, inputs):
        total = None
        for view, w in zip(self.views, self.weights):
            out = model(view(inputs))
            probs = {k: w * v.float().softmax(-1) for k, v in out.items()} if isinstance(out, dict) \
                else w * out.float().softmax(-1)
            total = probs if total is None else (
                {k: total[k] + v for k, v in probs.items()} if isinstance(probs, dict) else total + probs)
        if isinstance(total, dict):
            return {k: v.clamp_min(TINY).log() for k, v in total.items()}
        return total.clamp_min(TINY).log()
