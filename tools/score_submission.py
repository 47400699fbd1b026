"""Score a face-mask submission against the true classes: macro F1 (the competition score),
accuracy, each head's F1, and scikit-learn's per-class report.

    python tools/score_submission.py submission.csv data/samples/mask_faces/eval/answers.csv
    python tools/score_submission.py submission.csv truth.csv --truth-column class_id

Both files are CSVs with an ImageID column; the submission's `ans` is compared with the
truth file's `--truth-column` (default `ans`). Every truth ImageID must be in the submission.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, f1_score

from data_loader.mask_labels import HEADS, NUM_CLASSES, class_names, decode
from data_loader.tables import read_csv
from utils.errors import DataError


def read_labels(path, column):
    """ImageID -> integer class in 0..17 from a CSV; a DataError naming the file and line otherwise."""
    df = read_csv(path, ("ImageID", column), "CSV file")
    labels = pd.to_numeric(df[column], errors="coerce")
    bad = labels.isna() | (labels % 1 != 0) | (labels < 0) | (labels >= NUM_CLASSES)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{path} line {i + 2}: {column} {df[column].iloc[i]!r} is not a class in 0..{NUM_CLASSES - 1}")
    if df["ImageID"].duplicated().any():
        raise DataError(f"{path}: ImageID {df['ImageID'][df['ImageID'].duplicated()].iloc[0]!r} appears twice")
    return pd.Series(labels.astype(int).to_numpy(), index=df["ImageID"])


def score(pred, truth):
    """Scores of `pred` (Series ImageID -> class) against `truth`; the report as a dict."""
    missing = truth.index.difference(pred.index)
    if len(missing):
        raise DataError(f"{len(missing)} ImageID(s) of the truth have no prediction, e.g. {list(missing[:5])}")
    y_true, y_pred = truth.to_numpy(), pred.reindex(truth.index).to_numpy()
    result = {"images": len(y_true), "f1": f1_score(y_true, y_pred, average="macro"),
              "acc": accuracy_score(y_true, y_pred)}
    for head, t, p in zip(HEADS, decode(y_true), decode(y_pred)):
        result[f"{head}_f1"] = f1_score(t, p, average="macro")
        result[f"{head}_acc"] = accuracy_score(t, p)
    result["report"] = classification_report(y_true, y_pred, labels=list(range(NUM_CLASSES)),
                                             target_names=class_names(), zero_division=0)
    extra = pred.index.difference(truth.index)
    result["unscored"] = len(extra)
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description="Score a face-mask submission against a ground-truth CSV.")
    p.add_argument("submission", help="CSV with ImageID and ans")
    p.add_argument("truth", help="CSV with ImageID and the true class")
    p.add_argument("--truth-column", default="ans", help="column of the truth file holding the class")
    p.add_argument("--json", help="also write the scores to this JSON file")
    args = p.parse_args(argv)
    try:
        result = score(read_labels(args.submission, "ans"), read_labels(args.truth, args.truth_column))
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(result["report"])
    print(f"macro F1 {result['f1']:.4f}  accuracy {result['acc']:.4f}  on {result['images']} images  "
          + "  ".join(f"{h} F1 {result[f'{h}_f1']:.4f}" for h in HEADS))
    if result["unscored"]:
        print(f"({result['unscored']} submitted image(s) are not in the truth file and were not scored)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({k: v for k, v in result.items() if k != "report"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
