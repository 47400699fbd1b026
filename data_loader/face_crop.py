"""Where to cut a face out of a photo: a square around the detector's box grown by a margin,
optionally turned so the eyes lie level; a centre square when no face was found.

A `CropPlan` is the square's centre and side in the source (continuous pixel coordinates: pixel j
covers [j, j+1)), its rotation, and the output side. Without rotation or resizing the square is
snapped to whole pixels, so the crop is an exact copy of source pixels. Where the square passes
the image's edge, images repeat their border pixels and masks get 0.
"""
import math
from dataclasses import dataclass

import cv2
import numpy as np

from .face_detection import eyes


@dataclass
class CropPlan:
    kind: str  # "face" or "fallback"
    center: tuple  # (x, y) in the source
    side: float  # of the square, in source pixels
    angle: float = 0.0  # degrees; the source direction that becomes the output's x axis
    out_side: int = 0

    def matrix(self):
        """2x3 map from output pixel indices to source pixel indices (cv2.WARP_INVERSE_MAP)."""
        s = self.side / self.out_side
        t = math.radians(self.angle)
        rot = s * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        offset = rot @ (np.full(2, 0.5) - self.out_side / 2) + np.asarray(self.center) - 0.5
        return np.hstack([rot, offset[:, None]])

    def apply(self, array, mask=False):
        """The crop of an image (bilinear, border repeated) or of a mask (nearest, 0 outside)."""
        flags = (cv2.INTER_NEAREST if mask else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP
        border = cv2.BORDER_CONSTANT if mask else cv2.BORDER_REPLICATE
        return cv2.warpAffine(array, self.matrix(), (self.out_side, self.out_side), flags=flags,
                              borderMode=border, borderValue=0)

    def box(self):
        """(x0, y0, x1, y1) of the unrotated square."""
        (cx, cy), h = self.center, self.side / 2
        return cx - h, cy - h, cx + h, cy + h


def _plan(kind, cx, cy, side, angle, size):
    if angle == 0 and size is None:  # snap to whole pixels: an exact copy of source pixels
        side = max(1, round(side))
        x0, y0 = round(cx - side / 2), round(cy - side / 2)
        cx, cy = x0 + side / 2, y0 + side / 2
    return CropPlan(kind, (float(cx), float(cy)), float(side), float(angle), int(size or round(side)))


def face_plan(face, margin=0.4, align=False, size=None):
    """The square around `face`: its box's longer side grown by `margin` of it on each side; with
    `align`, turned by the eye line's angle (eyes from the detector, else none: no rotation)."""
    x0, y0, x1, y1 = face.box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    angle = 0.0
    if align:
        (lx, ly), (rx, ry), estimated = eyes(face)
        angle = 0.0 if estimated else math.degrees(math.atan2(ry - ly, rx - lx))
    return _plan("face", (x0 + x1) / 2, (y0 + y1) / 2, side, angle, size)


def center_plan(height, width, fraction=0.8, size=None):
    """The fallback: a centred square of `fraction` of the image's shorter side."""
    if not 0 < fraction <= 1:
        raise ValueError(f"the centre crop is a fraction of the shorter side in (0, 1], got {fraction}")
    return _plan("fallback", width / 2, height / 2, fraction * min(height, width), 0.0, size)
