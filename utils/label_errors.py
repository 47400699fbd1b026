"""Label errors in classification data by confident learning (cleanlab) on out-of-fold predictions.

Reads any out-of-fold table with, per head, probability columns and the given label:

    heads style (tools/kfold.py on MaskFaceDataset; any multi-head data):  <head>_0 .. <head>_{k-1}, true_<head>
    clip style (ClipPredictionWriter):                                     prob_<class name> ..., label

plus an id column (ImageID, clip, sample, id, or the path), a file path (file or path) and, for
person-grouped data, a `person` (or `group`) column. A head whose label never changes within a
person (gender, age) is ranked per person on the mean of that person's probabilities; other heads
(mask) per sample, and a person by their worst sample.
"""
import dataclasses
import re

import numpy as np
import pandas as pd

from .errors import DataError

ID_COLUMNS = ("ImageID", "clip", "sample", "id", "path", "file")
FILE_COLUMNS = ("file", "path")
GROUP_COLUMNS = ("person", "group")


@dataclasses.dataclass
class Head:
    name: str
    labels: np.ndarray  # (n,) given label ids
    probs: np.ndarray  # (n, k) out-of-fold probabilities
    classes: list  # names of ids 0..k-1


def read_oof(path, names=None):
    """(table with sample, file and person columns, {head: Head}); `names` {head: class names} for
    heads style files (key None: the one label's; class ids stand in where none are given)."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataError(f"{path}: cannot read the out-of-fold predictions: {e}") from e
    id_col = next((c for c in ID_COLUMNS if c in df.columns), None)
    if id_col is None or df.empty:
        raise DataError(f"{path}: no sample id column ({'/'.join(ID_COLUMNS)}) or no rows; is it an out-of-fold "
                        "file of tools/kfold.py?")
    table = pd.DataFrame({"sample": df[id_col]})
    table["file"] = df[next((c for c in FILE_COLUMNS if c in df.columns), id_col)]
    group = next((c for c in GROUP_COLUMNS if c in df.columns), None)
    if group:
        table["person"] = df[group]
    heads = {}
    for true in (c for c in df.columns if c.startswith("true_")):
        name = true[len("true_"):]
        cols = sorted((c for c in df.columns if re.fullmatch(f"{re.escape(name)}_\\d+", c)),
                      key=lambda c: int(c.rsplit("_", 1)[1]))
        if cols:
            classes = list((names or {}).get(name) or (names or {}).get(None) or map(str, range(len(cols))))
            if len(classes) != len(cols):
                raise DataError(f"{path}: {len(cols)} probability columns of '{name}' but {len(classes)} class names "
                                f"{classes} (labels.json beside it); the two must come from the same k-fold run")
            heads[name] = Head(name, _ids(df, true, classes, path), _numbers(df, cols, path), classes)
    if len(heads) > 1:
        heads.pop("class", None)  # the combination of the other heads (mask x gender x age)
    if not heads and "label" in df.columns:
        classes = [c[len("prob_"):] for c in df.columns if c.startswith("prob_")]
        unknown = sorted(set(df["label"]) - set(classes))
        if unknown:
            raise DataError(f"{path}: labels {unknown[:5]} have no prob_<class> column")
        probs = _numbers(df, [f"prob_{c}" for c in classes], path)
        heads["class"] = Head("class", _ids(df, "label", classes, path), probs, classes)
    if not heads:
        raise DataError(f"{path}: no head with both probabilities and given labels (<head>_0.. with true_<head>, "
                        "or prob_<class> with label); predict a labelled split (tools/kfold.py does)")
    return table, heads


def _ids(df, column, classes, path):
    """The class ids of a column of ids or class names; anything else is named by line."""
    index = {**{str(i): i for i in range(len(classes))}, **{c: i for i, c in enumerate(classes)}}
    bad = ~df[column].isin(list(index))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{path} line {i + 2} ({column}): {df[column].iloc[i]!r} is neither a class id "
                        f"0..{len(classes) - 1} nor one of the classes {classes}")
    return df[column].map(index).to_numpy()


def _numbers(df, columns, path):
    values = df[columns].apply(pd.to_numeric, errors="coerce")
    if values.isna().to_numpy().any():
        i, j = np.argwhere(values.isna().to_numpy())[0]
        raise DataError(f"{path} line {i + 2} ({columns[j]}): {df[columns[j]].iloc[i]!r} is not a probability")
    return values.to_numpy(float)


def rank(head):
    """Per sample: given, suggested, quality (cleanlab's self-confidence: the out-of-fold probability
    of the given label; low = suspicious) and issue (cleanlab's confident-learning verdict)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    probs = head.probs / head.probs.sum(1, keepdims=True)
    present = np.unique(head.labels)
    issue = np.zeros(len(probs), bool)
    if len(present) > 1:  # confident learning counts per given class: leave out classes nobody was given
        sub = probs[:, present] / probs[:, present].sum(1, keepdims=True)
        issue = find_label_issues(np.searchsorted(present, head.labels), sub)
    return pd.DataFrame({
        "head": head.name, "given": [head.classes[i] for i in head.labels],
        "suggested": [head.classes[i] for i in probs.argmax(1)],
        "quality": get_label_quality_scores(head.labels, probs, method="self_confidence"), "issue": issue})


def per_person(table, head):
    """One row per person: `head` ranked on the person's mean probabilities when its label is the
    person's (constant within each), else the person's worst sample. None without a person column."""
    if "person" not in table.columns:
        return None
    frame = pd.DataFrame({"person": table["person"].to_numpy(), "file": table["file"].to_numpy(),
                          "label": head.labels})
    constant = (frame.groupby("person", sort=False)["label"].nunique() == 1).all()
    if constant:
        persons = pd.unique(frame["person"])
        probs = pd.DataFrame(head.probs).groupby(frame["person"].to_numpy()).mean().loc[persons].to_numpy()
        labels = frame.groupby("person", sort=False)["label"].first().loc[persons].to_numpy()
        rows = rank(Head(head.name, labels, probs, head.classes))
        rows.insert(0, "person", persons)
        rows["file"] = frame.groupby("person", sort=False)["file"].first().loc[persons].to_numpy()
        return rows
    samples = rank(head)
    samples["person"], samples["file"] = frame["person"].to_numpy(), frame["file"].to_numpy()
    worst = samples.sort_values("quality", kind="stable").groupby("person", sort=False).head(1).set_index("person")
    return worst.loc[pd.unique(frame["person"])].reset_index()[["person", *samples.columns.drop("person")]]


def ranked(frames):
    """Rows of every head in one list, most suspicious first: confident-learning issues, then quality."""
    rows = pd.concat(frames, ignore_index=True)
    return rows.sort_values(["issue", "quality"], ascending=[False, True], kind="stable").reset_index(drop=True)
