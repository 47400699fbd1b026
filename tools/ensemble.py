"""Average the probability files of several checkpoints, folds or models into one submission.

    python tools/ensemble.py fold0/probabilities.csv fold1/probabilities.csv --out ensemble/ \
        --template data/samples/mask_faces/eval/info.csv
    python tools/ensemble.py multihead/probabilities.csv age/probabilities.csv --by heads --weights 1 2 --out ens/

Inputs are the probabilities.csv files test.py writes (MaskSubmissionWriter). `--by class`
(default) takes the weighted mean of the 18 class probabilities; `--by heads` averages each
head over the files that have it (so an age-only model can join a three-head model) and
multiplies the heads into the 18 classes. Writes probabilities.csv (so ensembles nest) and
submission.csv: the template's rows and columns with `ans` filled (info.csv or any
submission), or ImageID,ans in the first file's order. Files with true labels (out-of-fold
predictions) also give predictions.csv (ImageID, ans, target) for tools/score_submission.py.

The predictions.csv files of ClassPredictionWriter (image tables, any heads) are averaged head by
head into one predictions.csv of the same format (--weights apply; --by and --template do not).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import torch

from data_loader.mask_labels import HEADS, NUM_CLASSES
from logger.class_predictions import check_probabilities, ensemble_files, prob_columns
from model.face_decode import class_from_heads, heads_from_class
from utils.errors import DataError

GROUPS = {"class": NUM_CLASSES, **HEADS}


def columns(group):
    return [f"{group}_{i}" for i in range(GROUPS[group])]


def read_probabilities(path):
    """A probabilities.csv indexed by ImageID."""
    try:
        df = pd.read_csv(path, dtype={"ImageID": str}, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataError(f"{path}: cannot read it as CSV: {e}") from e
    if "ImageID" not in df.columns or not any(set(columns(g)) <= set(df.columns) for g in GROUPS):
        raise DataError(f"{path}: not a probabilities file (needs ImageID and class_*/mask_*/gender_*/age_* columns)")
    if df["ImageID"].duplicated().any():
        raise DataError(f"{path}: ImageID {df['ImageID'][df['ImageID'].duplicated()].iloc[0]!r} appears twice")
    check_probabilities(df, [c for g in GROUPS for c in columns(g) if c in df.columns], path)
    return df.set_index("ImageID")


def align(frames, names):
    """Every file must hold the same images; rows follow the first file."""
    ids = frames[0].index
    for df, name in zip(frames[1:], names[1:]):
        if set(df.index) != set(ids):
            only = sorted(set(ids) ^ set(df.index))[:5]
            raise DataError(f"{name} and {names[0]} hold different images (e.g. {only}); ensemble predictions "
                            "of the same split")
    return [df.loc[ids] for df in frames]


def average(frames, weights=None, by="class", names=None):
    """Weighted mean probabilities as a DataFrame with class_* and every head's columns."""
    names = names or [f"file {i}" for i in range(len(frames))]
    weights = np.ones(len(frames)) if weights is None else np.asarray(weights, float)
    if len(weights) != len(frames) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"weights: expected {len(frames)} non-negative numbers, got {list(weights)}")
    frames = align(frames, names)

    def mean(group):
        have = [i for i, df in enumerate(frames) if set(columns(group)) <= set(df.columns)]
        if not have or weights[have].sum() <= 0:
            return None
        total = sum(weights[i] * frames[i][columns(group)].to_numpy(np.float64) for i in have)
        return torch.from_numpy(total / weights[have].sum())

    if by == "class":
        lacking = [n for df, n in zip(frames, names) if not set(columns("class")) <= set(df.columns)]
        if lacking:
            raise DataError(f"{lacking[0]} has no class_* probabilities (a one-head model?); use --by heads")
        probs = mean("class")
        heads = heads_from_class(probs)
    elif by == "heads":
        heads = {}
        for head in HEADS:
            heads[head] = mean(head)
            if heads[head] is None:
                raise DataError(f"no file has {head} probabilities; an ensemble by heads needs every head")
        probs = class_from_heads(heads)
    else:
        raise ValueError(f"by must be 'class' or 'heads', got {by!r}")
    out = pd.DataFrame(probs.numpy(), index=frames[0].index, columns=columns("class"))
    for head, p in heads.items():
        out[columns(head)] = p.numpy()
    truth = [c for c in frames[0].columns if c.startswith("true_")]
    if truth and all(set(truth) <= set(df.columns) and df[truth].equals(frames[0][truth]) for df in frames):
        out[truth] = frames[0][truth]
    return out


def write_outputs(avg, out_dir, template=None):
    """probabilities.csv, submission.csv and (with true labels) predictions.csv; returns their paths.
    Everything is checked and made before anything is written, and each file is replaced whole, so
    the files of a folder always belong to one ensemble (a stale predictions.csv is removed)."""
    out_dir = Path(out_dir)
    paths = {"probabilities": out_dir / "probabilities.csv", "submission": out_dir / "submission.csv"}
    ans = pd.Series(avg[columns("class")].to_numpy().argmax(1), index=avg.index)
    if template is not None:
        try:
            sub = pd.read_csv(template, dtype=str, keep_default_na=False)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
            raise DataError(f"--template {template}: cannot read it as CSV: {e}") from e
        if "ImageID" not in sub.columns:
            raise DataError(f"{template}: no ImageID column to order the submission by")
        missing = sub.loc[~sub["ImageID"].isin(ans.index), "ImageID"]
        if len(missing):
            raise DataError(f"{len(missing)} ImageID(s) of {template} are not in the probabilities, e.g. "
                            f"{missing.head(5).tolist()}")
        sub["ans"] = ans.loc[sub["ImageID"]].to_numpy()
    else:
        sub = pd.DataFrame({"ImageID": ans.index, "ans": ans.to_numpy()})
    tables = {"probabilities": (avg.reset_index(), {"float_format": "%.6g"}), "submission": (sub, {})}
    if "true_class" in avg.columns:
        paths["predictions"] = out_dir / "predictions.csv"
        tables["predictions"] = (pd.DataFrame({"ImageID": avg.index, "ans": ans.to_numpy(),
                                               "target": avg["true_class"].to_numpy()}), {})
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, (table, kwargs) in tables.items():
        tmp = paths[name].with_name(f".{paths[name].name}.tmp")
        table.to_csv(tmp, index=False, **kwargs)
        tmp.replace(paths[name])
    if "predictions" not in paths:
        (out_dir / "predictions.csv").unlink(missing_ok=True)  # an earlier ensemble's, of other files
    return {k: str(v) for k, v in paths.items()}


def is_class_predictions(path):
    """True for a predictions.csv of ClassPredictionWriter (path and prob_* columns, no ImageID)."""
    try:
        header = pd.read_csv(path, nrows=0).columns
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return False  # read_probabilities names the problem
    return "path" in header and "ImageID" not in header and bool(prob_columns(header))


def main(argv=None):
    p = argparse.ArgumentParser(description="Average probabilities.csv files into one submission, or "
                                "predictions.csv files (image tables) into one.")
    p.add_argument("files", nargs="+", help="probabilities.csv (or predictions.csv) files written by test.py")
    p.add_argument("--weights", nargs="+", type=float, help="one weight per file (default: equal)")
    p.add_argument("--by", choices=["class", "heads"], default="class",
                   help="average the 18 class probabilities, or each head over the files that have it")
    p.add_argument("--template", help="info.csv (or a submission) giving the submission's rows and order")
    p.add_argument("--out", required=True, help="output folder")
    args = p.parse_args(argv)
    try:
        if is_class_predictions(args.files[0]):  # ClassPredictionWriter's files (image tables)
            if args.template:
                raise DataError("--template orders a face-mask submission; predictions.csv files keep their rows")
            paths = ensemble_files(args.files, args.out, args.weights)
            print("wrote " + ", ".join(paths.values()))
            return 0
        frames = [read_probabilities(f) for f in args.files]
        avg = average(frames, args.weights, args.by, names=args.files)
        paths = write_outputs(avg, args.out, args.template)
    except (DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("wrote " + ", ".join(paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
