"""How a model is applied to a whole input at validation and test time.

    "inference": {"type": "SlidingWindow", "args": {"window": [1344, 1248], "overlap": 0.25}}

`Direct` runs the model once, padding height/width up to a multiple of `divisor` (encoders
downsample by 32) and cropping the output back, so any image size works and metrics are
computed on the original pixels. `SlidingWindow` tiles images larger than the window and
averages overlapping logits.

The padding rule, the same on every path (validation, test.py, the predictor, TTA, and what
an exported file's metadata tells its user): pad at the bottom and right, by reflection
(torch's "reflect", the edge pixel not repeated), or by repeating the edge pixel when the
pad is not smaller than the image side (reflection cannot reach that far). `infer_batch`
runs a batch of differently sized images (zero-padded together by pad_collate) one size at
a time, so an image's output never depends on what it was batched with.
"""
import math

import torch
import torch.nn.functional as F

from utils.registry import INFERERS

PAD_RULE = {"sides": "bottom, right", "mode": "reflect",
            "fallback": "replicate (edge pixel repeated) when the pad is not smaller than the image side"}


def _pad_to(x, height, width, mode="reflect"):
    h, w = x.shape[-2:]
    if (h, w) == (height, width):
        return x
    if mode == "reflect" and (height - h >= h or width - w >= w):
        mode = "replicate"  # reflect padding cannot exceed the input size
    return F.pad(x, (0, width - w, 0, height - h), mode=mode)


def pad_to_multiple(x, divisor):
    """The padding rule (PAD_RULE): height and width up to multiples of `divisor`."""
    h, w = x.shape[-2:]
    return _pad_to(x, math.ceil(h / divisor) * divisor, math.ceil(w / divisor) * divisor)


def infer_batch(inferer, model, inputs, sizes=None):
    """`inferer(model, inputs)`, such that each sample's output equals its output alone: when `sizes`
    ((N, 2) true heights/widths, meta["size"]) says the images were padded to a common size, each
    size runs on its own pixels and the outputs are put back in batch order (dense maps padded with
    zero logits where the image had none: their targets there are ignored)."""
    if sizes is None or inputs.dim() != 4:
        return inferer(model, inputs)
    sizes = [tuple(int(v) for v in s) for s in sizes]
    if all(s == tuple(inputs.shape[-2:]) for s in sizes):
        return inferer(model, inputs)
    groups = {}
    for i, s in enumerate(sizes):
        groups.setdefault(s, []).append(i)
    out = None
    for (h, w), index in groups.items():
        part = inferer(model, inputs[index, ..., :h, :w])
        out = _place(out, part, index, inputs)
    return out


def _place(out, part, index, inputs):
    if isinstance(part, dict):
        out = out or {}
        return {k: _place(out.get(k), v, index, inputs) for k, v in part.items()}
    if out is None:
        dense = part.dim() == 4 and inputs.dim() == 4
        shape = (inputs.shape[0], part.shape[1], *inputs.shape[-2:]) if dense else (inputs.shape[0], *part.shape[1:])
        out = part.new_zeros(shape)
    out[(index, ..., slice(0, part.shape[-2]), slice(0, part.shape[-1]))
        if part.dim() == 4 else index] = part
    return out


def _crop(outputs, h, w):
    if isinstance(outputs, dict):
        return {k: _crop(v, h, w) for k, v in outputs.items()}
    if outputs.dim() >= 3 and outputs.shape[-2:] != (h, w) and outputs.dim() == 4:
        return outputs[..., :h, :w]
    return outputs


def _shape(out):
    return {k: tuple(v.shape) for k, v in out.items()} if isinstance(out, dict) else tuple(out.shape)


@INFERERS.register
class Direct:
    def __init__(self, divisor: int = 1):
        self.divisor = divisor

    def __call__(self, model, inputs):
        if self.divisor <= 1 or inputs.dim() != 4:
            return model(inputs)
        h, w = inputs.shape[-2:]
        return _crop(model(pad_to_multiple(inputs, self.divisor)), h, w)


@INFERERS.register
class SlidingWindow:
    """`window` is [height, width]; tiles overlap by `overlap` of the window."""

    def __init__(self, window: list, overlap: float = 0.25, divisor: int = 32, batch_size: int = 4):
        if not 0 <= overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        self.window = [int(math.ceil(s / divisor) * divisor) for s in window]
        self.overlap, self.batch_size = overlap, batch_size
        self.direct, self.divisor = Direct(divisor), divisor

    @staticmethod
    def _starts(size, win, stride):
        if size <= win:
            return [0]
        starts = list(range(0, size - win, stride)) + [size - win]
        return sorted(set(starts))

    def __call__(self, model, inputs):
        h, w = inputs.shape[-2:]
        wh, ww = self.window
        if h <= wh and w <= ww:
            return self.direct(model, inputs)
        x = _pad_to(inputs, max(h, wh), max(w, ww))
        H, W = x.shape[-2:]
        sh, sw = max(1, int(wh * (1 - self.overlap))), max(1, int(ww * (1 - self.overlap)))
        boxes = [(y, x0) for y in self._starts(H, wh, sh) for x0 in self._starts(W, ww, sw)]
        total = count = None
        for i in range(0, len(boxes), self.batch_size):
            chunk = boxes[i:i + self.batch_size]
            tiles = torch.cat([x[..., y:y + wh, x0:x0 + ww] for y, x0 in chunk])
            out = model(tiles)
            if isinstance(out, dict) or out.dim() != 4 or out.shape[-2:] != tiles.shape[-2:]:
                raise ValueError(f"SlidingWindow stitches dense maps of the input's size; this model returns "
                                 f"{_shape(out)}: use Direct, TTA or MultiView for class scores")
            out = out.float()
            if total is None:
                total = out.new_zeros((x.shape[0], out.shape[1], H, W))
                count = out.new_zeros((1, 1, H, W))
            for j, (y, x0) in enumerate(chunk):
                n = x.shape[0]
                total[..., y:y + wh, x0:x0 + ww] += out[j * n:(j + 1) * n]
                count[..., y:y + wh, x0:x0 + ww] += 1
        return (total / count)[..., :h, :w]
