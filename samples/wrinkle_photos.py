"""Thin, sparse wrinkles drawn on real photographs that installed packages ship (photos.py).

The drawn-face set (wrinkle.py) has thick wrinkles on clean skin, about 1.5% of pixels. This one
is what real data looks like to the model: real photographs (faces, a cat, objects, scenes, each
with its own natural edges, hair and texture that are *not* wrinkles), cropped and rescaled to
odd sizes (280..~480 px a side, never a multiple of 32), with 1-2 px dark curves drawn inside
one face-sized region (about 90-150 px, on the face where the photo has one). At most 0.3% of
an image's pixels are wrinkle (0.17% on average) and a quarter of the images have none.
Validation and test photos are not used for training, so val F1 measures unseen photos.

    <root>/{train,val,test}/images/<stem>.jpg   (about 1 in 4 as .png)
    <root>/{train,val,test}/masks/<stem>.png    uint8, wrinkle = 255, background = 0

CLI: ``python -m samples.wrinkle_photos --out data/samples/wrinkle_photos``
"""
import sys
from pathlib import Path

import cv2
import numpy as np

from .photos import PHOTOS, pick_photo
from .wrinkle import _curve, write_wrinkle_dataset
from .wrinkle import main as _main

SAMPLE_ROOT = "data/samples/wrinkle_photos"
MAX_POSITIVE = 0.003  # fraction of an image's pixels
NO_WRINKLE = 0.25  # fraction of images without any wrinkle
SKIN_CANDIDATES = 12  # random regions per image, of which the smoothest bright one gets the wrinkles
MIN_SKIN_BRIGHTNESS = 100  # mean grey level (0-255)


def _odd_size(rng, low, high):
    """A side length in [low, high] that is not a multiple of 32 (the framework must pad and crop)."""
    high = max(low, high)
    while True:
        n = int(rng.integers(low, high + 1))
        if n % 32 or low == high:
            return n


def _draw_wrinkles(rng, image, box):
    """Draw 1-2 px dark curves inside box (x0, y0, x1, y1) on image (float BGR, in place);
    returns their 0/1 mask. Curves stop being added before the mask passes MAX_POSITIVE."""
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    depth = np.zeros((h, w), np.float32)
    if rng.random() < NO_WRINKLE:
        return mask
    x0, y0, x1, y1 = box
    for _ in range(int(rng.integers(2, 9))):
        length = rng.uniform(20, 60)
        a = rng.uniform(-np.pi / 2, np.pi / 2) if rng.random() < 0.4 else rng.normal(0, 0.3)  # mostly horizontal
        d = np.array([np.cos(a), np.sin(a)])
        c = rng.uniform((x0 + length / 3, y0 + 5), (x1 - length / 3, y1 - 5))
        pts = _curve(rng, c - d * length / 2, c + d * length / 2, rng.uniform(-0.2, 0.2) * length, 0.8,
                     max(12, int(length / 2)))
        p = np.round(np.clip(pts, (x0, y0), (x1, y1)) * 16).astype(np.int32)
        thick = 1 if rng.random() < 0.65 else 2
        line = np.zeros_like(mask)
        cv2.polylines(line, [p], False, 1, thick, cv2.LINE_8, shift=4)
        if (mask | line).mean() > MAX_POSITIVE:
            break
        mask |= line
        cv2.polylines(depth, [p], False, float(rng.uniform(0.45, 0.7)), thick, cv2.LINE_8, shift=4)
    image *= 1 - cv2.GaussianBlur(depth, (0, 0), rng.uniform(0.3, 0.5))[..., None]
    return mask


def _skin_region(rng, photo, area):
    """(x, y, side) of the square, face-sized region that gets wrinkles: the smoothest (least edge
    energy) of a few random candidates inside `area` (fractions of the photo) that is bright enough,
    as skin is smooth and lit next to hair, eyes, clothes and background."""
    ph, pw = photo.shape[:2]
    x0, y0, x1, y1 = np.multiply(area, (pw, ph, pw, ph))
    side = min(rng.uniform(90, 150), x1 - x0, y1 - y0)
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY).astype(np.float32)
    edges = np.abs(cv2.Laplacian(cv2.GaussianBlur(gray, (0, 0), 1), cv2.CV_32F))
    candidates = rng.uniform((x0, y0), (x1 - side, y1 - side), (SKIN_CANDIDATES, 2))
    boxes = [np.s_[int(y):int(y + side), int(x):int(x + side)] for x, y in candidates]
    bright = np.array([gray[b].mean() for b in boxes])
    energy = np.array([edges[b].mean() for b in boxes])
    energy[bright < MIN_SKIN_BRIGHTNESS] = np.inf  # a dark line on a dark patch is invisible
    x, y = candidates[int(np.argmin(energy)) if np.isfinite(energy).any() else int(np.argmax(bright))]
    return x, y, side


def render_photo(rng, split):
    """One sample of `split`: (BGR uint8 image, uint8 0/1 mask) from one of its photos."""
    name, photo = pick_photo(rng, split)
    ph, pw = photo.shape[:2]
    scale = rng.uniform(0.75, 1.15) * 420 / min(ph, pw)  # short side about 315..480 px
    photo = cv2.resize(photo, (round(pw * scale), round(ph * scale)), interpolation=cv2.INTER_AREA)
    ph, pw = photo.shape[:2]
    bx, by, side = _skin_region(rng, photo, PHOTOS[name][2] or (0.05, 0.05, 0.95, 0.95))
    h, w = _odd_size(rng, 280, ph), _odd_size(rng, 280, pw)
    top = int(rng.integers(max(0, int(by + side) - h), min(int(by), ph - h) + 1))  # the region stays inside
    left = int(rng.integers(max(0, int(bx + side) - w), min(int(bx), pw - w) + 1))
    image = photo[top:top + h, left:left + w].astype(np.float32)
    image *= rng.uniform(0.85, 1.15)  # exposure
    mask = _draw_wrinkles(rng, image, (bx - left, by - top, bx - left + side, by - top + side))
    image += rng.normal(0, rng.uniform(1, 3), image.shape).astype(np.float32)  # sensor noise
    return np.clip(image, 0, 255).astype(np.uint8), mask


def generate_wrinkle_photos(root, n_train=48, n_val=12, n_test=12, seed=0, progress=True) -> Path:
    """Write the real-photo sample set at root (refusing a non-empty root), return root."""
    return write_wrinkle_dataset(root, (n_train, n_val, n_test), render_photo, seed, progress,
                                 desc="wrinkle photo samples")


if __name__ == "__main__":
    sys.exit(_main(generate=generate_wrinkle_photos, default_out=SAMPLE_ROOT,
                   what="thin wrinkles drawn on real photographs"))
