"""The partitioned wrinkle model: one segmentation model per face region, merged into one full-face map.

    "model": {"type": "PartitionedSegmenter",
              "args": {"regions": {...},                         the data's `regions` spec
                       "models": {"forehead": {"type": "SegmentationModel", "args": {...}}, ...},
                       "divisor": 32}}

tools/train_parts.py trains each part alone (WrinklePartDataset) and writes this model's checkpoint
(`model_merged.pth`), so test.py evaluates the merged map like any whole-face model. The forward
pass takes whole images (one per batch unless all share a size: fixed regions are normalised by
the input's size), crops each part's region grown by `regions.margin` exactly as the training
crops were cut (border pixels repeated outside the image), pads the crop to a multiple of
`divisor` for the encoder, and pastes the logits of the region itself (not its margin) back.

Overlap rule (`regions.overlap`): "max" keeps the largest probability (= the largest logit);
"mean" averages the probabilities of the parts covering a pixel. Outside every region the logit
is OUTSIDE_LOGIT: probability exactly 0 ("certainly background").
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from data_loader.face_regions import FaceRegions, crop_tensor
from utils.builder import build_child
from utils.registry import MODELS

OUTSIDE_LOGIT = -200.0  # sigmoid gives exactly 0 in float32; finite, so a missed wrinkle costs a finite loss
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # albumentations Normalize defaults


@MODELS.register
class PartitionedSegmenter(nn.Module):
    """`input_mean` / `input_std` undo the Normalize transform so a landmark detector can look at the
    image (used only when `regions.landmarks` is set)."""

    def __init__(self, regions: dict, models: dict, divisor: int = 32, input_mean: list = IMAGENET_MEAN,
                 input_std: list = IMAGENET_STD, max_pixel_value: float = 255.0):
        super().__init__()
        self.regions = FaceRegions.from_spec(regions)
        if not isinstance(models, dict) or not models:
            raise ValueError(f"models: expected a mapping of part name -> model block, got {models!r}")
        unknown = [p for p in models if p not in self.regions.names]
        if unknown:
            raise ValueError(f"models: {unknown} are not regions; regions.parts has {self.regions.names}")
        if divisor < 1:
            raise ValueError(f"divisor must be >= 1, got {divisor}")
        # ModuleDict in the regions' order, so the overlap rule sees parts in a fixed order.
        self.models = nn.ModuleDict({p: build_child(MODELS, models[p], f"models.{p}")
                                     for p in self.regions.names if p in models})
        self.divisor = divisor
        self.register_buffer("mean", torch.tensor(input_mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(input_std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.max_pixel_value = max_pixel_value

    def locate(self, x):
        """Per image of the batch: {part: Region}. Fixed regions are the same for the whole batch."""
        h, w = (int(v) for v in x.shape[-2:])  # ints: under tracing/export the size is then a constant
        if not self.regions.needs_image:
            return [self.regions.locate(size=(h, w))] * x.shape[0]
        images = ((x.detach()[:, :3].float() * self.std + self.mean) * self.max_pixel_value).clamp(0, 255)
        images = images.round().byte().permute(0, 2, 3, 1).cpu().numpy()
        return [self.regions.locate(image=np.ascontiguousarray(im)) for im in images]

    def forward(self, x):
        h, w = (int(v) for v in x.shape[-2:])
        if self.regions.needs_image:  # regions follow each face: one image at a time
            groups = [([i], r) for i, r in enumerate(self.locate(x))]
        else:  # fixed regions: the whole batch at once (no per-sample Python, so it exports)
            groups = [(slice(None), self.regions.locate(size=(h, w)))]
        best = total = count = None
        for index, regions in groups:
            for part, model in self.models.items():
                region = regions[part]
                area = region.paste_area(h, w)
                if area is None:
                    continue
                box = region.crop_box(self.regions.margin)
                logits = self._run_part(model, x[index], box)
                best, total, count = self._paste(best, total, count, x, index, logits, area, box)
        return self._combine(best, total, count, x)

    def _run_part(self, model, x, box):
        crop = crop_tensor(x, box)
        ch, cw = crop.shape[-2:]
        d = self.divisor
        crop = F.pad(crop, (0, math.ceil(cw / d) * d - cw, 0, math.ceil(ch / d) * d - ch), mode="replicate")
        return model(crop)[..., :ch, :cw]

    def _paste(self, best, total, count, x, index, logits, area, box):
        """Accumulate one part's logits on its paste area: running max, and sums for the mean rule."""
        r0, r1, c0, c1, mask = area
        if best is None:
            best = x.new_full((x.shape[0], 1, *x.shape[-2:]), float("-inf"))
            total, count = torch.zeros_like(best), torch.zeros_like(best)
        piece = logits[..., r0 - box[1]:r1 - box[1], c0 - box[0]:c1 - box[0]].to(best.dtype)
        m = torch.as_tensor(mask, device=x.device)
        # Index tensors, not slices: advanced indexing copies, so the in-place update below keeps autograd happy.
        rows = torch.arange(x.shape[0], device=x.device) if isinstance(index, slice) else \
            torch.as_tensor(index, device=x.device)
        window = (rows, slice(None), slice(r0, r1), slice(c0, c1))
        best[window] = torch.where(m, torch.maximum(best[window], piece), best[window])
        if self.regions.overlap == "mean":
            total[window] = total[window] + torch.where(m, torch.sigmoid(piece), torch.zeros_like(piece))
            count[window] = count[window] + m.to(count.dtype)
        return best, total, count

    def _combine(self, best, total, count, x):
        if best is None:
            return x.new_full((x.shape[0], 1, *x.shape[-2:]), OUTSIDE_LOGIT)
        covered = torch.isfinite(best)
        out = torch.where(covered, best, torch.full_like(best, OUTSIDE_LOGIT))
        if self.regions.overlap == "mean":
            # One part: its own logit (exact); several: the logit of their mean probability.
            mean = torch.logit((total / count.clamp_min(1)).clamp(1e-7, 1 - 1e-7))
            out = torch.where(count > 1, mean, out)
        return out
