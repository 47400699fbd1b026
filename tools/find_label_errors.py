"""Find label errors in out-of-fold predictions by confident learning (cleanlab): a ranked list, a
review grid and a fix file the dataset reads, so the loop closes: find -> review -> train again.

    python tools/kfold.py --config configs/mask_multihead_quick.json -o data.dataset.args.label_fix=null
    python tools/find_label_errors.py saved/kfold/mask_multihead_quick/<run_id>
    python train.py --config configs/mask_multihead_quick.json \\
        -o data.dataset.args.label_fix=$PWD/saved/kfold/mask_multihead_quick/<run_id>/label_errors/label_fix.csv

Reads a tools/kfold.py folder (oof_probabilities.csv, oof_predictions.csv or oof_segmentation.csv,
and config.json) or one of those files, and writes to <folder>/label_errors/ (--out):

    issues.csv             every sample and head, most suspicious first: sample, file, [person], head,
                           given, suggested, quality (out-of-fold probability of the given label), issue
                           (confident learning's verdict); segmentation: one row per image
    persons.csv            person-grouped data: every person and head, ranked alike
    review.png             the top --review rows (persons when there are) with given -> suggested
    label_fix.csv          mask data: the flagged persons in MaskFaceDataset's label_fix format
    annotations_fixed.csv  clips: the annotation file (path,label) with the flagged clips relabelled
    suggested_masks/       segmentation: the reviewed images' masks with the doubted pixels flipped

Works for any heads the OOF file has (<head>_<i> probabilities with true_<head>); class names come
from the dataset where it has them.
"""
import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from utils.cli import int_in
from utils.errors import USER_ERRORS, DataError

log = logging.getLogger("facetrain")
OOF_FILES = ("oof_probabilities.csv", "oof_segmentation.csv", "oof_predictions.csv")


def locate(path):
    """(OOF file, the k-fold config or {}) from a k-fold folder or an OOF file."""
    path = Path(path)
    if path.is_dir():
        found = [path / f for f in OOF_FILES if (path / f).is_file()]
        if not found:
            raise DataError(f"{path} holds no out-of-fold predictions ({', '.join(OOF_FILES)}); run tools/kfold.py "
                            "--config <config> first and give its output folder")
        path = found[0]
    elif not path.is_file():
        raise DataError(f"out-of-fold file {path} not found; run tools/kfold.py --config <config> first and give "
                        "its output folder (saved/kfold/<name>/<run_id>)")
    config = path.parent / "config.json"
    return path, json.loads(config.read_text()) if config.is_file() else {}


def class_names(oof):
    """{head: class names} (None: the one label) from the labels.json tools/kfold.py writes beside its OOF
    files, checked against the class names of the prediction columns (oof_predictions.csv) where there are."""
    from logger.class_predictions import prob_columns

    path, predictions = Path(oof).parent / "labels.json", Path(oof).parent / "oof_predictions.csv"
    try:
        labels = json.loads(path.read_text()) if path.is_file() else None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e}); run tools/kfold.py again to write it") from e
    if not labels:
        return None
    names = labels.get("head_classes") or {None: labels.get("classes")}
    columns = prob_columns(pd.read_csv(predictions, nrows=0).columns) if predictions.is_file() else {}
    for head, cols in columns.items():
        if head in names and list(names[head]) != [n for _, n in cols]:
            raise DataError(f"{path} names the classes {list(names[head])}{f' of {head}' if head else ''}, but the "
                            f"predictions in {predictions} are of {[n for _, n in cols]}: labels.json is stale or "
                            "edited, and would misname every class. Rewrite it with those names in that order "
                            "(or run tools/kfold.py again)")
    return names


def dataset_args(cfg):
    return {**((cfg.get("data") or {}).get("dataset") or {}).get("args", {}),
            **(((cfg.get("data") or {}).get("train") or {}).get("dataset") or {}).get("args", {})}


def classification(oof, cfg, out, review):
    from logger.label_review import draw_review
    from utils.label_errors import per_person, rank, ranked, read_oof

    kind = ((cfg.get("data") or {}).get("dataset") or {}).get("type")
    names = class_names(oof)
    if kind == "MaskFaceDataset":
        from data_loader.mask_labels import HEAD_NAMES as names
    table, heads = read_oof(oof, names)
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
    if kind == "MaskFaceDataset" and persons is not None:
        written["label_fix"] = mask_fixes(persons, issues, dataset_args(cfg), out / "label_fix.csv")
    elif "clip" in pd.read_csv(oof, nrows=0).columns:
        written["annotations_fixed"] = clip_fixes(issues, dataset_args(cfg), out / "annotations_fixed.csv")
    log.info(f"{int(issues['issue'].sum())} of {len(issues)} sample labels flagged"
             + (f"; {int(persons['issue'].sum())} of {len(persons)} person labels" if persons is not None else ""))
    return written


def mask_fixes(persons, issues, args, path):
    """The flagged persons in label_fix format: gender, an age in the suggested bin, swapped photos."""
    from data_loader.mask_labels import AGE_NAMES, DEFAULT_AGE_BINS
    from data_loader.tables import read_csv

    ages = {}
    if args.get("root"):
        train = read_csv(Path(args["root"]) / "train" / "train.csv", ("path", "age"), "train.csv")
        ages = dict(zip(train["path"], train["age"].astype(int)))
    bins = list(args.get("age_bins") or DEFAULT_AGE_BINS)
    fixes = {}
    for r in persons[persons["issue"]].itertuples():
        fix = fixes.setdefault(r.person, {"path": r.person, "gender": "", "age": "", "swap": "", "note": []})
        if r.head == "gender":
            fix["gender"] = r.suggested
        elif r.head == "age" and r.person in ages:
            low, high = ([0] + bins)[AGE_NAMES.index(r.suggested)], (bins + [200])[AGE_NAMES.index(r.suggested)] - 1
            fix["age"] = int(np.clip(ages[r.person], low, high))  # the nearest age in that bin: put the real one
        if r.head in ("gender", "age"):
            fix["note"].append(f"{r.head} {r.given} -> {r.suggested} ({r.quality:.3f})")
    flagged = issues[(issues["head"] == "mask") & issues["issue"]]
    for person, photos in flagged.groupby("person"):
        photos = [(Path(f).stem, g, s) for f, g, s in zip(photos["file"], photos["given"], photos["suggested"])]
        pair = next(((a, b) for a, ga, sa in photos for b, gb, sb in photos if a < b and ga == sb and gb == sa), None)
        if pair:
            fix = fixes.setdefault(person, {"path": person, "gender": "", "age": "", "swap": "", "note": []})
            fix["swap"] = ",".join(pair)
            fix["note"].append(f"mask labels of {pair[0]} and {pair[1]} exchanged")
    rows = [{**f, "note": "; ".join(f["note"])} for f in fixes.values() if f["gender"] or f["age"] != "" or f["swap"]]
    pd.DataFrame(rows, columns=["path", "gender", "age", "swap", "note"]).to_csv(path, index=False)
    log.info(f"{len(rows)} person(s) in {path}: review them, then train with -o data.dataset.args.label_fix={path}")
    return path


def clip_fixes(issues, args, path):
    """The clips' annotation file with the flagged clips given the suggested class."""
    import os

    root = args.get("root", ".")
    label = np.where(issues["issue"], issues["suggested"], issues["given"])
    table = pd.DataFrame({"path": [os.path.relpath(f, root) for f in issues["file"]], "label": label})
    table.sort_values("path").to_csv(path, index=False)
    log.info(f"{int(issues['issue'].sum())} clip(s) relabelled in {path}: review it, then train with -o "
             f"data.dataset.args.root={root} data.train.dataset.args.annotation_file={Path(path).resolve()}")
    return path


def segmentation(oof, out, review, method):
    import cv2

    from logger.label_review import draw_segmentation_review, picture
    from utils.segmentation_errors import load, score_images, suspicious

    rows = pd.read_csv(oof, keep_default_na=False)
    missing = {"name", "image", "mask", "probability"} - set(rows.columns)
    if missing:
        raise DataError(f"{oof}: missing column(s) {sorted(missing)}; is it tools/kfold.py's oof_segmentation.csv?")
    table, thresholds = score_images(rows.to_dict("records"), method, progress=True)
    table.insert(2, "head", "segmentation")  # one schema with the classification lists
    table.to_csv(out / "issues.csv", index=False, float_format="%.6g")
    items = []
    for r in table.head(review).to_dict("records"):
        labels, probs = load({**r, "image": r["file"]})
        doubted = suspicious(labels, probs, thresholds)
        suggested = np.where(doubted, 1 - labels, labels).astype(np.uint8) * 255
        (out / "suggested_masks").mkdir(exist_ok=True)
        cv2.imwrite(str(out / "suggested_masks" / Path(r["mask"]).name), suggested)
        items.append((f"{r['name']} (quality {r['quality']:.3f})", picture(r["file"]), labels == 1, doubted))
    return {"issues": out / "issues.csv", "review": draw_segmentation_review(items, out / "review.png"),
            "suggested_masks": out / "suggested_masks"}


def main(argv=None):
    p = argparse.ArgumentParser(description="Find label errors in tools/kfold.py's out-of-fold predictions.")
    p.add_argument("oof", help="a tools/kfold.py output folder, or its oof_*.csv file")
    p.add_argument("--out", help="output folder (default: <k-fold folder>/label_errors)")
    p.add_argument("--review", type=int_in(0), default=24, help="rows drawn in review.png")
    p.add_argument("--method", default="issues", choices=["issues", "softmin"],
                   help="segmentation image score (utils/segmentation_errors.py)")
    args = p.parse_args(argv)
    from logger import setup_logging

    setup_logging()
    try:
        oof, cfg = locate(args.oof)
        out = Path(args.out) if args.out else oof.parent / "label_errors"
        out.mkdir(parents=True, exist_ok=True)
        if oof.name == "oof_segmentation.csv":
            written = segmentation(oof, out, args.review, args.method)
        else:
            written = classification(oof, cfg, out, args.review)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n".join(f"{k}: {v}" for k, v in written.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
