"""Review grids for tools/find_label_errors.py: the most suspicious samples with given vs suggested
labels, and segmentation masks with the pixels confident learning doubts drawn on the image."""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from .predictions import overlay
from .sample_grid import _fit

GIVEN, MISSED, SPURIOUS = (40, 200, 60), (230, 30, 30), (40, 110, 255)  # RGB


def picture(path):
    """RGB uint8 of an image file, or the middle frame of a video file or a frame folder."""
    from data_loader.image_io import read_image
    from data_loader.video_io import count_video_frames, is_video, list_frame_files, read_video_frames

    path = Path(path)
    if path.is_dir():
        files = list_frame_files(path)
        return read_image(files[len(files) // 2])
    if is_video(path):
        return read_video_frames(path, [count_video_frames(path) // 2])[0]
    return read_image(path)


def _save(fig, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def draw_review(rows, path, cols=6):
    """Tiles of each row's `file` captioned with its `title` and `head: given -> suggested (quality)`."""
    n = len(rows)
    cols = max(1, min(cols, n))
    lines = max(1, max(len(r["lines"]) for r in rows)) if rows else 1
    fig, axes = plt.subplots(math.ceil(n / cols) or 1, cols, figsize=(cols * 2.3, math.ceil(n / cols) *
                                                                      (2.6 + 0.16 * lines) or 2), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, row in zip(axes.flat, rows):
        ax.imshow(_fit(picture(row["file"]), 256))
        ax.set_title(row["title"], fontsize=6)
        for j, text in enumerate(row["lines"]):
            ax.annotate(text, (0.5, 0), xycoords="axes fraction", xytext=(0, -3 - 9 * j), textcoords="offset points",
                        ha="center", va="top", fontsize=6.5, color="#c0392b")
    fig.tight_layout()
    return _save(fig, path)


def draw_segmentation_review(items, path):
    """One row per image: the image | its given mask | the doubted pixels (red: missed, i.e. given
    background but confidently foreground; blue: spurious). `items`: (title, image RGB, given, doubted)."""
    n = max(1, len(items))
    fig, axes = plt.subplots(n, 3, figsize=(3 * 2.6, n * 2.7), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for row, (title, image, given, doubted) in zip(axes, items):
        missed, spurious = doubted & ~given, doubted & given
        panels = [(image, title), (overlay(image, _thick(given), GIVEN), "given mask"),
                  (overlay(overlay(image, _thick(missed), MISSED, 0.8), _thick(spurious), SPURIOUS, 0.8),
                   f"doubted: {int(missed.sum())} missed (red), {int(spurious.sum())} spurious (blue)")]
        for ax, (rgb, text) in zip(row, panels):
            ax.imshow(_fit(rgb, 320))
            ax.set_title(text, fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def _thick(mask, side=320):
    """Thin strokes stay visible when the image is shrunk to `side` pixels for the grid."""
    import cv2

    k = max(1, round(max(mask.shape) / side))
    return cv2.dilate(mask.astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool) if k > 1 else mask
