"""Multi-class metrics from a confusion matrix accumulated over the epoch.

    "metrics": [{"type": "ClassificationMetrics", "args": {"num_classes": 18}},
                {"type": "ClassificationMetrics", "args": {"num_classes": 3, "key": "mask"}}]

`key` picks one head when the model returns a dict (and the target is a dict). Macro F1
follows scikit-learn: classes that neither occur nor are predicted are left out of the mean.
The confusion matrix is also an artifact: the trainer saves it as CSV and a TensorBoard figure.
"""
from typing import Optional

import torch

from base import Metric
from utils.registry import METRICS, takes_classes
from utils.targets import class_index


@METRICS.register
@takes_classes(num_classes="count", class_names="names")
class ClassificationMetrics(Metric):
    def __init__(self, num_classes: int, key: Optional[str] = None, class_names: Optional[list] = None,
                 ignore_index: int = -100):
        super().__init__()
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"class_names has {len(class_names)} names for {num_classes} classes")
        self.num_classes, self.key, self.ignore_index = num_classes, key, ignore_index
        self.class_names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
        self.prefix = f"{key}_" if key else ""
        self.add_state("confusion", torch.zeros(num_classes, num_classes, dtype=torch.float64))  # true x pred

    def names(self):
        return [f"{self.prefix}acc", f"{self.prefix}f1"]

    def _pick(self, x):
        if isinstance(x, dict):
            if self.key is None:
                raise KeyError(f"the model returns a dict {sorted(x)}: give this metric a 'key'")
            return x[self.key]
        return x

    @torch.no_grad()
    def update(self, outputs, targets):
        logits = self._pick(outputs)
        target = class_index(self._pick(targets), logits)
        keep = target != self.ignore_index
        pred = logits.argmax(-1)[keep]
        target = target[keep]
        counts = torch.bincount(target * self.num_classes + pred, minlength=self.num_classes ** 2)
        self.confusion = self.confusion.to(logits.device) + counts.view(self.num_classes, self.num_classes).double()

    def compute(self):
        cm = self.confusion.cpu()
        tp = cm.diag()
        support, predicted = cm.sum(1), cm.sum(0)
        present = (support + predicted) > 0
        f1 = torch.where(present, 2 * tp / (support + predicted).clamp_min(1), torch.zeros_like(tp))
        total = cm.sum()
        return {f"{self.prefix}acc": float(tp.sum() / total) if total else float("nan"),
                f"{self.prefix}f1": float(f1[present].mean()) if present.any() else float("nan")}

    def artifacts(self):
        return {f"{self.prefix}confusion_matrix": (self.confusion.cpu().long().numpy(), self.class_names)}
