"""How a model is applied to a whole input at validation and test time.

    "inference": {"type": "SlidingWindow", "args": {"window": [1344, 1248], "overlap": 0.25}}

`Direct` runs the model once, padding height/width up to a multiple of `divisor` (encoders
downsample by 32) and cropping the output back, so any image size works and metrics are
computed on the original pixels. `SlidingWindow` tiles images larger than the window and
averages overlapping logits.
"""
import math

import torch
import torch.nn.functional as F

from utils.registry import INFERERS


def _pad_to(x, height, width, mode="reflect"):
    h, w = x.shape[-2:]
    if (h, w) == (height, width):
        return x
    if mode == "reflect" and (height - h >= h or width - w >= w):
        mode = "replicate"  # reflect padding cannot exceed the input size
    return F.pad(x, (0, width - w, 0, height - h), mode=mode)


def _crop(outputs, h, w):
    if isinstance(outputs, dict):
        return {k: _crop(v, h, w) for k, v in outputs.items()}
    if outputs.dim() >= 3 and outputs.shape[-2:] != (h, w) and outputs.dim() == 4:
        return outputs[..., :h, :w]
    return outputs


@INFERERS.register
class Direct:
    def __init__(self, divisor: int = 1):
        self.divisor = divisor

    def __call__(self, model, inputs):
        if self.divisor <= 1 or inputs.dim() != 4:
            return model(inputs)
        h, w = inputs.shape[-2:]
        d = self.divisor
        padded = _pad_to(inputs, math.ceil(h / d) * d, math.ceil(w / d) * d)
        return _crop(model(padded), h, w)


@INFERERS.register
class SlidingWindow:
    """`window` is [height, width]; tiles overlap by `overlap` of the window."""

    def __init__(self, window: list, overlap: float = 0.25, divisor: int = 32, batch_size: int = 4):
        if not 0 <= overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        self.window = [int(math.ceil(s / divisor) * divisor) for s in window]
        self.overlap, self.batch_size = overlap, batch_size
        self.direct = Direct(divisor)

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
            out = model(tiles).float()
            if total is None:
                total = out.new_zeros((x.shape[0], out.shape[1], H, W))
                count = out.new_zeros((1, 1, H, W))
            for j, (y, x0) in enumerate(chunk):
                n = x.shape[0]
                total[..., y:y + wh, x0:x0 + ww] += out[j * n:(j + 1) * n]
                count[..., y:y + wh, x0:x0 + ww] += 1
        return (total / count)[..., :h, :w]
