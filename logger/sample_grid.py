"""A grid of samples with the model's predictions, drawn by what the model outputs:

- a (1, 1, H, W) logit map (segmentation): image | true mask overlay | predicted overlay, one row per sample;
- (1, K) logits or a dict of them (classification, one line per head): the image captioned
  "true / predicted", in red where they differ, as the seed project's grid_image.

Inputs are shown as the model saw them, with the transform's Normalize undone; a clip shows
its middle frame.
"""
import math

import albumentations as A
import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt

from .predictions import overlay

RIGHT, WRONG, UNKNOWN = "forestgreen", "red", "black"
MAX_SIDE = 320  # pixels drawn per panel: enough to see, cheap for full-size images


# --- inputs back to pictures ---------------------------------------------------------------
def find_normalize(transform):
    """The albumentations Normalize inside a (nested) Compose, or None."""
    if isinstance(transform, A.Normalize):
        return transform
    for t in getattr(transform, "transforms", None) or []:
        found = find_normalize(t)
        if found is not None:
            return found
    return None


def to_uint8(image, normalize):
    """(3, H, W) float tensor as the model saw it -> (H, W, 3) uint8 RGB.

    Normalize(mean, std, max_pixel_value) computed (x - mean * max) / (std * max); without one the
    datasets scale uint8 to [0, 1]. Other Normalize modes cannot be undone from their parameters,
    so those images are stretched to their own min..max."""
    x = image.detach().float().cpu().numpy().transpose(1, 2, 0)
    if normalize is None:
        x = x * 255.0
    elif normalize.normalization == "standard":
        scale = float(normalize.max_pixel_value)
        x = x * np.asarray(normalize.std, np.float32) * scale + np.asarray(normalize.mean, np.float32) * scale
    else:
        x = (x - x.min()) / max(float(x.max() - x.min()), 1e-8) * 255.0
    return np.clip(x, 0, 255).round().astype(np.uint8)


def picture(inputs, layout="CTHW"):
    """The (3, H, W) image of one sample's input: itself, or the middle frame of a clip (the first view
    of a multi-view sample). `layout` is the clip's: CTHW (3D models) or TCHW (frame models)."""
    x = inputs
    while x.dim() > 4:  # (views, ...) of a multi-view sample
        x = x[0]
    if x.dim() == 4:
        x = x[:, x.shape[1] // 2] if layout == "CTHW" else x[x.shape[0] // 2]
    if x.dim() != 3:
        raise ValueError(f"cannot show an input of shape {tuple(inputs.shape)} as an image")
    return x[:3] if x.shape[0] >= 3 else x[:1].expand(3, -1, -1)


def _fit(rgb, max_side=MAX_SIDE):
    import cv2

    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


# --- what to draw, by the model's output -------------------------------------------------
def grid_kind(output):
    """'segmentation', 'classification', or None for an output this grid cannot draw."""
    if isinstance(output, dict):
        return "classification" if all(torch.is_tensor(v) and v.dim() == 2 for v in output.values()) else None
    if output.dim() == 2:
        return "classification"
    if output.dim() == 4 and output.shape[1] == 1:
        return "segmentation"
    return None


def draw_grid(samples, outputs, names=None, threshold=0.5, normalize=None, layout="CTHW"):
    """(figure, records) for `samples` (dataset items) and their model `outputs` (batch of one each).
    `names(head, k)` gives a classification head's class names."""
    kind = grid_kind(outputs[0])
    if kind is None:
        return None, []
    draw = DRAWERS[kind]
    images = [to_uint8(picture(s["input"], layout), normalize) for s in samples]
    return draw(samples, outputs, images, names=names, threshold=threshold)


def _title(sample, index):
    meta = sample.get("meta") or {}
    for key in ("name", "image_id"):
        if key in meta:
            return str(meta[key])
    return f"#{index}"


def draw_segmentation(samples, outputs, images, threshold=0.5, **_):
    """One row per sample: image | true mask overlay | predicted overlay (pixels >= threshold)."""
    n = len(samples)
    h, w = _fit(images[0]).shape[:2]
    fig, axes = plt.subplots(n, 3, figsize=(3 * 2.6, n * 2.6 * h / w + 0.4), squeeze=False)
    records = []
    for i, (sample, logits, image) in enumerate(zip(samples, outputs, images)):
        prob = torch.sigmoid(logits.float())[0, 0].cpu().numpy()
        pred = prob >= threshold
        target = sample.get("target")
        true = valid = None
        if target is not None:
            t = target.cpu().numpy()
            valid = t != 255  # padding and ignored pixels
            true = (t > 0.5) & valid
        f1 = None
        if true is not None:
            tp, fp, fn = (pred & true).sum(), (pred & ~true & valid).sum(), (~pred & true).sum()
            f1 = 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
        panels = [(image, _title(sample, i)),
                  (overlay(image, true) if true is not None else None, "true"),
                  (overlay(image, pred), "predicted" + (f" (F1 {f1:.2f})" if f1 is not None else ""))]
        for ax, (rgb, title) in zip(axes[i], panels):
            ax.axis("off")
            if rgb is not None:
                ax.imshow(_fit(rgb))
            ax.set_title(title, fontsize=8)
        records.append({"title": _title(sample, i), "f1": f1, "predicted_pixels": int(pred.sum())})
    fig.tight_layout()
    return fig, records


def draw_classification(samples, outputs, images, names=None, **_):
    """Tiles of image + one caption line per head, "head: true / predicted" (red when wrong)."""
    n = len(samples)
    ncols = min(n, 4)
    nrows = math.ceil(n / ncols)
    heads = list(outputs[0]) if isinstance(outputs[0], dict) else [None]
    h, w = _fit(images[0]).shape[:2]
    tile_w = 2.4
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * tile_w, nrows * (tile_w * h / w + 0.2 + 0.17 * len(heads))),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    records = []
    for i, (sample, output, image) in enumerate(zip(samples, outputs, images)):
        ax = axes.flat[i]
        ax.imshow(_fit(image))
        ax.set_title(_title(sample, i), fontsize=7)
        lines = []
        for j, head in enumerate(heads):
            logits = output[head] if head is not None else output
            k = logits.shape[-1]
            label = names(head, k) if names is not None else [str(c) for c in range(k)]
            pred = label[int(logits[0].argmax())]
            true = _true_class(sample.get("target"), head)
            true = label[true] if true is not None else None
            text = (f"{head}: " if head is not None else "") + (f"{true} / {pred}" if true is not None else pred)
            colour = UNKNOWN if true is None else RIGHT if true == pred else WRONG
            ax.annotate(text, (0.5, 0), xycoords="axes fraction", xytext=(0, -3 - 10 * j), textcoords="offset points",
                        ha="center", va="top", fontsize=7, color=colour)
            lines.append({"head": head, "true": true, "predicted": pred, "text": text, "color": colour})
        records.append({"title": _title(sample, i), "lines": lines})
    fig.tight_layout()
    return fig, records


def _true_class(target, head):
    if target is None:
        return None
    t = target[head] if isinstance(target, dict) and head is not None else target
    if isinstance(t, dict):
        return None  # a dict target for a single-output model: nothing to compare with
    t = torch.as_tensor(t)
    return int(t.argmax()) if t.is_floating_point() and t.dim() >= 1 else int(t)


DRAWERS = {"segmentation": draw_segmentation, "classification": draw_classification}


def class_names(metrics, dataset):
    """names(head, k): a head's class names, from the metric that scores it (ClassificationMetrics'
    class_names, matched by key and class count), else the dataset's `classes`, else '0'..'k-1'."""
    def names(head, k):
        for m in getattr(metrics, "metrics", None) or []:
            given = getattr(m, "class_names", None)
            if getattr(m, "key", "") == head and getattr(m, "num_classes", None) == k and given \
                    and given != [str(c) for c in range(k)]:
                return list(given)
        classes = getattr(dataset, "classes", None)
        if head is None and classes is not None and len(classes) == k:
            return list(classes)
        return [str(c) for c in range(k)]

    return names
