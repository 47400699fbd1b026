"""Label errors in classification data by confident learning (cleanlab) on out-of-fold predictions.

Reads tools/kfold.py's oof_predictions.csv: the one class-prediction format of test.py
(logger/class_predictions.py), per head `<head>_label` and `<head>_prob_<class>` (unprefixed for one
label), plus an id column (clip or path), a file (`file`, else `path`) and, for grouped data, a `group`
(the person). A head whose label never changes within a person (gender, age) is ranked per person on
the mean of that person's probabilities; other heads (mask) per sample, and a person by their worst
sample. `find` writes issues.csv, persons.csv and review.png; a family adds its fix file.
"""
import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from logger.class_predictions import prob_columns
from utils.errors import DataError

log = logging.getLogger("facetrain")
ID_COLUMNS = ("clip", "path", "sample", "id", "file")
FILE_COLUMNS = ("file", "path")
GROUP_COLUMNS = ("person", "group")


@dataclasses.dataclass
class Head:
    name: str
    labels: np.ndarray  # (n,) given label ids
    probs: np.ndarray  # (n, k) out-of-fold probabilities
    classes: list  # names of ids 0..k-1


def class_names(oof):
    """{head: class names} (None: the one label) from the labels.json tools/kfold.py writes beside its OOF
    file, checked against the class names of the OOF file's probability columns."""
    path = Path(oof).parent / "labels.json"
    try:
        labels = json.loads(path.read_text()) if path.is_file() else None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e}); run tools/kfold.py again to write it") from e
    if not labels:
        return None
    names = labels.get("head_classes") or {None: labels.get("classes")}
    for head, cols in prob_columns(pd.read_csv(oof, nrows=0).columns).items():
        if head in names and list(names[head]) != [n for _, n in cols]:
            raise DataError(f"{path} names the classes {list(names[head])}{f' of {head}' if head else ''}, but the "
                            f"predictions in {oof} are of {[n for _, n in cols]}: labels.json is stale or "
                            "edited, and would misname every class. Rewrite it with those names in that order "
                            "(or run tools/kfold.py again)")
    return names


def read_oof(path):
    """(table with sample, file and person columns, {head: Head}) of an out-of-fold predictions file."""
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
    for head, cols in prob_columns(df.columns).items():
        label = f"{head}_label" if head is not None else "label"
        if label in df.columns:
            classes, name = [n for _, n in cols], head or "class"
            heads[name] = Head(name, _ids(df, label, classes, path), _numbers(df, [c for c, _ in cols], path), classes)
    if len(heads) > 1:
        heads.pop("class", None)  # the combination of the other heads (mask x gender x age)
    if not heads:
        raise DataError(f"{path}: no head with both probabilities and given labels (<head>_prob_<class> with "
                        "<head>_label, or prob_<class> with label); predict a labelled split (tools/kfold.py does)")
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


def find(oof, out, review, check_labels=True):
    """Rank every head's labels of `oof` and write issues.csv, persons.csv (grouped data) and review.png into
    `out`; returns ({what: path}, issues, persons or None, {head: Head}). `check_labels`: labels.json must
    name the predictions' classes."""
    from logger.label_review import draw_review

    if check_labels:
        class_names(oof)
    table, heads = read_oof(oof)
    issues = ranked([pd.concat([table, rank(h)], axis=1) for h in heads.values()])
    issues.to_csv(out / "issues.csv", index=False, float_format="%.6g")
    written = {"issues": out / "issues.csv"}
    grouped = [p for p in (per_person(table, h) for h in heads.values()) if p is not None]
    persons = ranked(grouped) if grouped else None
    if persons is not None:
        persons.to_csv(out / "persons.csv", index=False, float_format="%.6g")
        written["persons"] = out / "persons.csv"
    top, key = (issues, "sample") if persons is None else (persons, "person")
    written["review"] = draw_review([{"file": r.file, "title": str(getattr(r, key))[-40:],
                                      "lines": [f"{r.head}: {r.given} -> {r.suggested} ({r.quality:.3f})"]}
                                     for r in top.head(review).itertuples()], out / "review.png")
    log.info(f"{int(issues['issue'].sum())} of {len(issues)} sample labels flagged"
             + (f"; {int(persons['issue'].sum())} of {len(persons)} person labels" if persons is not None else ""))
    return written, issues, persons, heads
