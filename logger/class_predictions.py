"""Per-image class predictions from test.py: one CSV row per image, every head's probabilities.

    "test": {"writers": [{"type": "ClassPredictionWriter"}]}

`predictions.csv` columns: path (as the dataset names the image), group (when the data has
groups), then for one label `label` (the true class, when the split is labelled), `prediction`,
`confidence` and `prob_<class>` per class; for a model with heads the same per head, prefixed
`<head>_` (gender_label, gender_prediction, gender_prob_female, ...). The probabilities are
the softmax of what the model (or the TTA inferer) gives. `class_names` are the dataset's
(a list, or {head: list}), filled in from the dataset the run trained on; without them the
classes are named by their ids.

`ensemble_files` averages several such files (folds, models) into one of the same format, as
tools/ensemble.py and tools/kfold.py do.
"""
import csv
from pathlib import Path
from typing import Optional, Union

import numpy as np
import pandas as pd
import torch

from utils.errors import DataError
from utils.registry import WRITERS, takes_classes


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
@takes_classes(class_names="names or head names")
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


def prob_columns(columns):
    """{head (None for one label): [(column, class name), ...]} of a predictions.csv's probability columns."""
    heads = {}
    for c in columns:
        if c.startswith("prob_"):
            heads.setdefault(None, []).append((c, c[len("prob_"):]))
        elif "_prob_" in c:
            head, name = c.split("_prob_", 1)
            heads.setdefault(head, []).append((c, name))
    return heads


def read_predictions(path):
    """A predictions.csv of ClassPredictionWriter, probabilities checked, indexed by path."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataError(f"{path}: cannot read it as CSV: {e}") from e
    heads = prob_columns(df.columns)
    if "path" not in df.columns or not heads:
        raise DataError(f"{path}: not a predictions.csv of ClassPredictionWriter (needs path and prob_* columns)")
    if df["path"].duplicated().any():
        raise DataError(f"{path}: image {df['path'][df['path'].duplicated()].iloc[0]!r} appears twice")
    check_probabilities(df, [c for cols in heads.values() for c, _ in cols], path)
    return df.set_index("path")


def check_probabilities(df, columns, path):
    """`columns` of a CSV read as text made numbers, in place; a cell that is no probability in [0, 1]
    is a DataError naming the file, line and column."""
    for column in columns:
        values = pd.to_numeric(df[column].replace("", np.nan), errors="coerce")
        bad = values.isna() | (values < 0) | (values > 1)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{path} line {i + 2} ({column}): {df[column].iloc[i]!r} is not a probability in [0, 1]")
        df[column] = values


def average_predictions(frames, weights=None, names=None):
    """The weighted mean of predictions tables of the same images, heads and classes, with each head's
    prediction and confidence taken from the mean; true labels are kept where every table agrees."""
    names = names or [f"file {i}" for i in range(len(frames))]
    weights = np.ones(len(frames)) if weights is None else np.asarray(weights, float)
    if len(weights) != len(frames) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"weights: expected {len(frames)} non-negative numbers, got {list(weights)}")
    first, heads = frames[0], prob_columns(frames[0].columns)
    for df, name in zip(frames[1:], names[1:]):
        if set(df.index) != set(first.index):
            only = sorted(set(first.index) ^ set(df.index))[:5]
            raise DataError(f"{name} and {names[0]} hold different images (e.g. {only}); ensemble predictions "
                            "of the same split")
        if prob_columns(df.columns) != heads:
            raise DataError(f"{name} and {names[0]} have other heads or classes; ensemble models of the same labels")
    frames = [df.loc[first.index] for df in frames]
    out = first.copy()
    for head, cols in heads.items():
        columns = [c for c, _ in cols]
        mean = sum(w * df[columns].to_numpy(np.float64) for w, df in zip(weights, frames)) / weights.sum()
        prefix = f"{head}_" if head is not None else ""
        out[columns] = mean
        out[f"{prefix}prediction"] = [cols[i][1] for i in mean.argmax(1)]
        out[f"{prefix}confidence"] = mean.max(1)
        truth = f"{prefix}label"
        if truth in out.columns and not all(df[truth].equals(first[truth]) for df in frames):
            out = out.drop(columns=truth)
    return out.reset_index()


def ensemble_files(files, out_dir, weights=None):
    """`files` (predictions.csv) averaged into <out_dir>/predictions.csv, written whole; returns its path."""
    table = average_predictions([read_predictions(f) for f in files], weights, [str(f) for f in files])
    path = Path(out_dir) / "predictions.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    table.to_csv(tmp, index=False, float_format="%.6g")
    tmp.replace(path)
    return {"predictions": str(path)}
