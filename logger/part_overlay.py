"""Per-part overlays of the partitioned model: each face region outlined and named in its own colour,
the merged wrinkle mask filled in the colour of the part it falls in.

    "test": {"writers": [{"type": "PartOverlayWriter", "args": {"regions": {...}}}]}

Writes `parts/<name>_parts.png` at the image's original size. tools/train_parts.py adds this writer
(with the run's regions) to the merged model's config.
"""
from pathlib import Path

import cv2
import numpy as np

from data_loader.face_regions import FaceRegions
from utils.registry import WRITERS

from .predictions import probability_maps, read_bgr_or_black

# Distinct BGR colours (matplotlib's tab10), one per part in the regions' order.
PALETTE = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148), (75, 86, 140),
           (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23)]


@WRITERS.register
class PartOverlayWriter:
    def __init__(self, out_dir, regions: dict, color: list = (255, 0, 0), alpha: float = 0.6, labels: bool = True):
        self.out = Path(out_dir) / "parts"
        self.out.mkdir(parents=True, exist_ok=True)
        self.regions = FaceRegions.from_spec(regions)
        self.threshold = None  # the model's decision threshold, set by test.py (never a second copy in config)
        self.alpha, self.labels = alpha, labels
        self.color = np.array(color, np.float32)[::-1]  # config colour is RGB, OpenCV writes BGR
        self.count = 0

    def set_threshold(self, threshold):
        self.threshold = threshold

    def write(self, batch, logits):
        for name, prob, image_path in probability_maps(batch, logits, self.threshold):
            image = read_bgr_or_black(image_path, prob.shape)
            cv2.imwrite(str(self.out / f"{name}_parts.png"), self.draw(image, prob >= self.threshold))
            self.count += 1

    def draw(self, image, mask):
        """BGR image: wrinkle pixels of `mask` filled in their part's colour (`color` outside every
        region), each region outlined in its colour and named."""
        rgb = np.ascontiguousarray(image[..., ::-1])
        h, w = mask.shape
        regions = self.regions.locate(image=rgb) if self.regions.needs_image else self.regions.locate(size=(h, w))
        fill = np.zeros((h, w, 3), np.float32)
        fill[:] = self.color
        for k, region in enumerate(regions.values()):
            area = region.paste_area(h, w)
            if area is not None:
                r0, r1, c0, c1, inside = area
                fill[r0:r1, c0:c1][inside] = PALETTE[k % len(PALETTE)]
        out = image.astype(np.float32)
        out[mask] = (1 - self.alpha) * out[mask] + self.alpha * fill[mask]
        out = out.clip(0, 255).astype(np.uint8)
        scale = max(0.3, min(h, w) / 800)
        for k, (name, region) in enumerate(regions.items()):
            colour = PALETTE[k % len(PALETTE)]
            pts = np.round(region.points * 16).astype(np.int32)  # 4 fractional bits
            cv2.polylines(out, [pts], True, colour, max(1, round(2 * scale)), cv2.LINE_AA, shift=4)
            if self.labels:
                x0, y0 = region.points.min(0)
                cv2.putText(out, name, (int(x0) + 2, max(10, int(y0) - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale,
                            colour, 1, cv2.LINE_AA)
        return out

    def close(self):
        return {"written": self.count, "dir": str(self.out)}
