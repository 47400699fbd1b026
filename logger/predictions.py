"""Prediction writers: what test.py saves per sample, by task family.

    "test": {"writers": [{"type": "SegmentationWriter", "args": {"overlay": true}}]}
"""
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch

from utils.registry import WRITERS


def probability_maps(batch, logits, threshold):
    """(name, probability map at the image's original size, image path) per sample of a batch.
    `threshold` is checked here: a writer draws masks at the threshold test.py gave it, never its own."""
    if threshold is None:
        raise RuntimeError("set_threshold(t) first: masks are written at the model's decision threshold")
    probs = torch.sigmoid(logits.float()).squeeze(1).cpu().numpy()
    meta = batch["meta"]
    for i, prob in enumerate(probs):
        h, w = (int(v) for v in meta["size"][i])
        yield meta["name"][i], prob[:h, :w], meta["image_path"][i]


def overlay(image, mask, color=(255, 0, 0), alpha=0.6):
    """`image` (H, W, 3 uint8) with the pixels of boolean `mask` tinted `color` (in the image's channel
    order): the one overlay every wrinkle output uses (writer, report grid, web demo)."""
    out = image.astype(np.float32)
    out[mask] = (1 - alpha) * out[mask] + alpha * np.asarray(color, np.float32)
    return out.clip(0, 255).astype(np.uint8)


def read_bgr_or_black(image_path, shape):
    """The original image for an overlay, or black when it is gone or of another size."""
    image = cv2.imread(image_path, cv2.IMREAD_COLOR)
    return image if image is not None and image.shape[:2] == tuple(shape) else np.zeros((*shape, 3), np.uint8)


@WRITERS.register
class SegmentationWriter:
    """Per image: `npy/<name>.npy` (wrinkle probability at the original size; float32, or
    float16 via `npy_dtype` to halve the disk use), `png/<name>.png` (binary mask 0/255 at the
    model's decision threshold, which test.py sets: the metrics' threshold, or the one stored in
    the checkpoint) and `overlay/<name>_overlay.png` (the mask drawn on the image)."""

    def __init__(self, out_dir, npy: bool = True, png: bool = True, overlay: bool = True,
                 npy_dtype: Literal["float32", "float16"] = "float32", color: list = (255, 0, 0),
                 alpha: float = 0.6):
        self.out = Path(out_dir)
        self.npy_dtype = np.dtype(npy_dtype)
        self.threshold, self.npy, self.png, self.overlay = None, npy, png, overlay
        self.color, self.alpha = np.array(color, np.float32), alpha
        for sub in ("npy", "png", "overlay"):
            if getattr(self, sub):
                (self.out / sub).mkdir(parents=True, exist_ok=True)
        self.count = 0

    def set_threshold(self, threshold):
        self.threshold = threshold

    def write(self, batch, logits):
        for name, prob, image_path in probability_maps(batch, logits, self.threshold):
            mask = (prob >= self.threshold).astype(np.uint8) * 255
            if self.npy:
                np.save(self.out / "npy" / f"{name}.npy", prob.astype(self.npy_dtype))
            if self.png:
                cv2.imwrite(str(self.out / "png" / f"{name}.png"), mask)
            if self.overlay:
                cv2.imwrite(str(self.out / "overlay" / f"{name}_overlay.png"), self._overlay(image_path, mask))
            self.count += 1

    def _overlay(self, image_path, mask):  # config colour is RGB, OpenCV writes BGR
        return overlay(read_bgr_or_black(image_path, mask.shape), mask > 0, self.color[::-1], self.alpha)

    def close(self):
        return {"written": self.count, "dir": str(self.out)}
