"""Label errors in segmentation masks, from out-of-fold probability maps, by confident learning (cleanlab).

Suspicious pixels: cleanlab's confident thresholds t_c (the mean out-of-fold probability of class c
over the pixels given c, accumulated over every image by its LabelInspector); a pixel given c whose
probability of the other class d reaches t_d is suspicious: `missed` (given background, confidently
wrinkle) or `spurious` (given wrinkle, confidently background). As in cleanlab's segmentation
filter, a pixel where the model's argmax agrees with the given label is never suspicious.

Image quality, lower = more likely wrong (`method`):
    issues   1 - the fraction of the image's (given or predicted) foreground pixels that are
             suspicious: cleanlab's "num_pixel_issues", counted over the foreground so that thin
             structures on large images are not drowned by background
    softmin  cleanlab.segmentation.rank's per-image softmin of the pixels' self-confidence
"""
import numpy as np
import pandas as pd

from utils.errors import DataError

METHODS = ("issues", "softmin")


def load(row):
    """(given labels (H, W) int 0/1, probabilities (2, H, W)) of one oof_segmentation.csv row."""
    import cv2

    mask = cv2.imread(str(row["mask"]), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise DataError(f"cannot read mask {row['mask']} (listed in oof_segmentation.csv)")
    try:
        prob = np.load(row["probability"]).astype(np.float32)
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read probability map {row['probability']}: {e}") from e
    if prob.shape != mask.shape:
        raise DataError(f"probability map {row['probability']} is {prob.shape} but mask {row['mask']} is "
                        f"{mask.shape}; predict at the masks' size (tools/kfold.py does)")
    return (mask > 0).astype(np.int64), np.stack([1 - prob, prob])


def confident_thresholds(rows, progress=False):
    """Per-class thresholds over all images (cleanlab's streaming LabelInspector)."""
    from cleanlab.experimental.label_issues_batched import LabelInspector

    inspector = LabelInspector(num_class=2, store_results=False, verbose=False)
    for row in _bar(rows, progress, "confident thresholds"):
        labels, probs = load(row)
        inspector.update_confident_thresholds(labels.ravel(), probs.reshape(2, -1).T)
    return np.asarray(inspector.get_confident_thresholds(), np.float32)


def suspicious(labels, probs, thresholds):
    """Boolean map of the pixels whose given label confident learning doubts."""
    above = probs >= thresholds[:, None, None]
    likely = np.where(above, probs, -1).argmax(0)  # the likeliest class that reaches its threshold
    return above.any(0) & (likely != labels) & (probs.argmax(0) != labels)


def quality(labels, probs, doubted, method="issues"):
    if method == "softmin":
        from cleanlab.segmentation.rank import get_label_quality_scores

        return float(get_label_quality_scores(labels[None], probs[None], method="softmin", verbose=False)[0][0])
    foreground = (labels == 1) | (probs.argmax(0) == 1)
    return 1.0 - doubted.sum() / max(int(foreground.sum()), 1)


def score_images(rows, method="issues", progress=False):
    """A row per image (name, file, mask, probability, quality, missed and spurious pixel counts, issue),
    most suspicious first, and the thresholds (for `suspicious`)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    rows = list(rows)
    thresholds = confident_thresholds(rows, progress)
    out = []
    for row in _bar(rows, progress, "scoring masks"):
        labels, probs = load(row)
        doubted = suspicious(labels, probs, thresholds)
        out.append({**{k: row[k] for k in ("name", "image", "mask", "probability")},
                    "quality": quality(labels, probs, doubted, method),
                    "missed": int((doubted & (labels == 0)).sum()), "spurious": int((doubted & (labels == 1)).sum())})
    table = pd.DataFrame(out).rename(columns={"image": "file"})
    table["issue"] = (table["missed"] + table["spurious"]) > 0
    return table.sort_values("quality", kind="stable").reset_index(drop=True), thresholds


def _bar(items, progress, desc):
    if not progress:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="img")
