"""Pixel metrics for binary segmentation, from counts accumulated over the whole epoch.

Micro metrics (precision, recall, f1, iou, accuracy) come from the epoch's total
tp/fp/fn/tn; `*_per_image` average each image's own F1 / IoU. Pixels equal to
`ignore_index` (padding) are not counted.

Conventions, as scikit-learn's default (`zero_division=0`): a ratio whose denominator is 0
counts as 0. So predicting nothing gives precision 0 (not 1), and an image whose truth and
prediction are both empty scores F1 / IoU 0 (not 1): no convention here rewards a model for
predicting nothing, so a monitor on any of these metrics cannot pick an all-negative model.

`tune_threshold: true` also counts at every threshold of TUNE_GRID and logs `f1_best` (micro F1
at the best of them) and `threshold_best`. The threshold a checkpoint is used at is `decision()`:
`threshold_best` when tuning, else `threshold`; the trainer stores it in the checkpoint, and
test.py, the predictor, the web demo and the export take it from there.
"""
import torch

from base import Metric
from utils.registry import METRICS

# 0.05 ... 0.95, and the tails: a loss weighted for sparse positives (soft F1, a capped pos_weight)
# often scores best above 0.95 or below 0.05
TUNE_GRID = [0.01, 0.02] + [round(0.05 * i, 2) for i in range(1, 20)] + [0.97, 0.98, 0.99]


def _ratio(num, den, zero_division):
    return torch.where(den > 0, num / den.clamp_min(1), torch.full_like(num, zero_division))


@METRICS.register
class BinarySegMetrics(Metric):
    """`thresholds` (optional list) also counts at other thresholds so that
    `best_threshold()` can pick the one with the best F1 (test.py --tune-threshold)."""

    def __init__(self, threshold: float = 0.5, ignore_index=255, per_image: bool = True,
                 zero_division: float = 0.0, thresholds: list = None, tune_threshold: bool = False):
        super().__init__()
        if not 0 < float(threshold) < 1:
            raise ValueError(f"threshold must be between 0 and 1 (exclusive), got {threshold}")
        self.threshold, self.ignore_index = float(threshold), ignore_index
        self.per_image, self.zero_division, self.tune = per_image, zero_division, tune_threshold
        self.thresholds = sorted(set(thresholds or []) | set(TUNE_GRID if tune_threshold else []) | {self.threshold})
        self.add_state("counts", torch.zeros(len(self.thresholds), 4, dtype=torch.float64))  # tp fp fn tn
        self.add_state("image_sums", torch.zeros(3, dtype=torch.float64))  # f1 sum, iou sum, images

    def names(self):
        micro = ["precision", "recall", "f1", "iou", "accuracy"]
        return micro + (["f1_per_image", "iou_per_image"] if self.per_image else []) + \
            (["f1_best", "threshold_best"] if self.tune else [])

    def set_threshold(self, threshold):
        """Report at `threshold` from now on (states are reset)."""
        self.__init__(threshold, self.ignore_index, self.per_image, self.zero_division, self.thresholds, self.tune)

    def set_thresholds(self, thresholds):
        """Also count at each of `thresholds` (states are reset)."""
        self.__init__(self.threshold, self.ignore_index, self.per_image, self.zero_division, thresholds, self.tune)

    @torch.no_grad()
    def update(self, logits, target):
        if logits.dim() == target.dim() + 1:
            logits = logits.squeeze(1)
        prob = torch.sigmoid(logits.float()).flatten(1)
        target = target.flatten(1)
        valid = (target != self.ignore_index if self.ignore_index is not None
                 else torch.ones_like(target, dtype=torch.bool))
        truth = (target == 1) & valid
        counts = self.counts.to(logits.device)
        for i, thr in enumerate(self.thresholds):
            pred = (prob >= thr) & valid
            c = _counts(pred, truth, valid)  # (N, 4) per image
            counts[i] += c.sum(0).double()
            if thr == self.threshold and self.per_image:
                tp, fp, fn = c[:, 0].double(), c[:, 1].double(), c[:, 2].double()
                f1 = _ratio(2 * tp, 2 * tp + fp + fn, self.zero_division)
                iou = _ratio(tp, tp + fp + fn, self.zero_division)
                self.image_sums = self.image_sums.to(logits.device) + torch.stack(
                    [f1.sum(), iou.sum(), torch.tensor(float(len(tp)), device=tp.device, dtype=tp.dtype)])
        self.counts = counts

    def _scores(self, tp, fp, fn, tn):
        z = torch.tensor(self.zero_division, dtype=torch.float64)
        div = lambda a, b: (a / b) if b > 0 else z  # noqa: E731
        return {"precision": div(tp, tp + fp), "recall": div(tp, tp + fn), "f1": div(2 * tp, 2 * tp + fp + fn),
                "iou": div(tp, tp + fp + fn), "accuracy": div(tp + tn, tp + fp + fn + tn)}

    def compute(self):
        tp, fp, fn, tn = self.counts[self.thresholds.index(self.threshold)].cpu()
        out = {k: float(v) for k, v in self._scores(tp, fp, fn, tn).items()}
        if self.per_image:
            f1s, ious, n = self.image_sums.cpu().tolist()
            out["f1_per_image"] = f1s / n if n else float("nan")
            out["iou_per_image"] = ious / n if n else float("nan")
        if self.tune:
            out["threshold_best"], out["f1_best"] = self.best_threshold()
        return out

    def best_threshold(self):
        """(threshold, micro F1) with the best F1 among `thresholds` (the one nearest `threshold` on a tie)."""
        f1 = [float(self._scores(*c.cpu())["f1"]) for c in self.counts]
        i = max(range(len(f1)), key=lambda j: (f1[j], -abs(self.thresholds[j] - self.threshold)))
        return self.thresholds[i], f1[i]

    def decision(self):
        """The threshold this epoch's model should be used at, and why (stored in checkpoints)."""
        if self.tune:
            threshold, f1 = self.best_threshold()
            return {"threshold": threshold, "source": f"best F1 ({f1:.4f}) over thresholds {TUNE_GRID[0]}-"
                                                      f"{TUNE_GRID[-1]} on the validation split"}
        return {"threshold": self.threshold, "source": "the metric's threshold in the config"}


def _counts(pred, truth, valid):
    tp = (pred & truth).sum(1)
    fp = (pred & ~truth).sum(1)
    fn = (~pred & truth).sum(1)
    tn = valid.sum(1) - tp - fp - fn
    return torch.stack([tp, fp, fn, tn], 1)
