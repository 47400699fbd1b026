"""Average the predictions of several checkpoints, folds or models into one.

    python tools/ensemble.py a/predictions.csv b/predictions.csv [--weights 2 1] --out ensemble/
    python tools/ensemble.py fold0/predictions.csv fold1/predictions.csv --out ensemble/ \\
        --template data/samples/mask_faces/eval/info.csv
    python tools/ensemble.py multihead/predictions.csv age/predictions.csv --by heads --weights 1 2 --out ens/

Inputs are the predictions.csv files test.py writes (logger/class_predictions.py: one format for every
family). Each head is the weighted mean of the files that have it (so an age-only model can join a
three-head model), with its prediction and confidence taken from the mean and its true labels kept where
the files agree: `predictions.csv` of the same format (so ensembles nest). Face-mask predictions (the 18
classes as head `class`) also give `submission.csv`: the template's rows and columns with `ans` filled
(info.csv or any submission), or ImageID,ans in the first file's order. `--by class` (default) takes the
18 classes' mean (every file must have them); `--by heads` recomputes them as the product of the mean
mask, gender and age probabilities.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from logger.class_predictions import average_predictions, prob_columns, read_predictions, write_table
from utils.errors import DataError


def ensemble(files, out, weights=None, by="class", template=None):
    """Average `files` into `out` (predictions.csv, and submission.csv for the 18 face classes); everything
    is checked and made before anything is written, so the files of a folder belong to one ensemble."""
    from families.face import joint_from_heads
    from logger.submission import write_submission

    frames = [read_predictions(f) for f in files]
    with_class = [f for f, df in zip(files, frames) if "class" in prob_columns(df.columns)]
    if by == "class" and with_class and len(with_class) < len(files):
        lacking = next(f for f in files if f not in with_class)
        raise DataError(f"{lacking} has no 18-class probabilities (a one-head model?); use --by heads")
    table = average_predictions(frames, weights, [str(f) for f in files])
    table = joint_from_heads(table) if by == "heads" else table
    out = Path(out)
    tmp = out / ".submission.csv.tmp"
    submission = None
    if with_class or template:
        out.mkdir(parents=True, exist_ok=True)
        submission = write_submission(table, tmp, template)["submission"]  # checked before anything moves
    paths = {"predictions": write_table(table, out / "predictions.csv")}
    if submission:
        Path(submission).replace(out / "submission.csv")
        paths["submission"] = str(out / "submission.csv")
    return paths


def main(argv=None):
    p = argparse.ArgumentParser(description="Average predictions.csv files (test.py's) into one, and a face-mask "
                                "submission.")
    p.add_argument("files", nargs="+", help="predictions.csv files written by test.py")
    p.add_argument("--weights", nargs="+", type=float, help="one weight per file (default: equal)")
    p.add_argument("--by", choices=["class", "heads"], default="class",
                   help="face-mask models: average the 18 classes, or recompute them from each head's mean")
    p.add_argument("--template", help="info.csv (or a submission) giving the submission's rows and order")
    p.add_argument("--out", required=True, help="output folder")
    args = p.parse_args(argv)
    try:
        paths = ensemble(args.files, args.out, args.weights, args.by, args.template)
    except (DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("wrote " + ", ".join(paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
