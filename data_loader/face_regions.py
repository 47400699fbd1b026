"""Face regions ("parts") as pixel polygons of one image, from the config's `regions` spec.

    "regions": {
      "parts": {"forehead": [0.27, 0.14, 0.73, 0.33],                         box: x0, y0, x1, y1
                "chin": [[0.40, 0.82], [0.60, 0.82], [0.55, 0.92], [0.45, 0.92]]},   polygon: [x, y], ...
      "margin": 0.25,     context around a region, as a fraction of its size on each side (crops only)
      "overlap": "max",   where regions overlap, the merged map keeps the max ("max") or mean ("mean") probability
      "landmarks": null   or a face detector block (data_loader/face_detection.py): regions follow each face
    }

Fixed regions (`landmarks` null): x, y are normalised by the image's width and height, for
aligned faces. With a landmark provider, x, y are normalised in the `template`, an aligned face
of `size` [width, height] pixels with its landmarks at `points`; each image's detected landmarks
(eyes; for a box-only detector, the box's usual eye positions) give a similarity transform that
carries the regions onto that face. An image where no face is found falls back to the fixed rule.

Pixel rule: coordinates are continuous (pixel j covers [j, j+1)); a pixel belongs to a region when
its centre lies inside it. Clamping: a region may extend past the image. Its paste area is the part
inside the image; its crop is its bounding box grown by `margin`, NOT clipped: what lies outside
the image is padded (image: nearest border pixel; mask: the ignore value), so a part's crop has the
same framing everywhere. A region with no pixel inside the image is skipped for that image.
"""
import math
from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np
import torch
from matplotlib.path import Path as MplPath

from .face_detection import build_detector, eyes

# The sample generator's aligned face (samples/wrinkle.py): eyes at these points.
DEFAULT_TEMPLATE = {"size": [300, 330], "points": {"left_eye": [0.36, 0.44], "right_eye": [0.64, 0.44]}}


@dataclass
class Region:
    name: str
    points: np.ndarray  # (K, 2) pixel coordinates (x, y)
    axis_box: bool  # an axis-aligned rectangle: rasterised exactly, without a point-in-polygon test

    def bounds(self):
        (x0, y0), (x1, y1) = self.points.min(0), self.points.max(0)
        return float(x0), float(y0), float(x1), float(y1)

    def crop_box(self, margin):
        """(x0, y0, x1, y1) integer pixels, end exclusive: bounding box grown by `margin` of its size."""
        x0, y0, x1, y1 = self.bounds()
        mx, my = margin * (x1 - x0), margin * (y1 - y0)
        return math.floor(x0 - mx), math.floor(y0 - my), math.ceil(x1 + mx), math.ceil(y1 + my)

    def paste_area(self, height, width):
        """(y0, y1, x0, x1, mask): the window of the image holding the region's pixels and a bool
        mask of them in it; None when no pixel of the region lies inside the image."""
        x0, y0, x1, y1 = self.bounds()
        c0, c1 = max(0, math.ceil(x0 - 0.5)), min(width, math.ceil(x1 - 0.5))
        r0, r1 = max(0, math.ceil(y0 - 0.5)), min(height, math.ceil(y1 - 0.5))
        if c0 >= c1 or r0 >= r1:
            return None
        if self.axis_box:
            mask = np.ones((r1 - r0, c1 - c0), bool)
        else:
            yy, xx = np.mgrid[r0:r1, c0:c1]
            centres = np.stack([xx.ravel() + 0.5, yy.ravel() + 0.5], 1)
            mask = MplPath(self.points).contains_points(centres).reshape(r1 - r0, c1 - c0)
            if not mask.any():
                return None
        return r0, r1, c0, c1, mask


def _parse_part(name, spec):
    where = f"regions.parts.{name}"
    try:
        arr = np.asarray(spec, dtype=float)
    except (TypeError, ValueError):
        arr = None
    if arr is not None and arr.shape == (4,):
        if not (arr[0] < arr[2] and arr[1] < arr[3]):
            raise ValueError(f"{where}: a box is [x0, y0, x1, y1] with x0 < x1 and y0 < y1, got {spec}")
        x0, y0, x1, y1 = arr
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), True
    if arr is not None and arr.ndim == 2 and arr.shape[1] == 2 and len(arr) >= 3:
        return arr, False
    raise ValueError(f"{where}: expected a box [x0, y0, x1, y1] or a polygon [[x, y], [x, y], [x, y], ...] "
                     f"(normalised coordinates), got {spec!r}")


def similarity(src, dst):
    """Least-squares similarity (rotation, uniform scale, shift; no reflection) taking src points to dst
    points: z = a * w + b over complex numbers. Returns (a, b)."""
    w = src[:, 0] + 1j * src[:, 1]
    z = dst[:, 0] + 1j * dst[:, 1]
    wc, zc = w - w.mean(), z - z.mean()
    a = (np.conj(wc) * zc).sum() / (np.abs(wc) ** 2).sum()
    return a, z.mean() - a * w.mean()


class FaceRegions:
    """Turns the `regions` spec into Regions for an image: `locate(size=(h, w))` or `locate(image=rgb)`."""

    def __init__(self, parts: dict, margin: float = 0.25, overlap: Literal["max", "mean"] = "max",
                 landmarks: Optional[dict] = None, template: Optional[dict] = None):
        if not isinstance(parts, dict) or not parts:
            raise ValueError(f"regions.parts: expected a mapping of part name -> box or polygon, got {parts!r}")
        if overlap not in ("max", "mean"):
            raise ValueError(f"regions.overlap: expected 'max' or 'mean', got {overlap!r}")
        if not isinstance(margin, (int, float)) or margin < 0:
            raise ValueError(f"regions.margin: expected a number >= 0, got {margin!r}")
        self.parts = {name: _parse_part(name, spec) for name, spec in parts.items()}
        self.margin, self.overlap = float(margin), overlap
        self.detector = build_detector(landmarks, "regions.landmarks") if landmarks else None
        template = template or DEFAULT_TEMPLATE
        try:
            self.template_size = np.asarray(template["size"], float).reshape(2)
            self.template_points = {k: np.asarray(v, float).reshape(2) for k, v in template["points"].items()}
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"regions.template: expected {{'size': [w, h], 'points': {{name: [x, y], ...}}}}, "
                             f"got {template!r}") from e
        if len(self.template_points) < 2:
            raise ValueError("regions.template.points: at least two landmarks are needed (e.g. the eyes)")

    @classmethod
    def from_spec(cls, spec, path="regions"):
        if isinstance(spec, FaceRegions):
            return spec
        if not isinstance(spec, dict):
            raise ValueError(f"{path}: expected a mapping with 'parts' (and margin, overlap, landmarks), got {spec!r}")
        unknown = set(spec) - {"parts", "margin", "overlap", "landmarks", "template"}
        if unknown or "parts" not in spec:
            raise ValueError(f"{path}: needs 'parts' and accepts margin, overlap, landmarks, template; "
                             f"got keys {sorted(spec)}")
        return cls(**spec)

    @property
    def names(self):
        return list(self.parts)

    @property
    def needs_image(self):
        return self.detector is not None

    def locate(self, image=None, size=None):
        """{part: Region} in this image's pixels. `image` (RGB uint8, HxWx3) is needed with landmarks."""
        if image is not None:
            size = image.shape[:2]
        if size is None:
            raise ValueError("locate needs the image size (or the image)")
        h, w = (int(v) for v in size)
        if self.detector is not None:
            if image is None:
                raise ValueError("regions with landmarks need the image itself, not only its size")
            mapped = self._from_landmarks(image)
            if mapped is not None:
                return mapped
        return {n: Region(n, pts * (w, h), box) for n, (pts, box) in self.parts.items()}

    def _from_landmarks(self, image):
        faces = self.detector.detect(image)
        if not faces:
            return None
        face = faces[0]
        left, right, _ = eyes(face)
        found = {**(face.landmarks or {}), "left_eye": left, "right_eye": right}
        names = [n for n in self.template_points if n in found]
        if len(names) < 2:
            return None
        src = np.stack([self.template_points[n] * self.template_size for n in names])
        a, b = similarity(src, np.asarray([found[n] for n in names], float))
        upright = abs(a.imag) <= 1e-12 * abs(a)
        out = {}
        for n, (pts, box) in self.parts.items():
            z = a * ((pts * self.template_size) @ (1, 1j)) + b
            out[n] = Region(n, np.stack([z.real, z.imag], 1), box and upright)
        return out


def _indices(start, stop, size):
    return np.clip(np.arange(start, stop), 0, size - 1), (np.arange(start, stop) < 0) | (np.arange(start, stop) >= size)


def crop_array(array, box, fill=None):
    """`array[y0:y1, x0:x1]` (HxW or HxWxC) for a box that may extend past it: outside pixels repeat
    the nearest border pixel, or take `fill` when given (e.g. the mask's ignore value)."""
    x0, y0, x1, y1 = box
    rows, out_r = _indices(y0, y1, array.shape[0])
    cols, out_c = _indices(x0, x1, array.shape[1])
    out = array[np.ix_(rows, cols)]
    if fill is not None:
        out[out_r] = fill
        out[:, out_c] = fill
    return out


def crop_tensor(x, box):
    """The same crop of an (N, C, H, W) tensor, border pixels repeated outside (differentiable)."""
    x0, y0, x1, y1 = box
    rows = torch.as_tensor(_indices(y0, y1, int(x.shape[-2]))[0], device=x.device)
    cols = torch.as_tensor(_indices(x0, x1, int(x.shape[-1]))[0], device=x.device)
    return x.index_select(-2, rows).index_select(-1, cols)
