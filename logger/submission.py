"""Face-mask predictions: predictions.csv in the one format of ClassPredictionWriter, and on the eval
split the submission the competition wants.

    "test": {"writers": [{"type": "MaskSubmissionWriter"}]}

`predictions.csv`: path (the ImageID), group (the person, on train data), then the 18 classes as head
`class` (class_prob_wear/male/young, ...) and each head's (mask_*, gender_*, age_*), with the true labels
on a labelled split (e.g. out-of-fold predictions). On the eval split (no labels) `submission.csv` is
info.csv with `ans` (the class id, 0..17) filled: same rows, same order, no index column.
Classes are named 'wear/male/young' (the 18) and per head 'wear', 'male', 'young'.
`output` says what a one-tensor model predicts: "auto" (18 classes), or a head ("age"): a one-head
model writes its head's probabilities only (ensemble them with tools/ensemble.py --by heads).
"""
import logging
from pathlib import Path
from typing import Literal

import pandas as pd

from data_loader.mask_labels import HEAD_NAMES, HEADS, class_names
from model.face_decode import probabilities, target_classes
from utils.errors import DataError
from utils.registry import WRITERS

from .class_predictions import ClassPredictionWriter, prob_columns, write_table

log = logging.getLogger("facetrain")


@WRITERS.register
class MaskSubmissionWriter(ClassPredictionWriter):
    """Classes are named as the competition's labels (mask_labels.py), whatever the age bins: 'wear/male/young',
    ..., and per head 'wear', 'male', 'young', ..., so that models of other age bins ensemble by heads."""

    def __init__(self, out_dir, output: Literal["auto", "class", "mask", "gender", "age"] = "auto",
                 submission: str = "submission.csv", csv_name: str = "predictions.csv"):
        super().__init__(out_dir, None, csv_name)
        self.output, self.submission = output, self.out / submission
        self.answers, self.source, self._heads, self.labelled = [], None, [], False  # answers: (info.csv row, id)

    def names(self, head):
        return class_names() if head == "class" else HEAD_NAMES[head]

    def probabilities(self, outputs):
        probs = probabilities(outputs, self.output)
        self._heads = list(probs)
        return probs

    def targets(self, target, heads):
        if target is None:
            return None
        if isinstance(target, dict):
            return {"class": target_classes(target), **{h: target_classes(target[h]) for h in HEADS}}
        return {next(iter(heads)): target_classes(target)}

    def ids(self, meta, i):
        return {"path": meta["image_id"][i], **({"group": meta["person"][i]} if meta["person"][i] else {})}

    def write(self, batch, outputs):
        super().write(batch, outputs)
        self.source, self.labelled = batch["meta"]["source"][0], batch.get("target") is not None

    def close(self):
        result = super().close()
        if self.rows and not self.labelled and "class" in self._heads:
            result.update(write_submission(pd.DataFrame(self.rows), self.submission, self.source, skipped=True))
        elif self.rows and not self.labelled:
            log.info(f"MaskSubmissionWriter: a one-head ({self._heads[0]}) model makes no 18-class submission; its "
                     f"probabilities are in {self.csv_path} for tools/ensemble.py --by heads")
        return result


def write_submission(table, path, template=None, skipped=False):
    """{"submission": path, "missing": rows without a prediction} of submission.csv made from a predictions
    table with the 18 classes (class_prob_*): the template's rows and columns (info.csv or any submission)
    with `ans` filled, or ImageID,ans in the table's order. A template row the table lacks is an error, or,
    with `skipped` (test.py's images left out by on_error="skip"), keeps its ans and is counted."""
    cols = [c for c, _ in prob_columns(table.columns).get("class", [])]
    if not cols:
        raise ValueError("no 18-class probabilities (class_prob_*) to make a submission from; ensemble a model "
                         "of the three heads or of the 18 classes (--by heads joins a one-head model)")
    ans = pd.Series(table[cols].to_numpy().argmax(1), index=table.iloc[:, 0].astype(str).to_numpy())
    if template is None:
        return {"submission": write_table(pd.DataFrame({"ImageID": ans.index, "ans": ans.to_numpy()}), path),
                "missing": 0}
    try:
        sub = pd.read_csv(template, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataError(f"--template {template}: cannot read it as CSV: {e}") from e
    if "ImageID" not in sub.columns:
        raise DataError(f"{template}: no ImageID column to order the submission by")
    found = sub["ImageID"].isin(ans.index)
    missing = sub.loc[~found, "ImageID"]
    if len(missing) and not skipped:
        raise DataError(f"{len(missing)} ImageID(s) of {template} are not in the predictions, e.g. "
                        f"{missing.head(5).tolist()}")
    if len(missing):
        log.warning(f"{len(missing)} row(s) of {template} have no prediction (their images were skipped) and keep "
                    f"their ans, e.g. {missing.head(5).tolist()}")
    sub["ans"] = sub["ans"] if "ans" in sub.columns else ""
    sub.loc[found, "ans"] = [str(a) for a in ans.loc[sub.loc[found, "ImageID"]]]
    log.info(f"wrote {path}")
    return {"submission": write_table(sub, Path(path)), "missing": len(missing)}
