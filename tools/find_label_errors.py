"""Find label errors in out-of-fold predictions by confident learning (cleanlab): a ranked list, a
review grid and a fix file the dataset reads, so the loop closes: find -> review -> train again.

    python tools/kfold.py --config configs/mask_multihead_quick.json -o data.dataset.args.label_fix=null
    python tools/find_label_errors.py saved/kfold/mask_multihead_quick/<run_id>
    python train.py --config configs/mask_multihead_quick.json \\
        -o data.dataset.args.label_fix=$PWD/saved/kfold/mask_multihead_quick/<run_id>/label_errors/label_fix.csv

Reads a tools/kfold.py folder (oof_predictions.csv or oof_segmentation.csv, and config.json) or one of
those files, and writes to <folder>/label_errors/ (--out) what the data's family analyses (families/):

    issues.csv             every sample and head, most suspicious first: sample, file, [person], head,
                           given, suggested, quality (out-of-fold probability of the given label), issue
                           (confident learning's verdict); segmentation: one row per image
    persons.csv            grouped data: every person (group) and head, ranked alike
    review.png             the top --review rows (persons when there are) with given -> suggested
    label_fix.csv          face data: the flagged persons in MaskFaceDataset's label_fix format
    annotations_fixed.csv  clips: the annotation file (path,label) with the flagged clips relabelled
    suggested_masks/       segmentation: the reviewed images' masks with the doubted pixels flipped

Works for any heads the OOF file has; class names are those the folds were trained on (labels.json).
"""
import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utils.cli import int_in
from utils.errors import USER_ERRORS, DataError

log = logging.getLogger("facetrain")


def locate(path):
    """(OOF file, the k-fold config or {}) from a k-fold folder or an OOF file."""
    from families.base import oof_families

    path, names = Path(path), list(oof_families())
    if path.is_dir():
        found = [path / f for f in names if (path / f).is_file()]
        if not found:
            raise DataError(f"{path} holds no out-of-fold predictions ({', '.join(names)}); run tools/kfold.py "
                            "--config <config> first and give its output folder")
        path = found[0]
    elif not path.is_file():
        raise DataError(f"out-of-fold file {path} not found; run tools/kfold.py --config <config> first and give "
                        "its output folder (saved/kfold/<name>/<run_id>)")
    config = path.parent / "config.json"
    return path, json.loads(config.read_text()) if config.is_file() else {}


def family_for(oof, cfg):
    """The family of the k-fold run's data (its config), else the one an OOF file alone tells."""
    from families import family_of
    from families.base import oof_families
    from trainer.build import import_modules
    from utils.registry import import_builtins

    import_builtins()
    if cfg.get("data"):
        import_modules(cfg)  # a config's own components (and families) register themselves
        labels = oof.parent / "labels.json"
        return family_of(cfg, json.loads(labels.read_text()) if labels.is_file() else None)
    families = oof_families()
    if oof.name not in families:
        raise DataError(f"{oof}: no config.json beside it, and no task family writes a k-fold file of that name "
                        f"({', '.join(families)}); give a tools/kfold.py output folder")
    return families[oof.name]


def main(argv=None):
    p = argparse.ArgumentParser(description="Find label errors in tools/kfold.py's out-of-fold predictions.")
    p.add_argument("oof", help="a tools/kfold.py output folder, or its oof_*.csv file")
    p.add_argument("--out", help="output folder (default: <k-fold folder>/label_errors)")
    p.add_argument("--review", type=int_in(0), default=24, help="rows drawn in review.png")
    p.add_argument("--method", default="issues", choices=["issues", "softmin"],
                   help="segmentation image score (families/segmentation_errors.py)")
    args = p.parse_args(argv)
    from logger import setup_logging

    setup_logging()
    try:
        oof, cfg = locate(args.oof)
        out = Path(args.out) if args.out else oof.parent / "label_errors"
        out.mkdir(parents=True, exist_ok=True)
        written = family_for(oof, cfg).find_label_errors(oof, cfg, out, args.review, args.method)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n".join(f"{k}: {v}" for k, v in written.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
