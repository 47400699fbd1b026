"""Per-sample class predictions from test.py: one CSV format for every classification family.

    "test": {"writers": [{"type": "ClassPredictionWriter"}]}

`predictions.csv`: the sample's ids (`path` as the dataset names it; `group` when the data has
groups; a clip writer puts `clip` first), then per output: `label` (the true class, when the split
is labelled), `prediction`, `confidence` and `prob_<class>` per class, prefixed `<head>_` for a
model with heads (gender_label, gender_prediction, gender_prob_female, ...). The probabilities are
the softmax of what the model (or the TTA / multi-view inferer) gives. `class_names` are the
dataset's (a list, or {head: list}), filled in from the data the run trained on; without them the
classes are named by their ids. A family's writer may turn outputs into probabilities its own way
(`probabilities`): the face-mask writer adds the 18 joint classes as head `class`.

`average_predictions` is the one ensemble: several such tables (folds, models) averaged head by
head into one of the same format (tools/ensemble.py, tools/kfold.py).
"""
import csv
from pathlib import Path
from typing import Optional, Union

import numpy as np
import pandas as pd
import torch

from utils.errors import DataError
from utils.paths import atomic_path
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


@WRITERS.register
@takes_classes(class_names="names or head names")
class ClassPredictionWriter:
    def __init__(self, out_dir, class_names: Optional[Union[list, dict]] = None, csv_name: str = "predictions.csv"):
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.class_names, self.csv_path, self.rows = class_names, self.out / csv_name, []

    def names(self, head):
        """The class names of output `head` (None: the one output)."""
        names = self.class_names
        if isinstance(names, dict):
            if head not in names:
                raise KeyError(f"{type(self).__name__}: class_names name the heads {sorted(names)}, not {head!r}")
            return names[head]
        if names is not None and head is not None:
            raise ValueError(f"{type(self).__name__}: the model has heads; give class_names as {{head: [names]}}")
        return names

    def probabilities(self, outputs):
        """{head (None for one output): (N, classes) probabilities} of a batch's outputs."""
        heads = outputs if isinstance(outputs, dict) else {None: outputs}
        return {h: torch.softmax(o.float(), dim=-1) for h, o in heads.items()}

    def targets(self, target, heads):
        """{head: (N,) true class ids} of a batch's targets, or None for an unlabelled split."""
        if target is None:
            return None
        return {h: target[h] if h is not None else target for h in heads}

    def ids(self, meta, i):
        """The columns that name sample `i` of a batch."""
        row = {"path": meta["path"][i]}
        if any(meta.get("group") or ()):
            row["group"] = meta["group"][i]
        return row

    def write(self, batch, outputs):
        probs = {h: p.cpu() for h, p in self.probabilities(outputs).items()}
        truth = self.targets(batch.get("target"), probs)
        meta = batch["meta"]
        for i in range(len(next(iter(probs.values())))):
            row = self.ids(meta, i)
            for head, p in probs.items():
                target = None if truth is None or head not in truth else truth[head][i]
                try:
                    row.update(class_columns(p[i], self.names(head), target, f"{head}_" if head is not None else ""))
                except ValueError as e:
                    raise ValueError(f"{type(self).__name__}: {e}") from e
            self.rows.append(row)

    def close(self):
        with open(self.csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(self.rows[0]) if self.rows else ["path", "prediction"])
            writer.writeheader()
            writer.writerows(self.rows)
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


def read_predictions(path, index=True):
    """A predictions.csv, probabilities checked (each a number in [0, 1], else a DataError naming the file,
    line and column), indexed by its first column (the sample id) unless `index` is False."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataError(f"{path}: cannot read it as CSV: {e}") from e
    heads = prob_columns(df.columns)
    if df.columns.empty or not heads:
        raise DataError(f"{path}: not a predictions.csv of test.py (needs a sample id and prob_* columns)")
    key = df.columns[0]
    if df[key].duplicated().any():
        raise DataError(f"{path}: {key} {df[key][df[key].duplicated()].iloc[0]!r} appears twice")
    for column in (c for cols in heads.values() for c, _ in cols):
        values = pd.to_numeric(df[column].replace("", np.nan), errors="coerce")
        bad = values.isna() | (values < 0) | (values > 1)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{path} line {i + 2} ({column}): {df[column].iloc[i]!r} is not a probability in [0, 1]")
        df[column] = values
    return df.set_index(key) if index else df


def average_predictions(frames, weights=None, names=None):
    """The weighted mean of predictions tables of the same samples, head by head over the tables that have
    the head (so a model of one head joins a model of several); each head's prediction and confidence are
    taken from the mean, its true labels kept where every table that has it agrees."""
    names = names or [f"file {i}" for i in range(len(frames))]
    weights = np.ones(len(frames)) if weights is None else np.asarray(weights, float)
    if len(weights) != len(frames) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"weights: expected {len(frames)} non-negative numbers, got {list(weights)}")
    first = frames[0]
    for df, name in zip(frames[1:], names[1:]):
        if set(df.index) != set(first.index):
            only = sorted(set(first.index) ^ set(df.index))[:5]
            raise DataError(f"{name} and {names[0]} hold different samples (e.g. {only}); ensemble predictions "
                            "of the same split")
    frames = [df.loc[first.index] for df in frames]
    heads = {}
    for df, name in zip(frames, names):
        for head, cols in prob_columns(df.columns).items():
            if heads.setdefault(head, cols) != cols:
                raise DataError(f"{name} names other classes of {head or 'its output'} than {names[0]}; ensemble "
                                "models of the same labels")
    taken = {f"{h}_{c}" if h is not None else c for h in heads for c in ("label", "prediction", "confidence")}
    out = first[[c for c in first.columns if c not in taken and not any(c in dict(v) for v in heads.values())]]
    out = out.copy()
    for head, cols in heads.items():
        have = [i for i, df in enumerate(frames) if cols[0][0] in df.columns]
        if weights[have].sum() <= 0:
            raise ValueError(f"weights: the files with {head or 'the output'}'s probabilities all weigh 0")
        columns, prefix = [c for c, _ in cols], f"{head}_" if head is not None else ""
        mean = sum(weights[i] * frames[i][columns].to_numpy(np.float64) for i in have) / weights[have].sum()
        labels = [frames[i][f"{prefix}label"] for i in have if f"{prefix}label" in frames[i].columns]
        if len(labels) == len(have) and all(t.equals(labels[0]) for t in labels):
            out[f"{prefix}label"] = labels[0]
        out[f"{prefix}prediction"] = [cols[i][1] for i in mean.argmax(1)]
        out[f"{prefix}confidence"] = mean.max(1)
        out[columns] = mean
    return out.reset_index()


def write_table(table, path):
    """`table` as a CSV at `path`, written whole (a temporary file renamed); returns the path as text."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    return str(path)


def ensemble_files(files, out_dir, weights=None):
    """`files` (predictions.csv) averaged into <out_dir>/predictions.csv; returns {"predictions": its path}."""
    table = average_predictions([read_predictions(f) for f in files], weights, [str(f) for f in files])
    return {"predictions": write_table(table, Path(out_dir) / "predictions.csv")}
