"""Accuracy and macro F1 over the 18 face-mask classes (the competition score).

    "metrics": [{"type": "FaceAttributeMetrics"},                      # acc, f1 over 18 classes
                {"type": "ClassificationMetrics", "args": {"num_classes": 3, "key": "mask"}}, ...]

A three-head model's prediction is decoded to the 18 classes (mask*6 + gender*3 + age of
the heads' argmaxes); an 18-way model is scored as it is. With `heads: true` the metric
also reports each head's accuracy and F1 (mask_acc, mask_f1, ...) from the 18-class
confusion matrix, which gives an 18-way model per-head scores; for a three-head model these
equal ClassificationMetrics on each head. Confusion matrices are saved as artifacts.
"""
import torch

from data_loader.mask_labels import HEAD_NAMES, HEADS, NUM_CLASSES, class_names
from model.face_decode import class_scores, target_classes
from utils.registry import METRICS

from .classification import ClassificationMetrics


@METRICS.register
class FaceAttributeMetrics(ClassificationMetrics):
    def __init__(self, heads: bool = False):
        super().__init__(num_classes=NUM_CLASSES, class_names=class_names())
        self.heads = heads

    def names(self):
        return super().names() + ([f"{h}_{n}" for h in HEADS for n in ("acc", "f1")] if self.heads else [])

    @torch.no_grad()
    def update(self, outputs, targets):
        super().update(class_scores(outputs), target_classes(targets))

    def _head_metrics(self):
        """Per-head confusion matrices, summed out of the 18-class one (true x predicted)."""
        cm = self.confusion.cpu().view(3, 2, 3, 3, 2, 3)
        out = {}
        for i, head in enumerate(HEADS):
            keep = [d for d in range(3) if d != i]
            matrix = cm.sum(dim=(*keep, *(d + 3 for d in keep)))
            metric = ClassificationMetrics(HEADS[head], key=head, class_names=HEAD_NAMES[head])
            metric.confusion = matrix
            out[head] = metric
        return out

    def compute(self):
        result = super().compute()
        if self.heads:
            for metric in self._head_metrics().values():
                result.update(metric.compute())
        return result

    def artifacts(self):
        out = super().artifacts()
        if self.heads:
            for metric in self._head_metrics().values():
                out.update(metric.artifacts())
        return out
