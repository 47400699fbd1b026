"""Per-image class predictions from test.py: one CSV row per image, every head's probabilities.

    "test": {"writers": [{"type": "ClassPredictionWriter"}]}

`predictions.csv` columns: path (as the dataset names the image), group (when the data has
groups), then for one label `label` (the true class, when the split is labelled), `prediction`,
`confidence` and `prob_<class>` per class; for a model with heads the same per head, prefixed
`<head>_` (gender_label, gender_prediction, gender_prob_female, ...). The probabilities are
the softmax of what the model (or the TTA inferer) gives. `class_names` are the dataset's
(a list, or {head: list}), filled in from the dataset the run trained on; without them the
classes are named by their ids.
"""
import csv
from pathlib import Path
from typing import Optional, Union

import torch

from utils.registry import WRITERS


def class_columns(probs, names=None, target=None, prefix=""):
    """{label, prediction, confidence, prob_<class>} of one sample's class probabilities (a 1-D
    tensor), `target` its true class id or None, each key prefixed by `prefix`."""
    if names is not None and len(names) != len(probs):
        raise ValueError(f"{len(names)} class names {list(names)} for a model output of {len(probs)} classes")
    name = (lambda i: names[i]) if names is not None else str
    pred = int(probs.argmax())
    row = {} if target is None else {f"{prefix}label": name(int(target))}
    row.update({f"{prefix}prediction": name(pred), f"{prefix}confidence": float(probs[pred])})
    row.update({f"{prefix}prob_{name(c)}": float(p) for c, p in enumerate(probs)})
    return row


def write_rows(path, rows, fields):
    """`rows` (dicts) as a CSV at `path`; `fields` heads the file when there are no rows."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else fields)
        writer.writeheader()
        writer.writerows(rows)


@WRITERS.register
class ClassPredictionWriter:
    def __init__(self, out_dir, class_names: Optional[Union[list, dict]] = None, csv_name: str = "predictions.csv"):
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.class_names, self.csv_path, self.rows = class_names, self.out / csv_name, []

    def _names(self, head):
        names = self.class_names
        if isinstance(names, dict):
            if head not in names:
                raise KeyError(f"ClassPredictionWriter: class_names name the heads {sorted(names)}, not {head!r}")
            return names[head]
        if names is not None and head is not None:
            raise ValueError("ClassPredictionWriter: the model has heads; give class_names as {head: [names]}")
        return names

    def write(self, batch, outputs):
        heads = outputs if isinstance(outputs, dict) else {None: outputs}
        targets = batch.get("target")
        probs = {h: torch.softmax(o.float(), dim=-1).cpu() for h, o in heads.items()}
        meta = batch["meta"]
        for i, path in enumerate(meta["path"]):
            row = {"path": path}
            if any(meta.get("group") or ()):
                row["group"] = meta["group"][i]
            for head, p in probs.items():
                target = None if targets is None else (targets[head] if head is not None else targets)[i]
                row.update(class_columns(p[i], self._names(head), target, f"{head}_" if head is not None else ""))
            self.rows.append(row)

    def close(self):
        write_rows(self.csv_path, self.rows, ["path", "prediction", "confidence"])
        return {"written": len(self.rows), "csv": str(self.csv_path)}
