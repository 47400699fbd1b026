"""Test-time augmentation: average the probabilities of several views of the input.

    "inference": {"type": "TTA", "args": {"views": ["identity", "hflip"], "divisor": 32}}

Views: "identity", "hflip", "vflip", and "zoom<f>" (e.g. "zoom1.1": the central 1/f of the
image, resized back to full size). `weights` weights the views (default equal). Each view
goes through `Direct(divisor)` (model/inference.py), so images of any size are padded by the
same rule as without TTA.

Two output kinds, told apart by shape:
- class scores (N, C) (per head for a dict of heads; also video models): softmax over classes;
- dense maps (N, C, H, W) of the input's height and width (segmentation): each view is first
  undone (flipped back; a zoom's map resized back onto the centre it saw, so a pixel averages
  only the views that saw it), then sigmoid (one channel) or softmax over channels.
The result is the logit of the averaged probabilities (log for softmax, logit for sigmoid): losses,
metrics, thresholds and writers take it exactly like the model's own logits.
"""
from typing import Optional

import torch
import torch.nn.functional as F

from utils.registry import INFERERS

from .inference import Direct

TINY = 1e-30  # keeps the log finite where a probability underflows to 0
EDGE = 1e-7  # sigmoid probabilities are kept inside (EDGE, 1 - EDGE) so their logit stays finite in float32


def _zoom_box(h, w, factor):
    ch, cw = max(1, round(h / factor)), max(1, round(w / factor))
    return (h - ch) // 2, (w - cw) // 2, ch, cw


class View:
    """One view: `apply` to the input batch, `undo` on a dense output (returns map, coverage or None)."""

    def __init__(self, name):
        self.name, self.zoom = name, None
        if name.startswith("zoom"):
            try:
                self.zoom = float(name[4:])
            except ValueError:
                self.zoom = 0.0
            if self.zoom < 1:
                self.zoom = None
                name = "bad"
        if name not in ("identity", "hflip", "vflip") and self.zoom is None:
            raise ValueError(f"unknown TTA view {self.name!r}; use identity, hflip, vflip or zoom<factor >= 1> "
                             "(e.g. zoom1.1)")

    def apply(self, x):
        if self.name == "hflip":
            return x.flip(-1)
        if self.name == "vflip":
            return x.flip(-2)
        if self.zoom is not None:
            h, w = x.shape[-2:]
            y0, x0, ch, cw = _zoom_box(h, w, self.zoom)
            return F.interpolate(x[..., y0:y0 + ch, x0:x0 + cw], size=(h, w), mode="bilinear", align_corners=False)
        return x

    def undo(self, prob):
        """A dense probability map back in the input's frame, and where it is valid (None: everywhere)."""
        if self.name == "hflip":
            return prob.flip(-1), None
        if self.name == "vflip":
            return prob.flip(-2), None
        if self.zoom is not None:
            h, w = prob.shape[-2:]
            y0, x0, ch, cw = _zoom_box(h, w, self.zoom)
            back, seen = torch.zeros_like(prob), torch.zeros_like(prob[:1, :1])
            back[..., y0:y0 + ch, x0:x0 + cw] = F.interpolate(prob, size=(ch, cw), mode="bilinear",
                                                              align_corners=False)
            seen[..., y0:y0 + ch, x0:x0 + cw] = 1
            return back, seen
        return prob, None


def view_fn(name):
    """The function applying view `name` to a batch (N, C, H, W)."""
    return View(name).apply


def _is_dense(out, inputs):
    return out.dim() == 4 and inputs.dim() == 4 and out.shape[-2:] == inputs.shape[-2:]


def _probabilities(out, dense):
    out = out.float()
    if dense and out.shape[1] == 1:
        return torch.sigmoid(out)
    return out.softmax(1 if dense else -1)


def _logits(prob, dense):
    if dense and prob.shape[1] == 1:
        prob = prob.clamp(EDGE, 1 - EDGE)
        return prob.log() - (-prob).log1p()
    return prob.clamp_min(TINY).log()


@INFERERS.register
class TTA:
    def __init__(self, views: list = ("identity", "hflip"), weights: Optional[list] = None, divisor: int = 1):
        if not views:
            raise ValueError("views: give at least one view, e.g. ['identity', 'hflip']")
        self.views = [View(v) for v in views]
        self.names = list(views)
        weights = [1.0] * len(views) if weights is None else [float(w) for w in weights]
        if len(weights) != len(views) or any(w < 0 for w in weights) or not sum(weights) > 0:
            raise ValueError(f"weights: expected {len(views)} non-negative numbers (one per view), got {weights}")
        self.weights = [w / sum(weights) for w in weights]
        self.direct, self.divisor = Direct(divisor), divisor

    def __call__(self, model, inputs):
        sums, cover, dense = {}, {}, {}
        single = None
        for view, w in zip(self.views, self.weights):
            out = self.direct(model, view.apply(inputs))
            single = not isinstance(out, dict)
            for key, value in ({"out": out} if single else out).items():
                dense[key] = _is_dense(value, inputs)
                prob = _probabilities(value, dense[key])
                seen = None
                if dense[key]:
                    prob, seen = view.undo(prob)
                seen = torch.ones_like(prob[:1, :1]) if seen is None else seen
                sums[key] = sums.get(key, 0) + w * prob * seen
                cover[key] = cover.get(key, 0) + w * seen
        merged = {}
        for key, total in sums.items():
            if not bool((cover[key] > 0).all()):
                raise ValueError(f"TTA views {self.names}: some pixels are seen by no view (zoom views see only "
                                 "the image centre); add 'identity' or a flip")
            merged[key] = _logits(total / cover[key], dense[key])
        return merged["out"] if single else merged
