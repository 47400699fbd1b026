"""Face attributes: mask x gender x age of the competition's data (MaskFaceDataset). A photo gets every head
and the 18 classes (three-head, 18-way or one-head models alike); folds are the dataset's person-grouped
ones; the test split's fold ensemble is also a submission; label errors become a label_fix.csv the
dataset reads."""
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from data_loader.mask_labels import HEADS, head_classes
from data_loader.mask_labels import class_names as face_classes
from logger.class_predictions import prob_columns, read_predictions
from logger.submission import write_submission
from model.face_decode import class_from_heads, probabilities
from utils.config import get_path
from utils.registry import FAMILIES

from .image import ImageFamily

log = logging.getLogger("facetrain")


@FAMILIES.register(name="face")
class FaceFamily(ImageFamily):
    name = "face"
    writer = {"type": "MaskSubmissionWriter"}
    writer_names_data_classes = False  # it names them as the competition does, whatever the age bins

    def outputs(self, predictor, class_names=None):
        if predictor.labels:
            return super().outputs(predictor)
        # a checkpoint written before checkpoints carried their labels: the dataset's target says
        target, heads = predictor.dataset_arg("target"), head_classes(predictor.dataset_arg("age_bins"))
        if target == "heads":
            return list(HEADS), heads
        return ["logits"], {"logits": face_classes() if target == "class" else heads[target]}

    def probabilities(self, predictor, outputs):
        target = predictor.dataset_arg("target")
        return probabilities(outputs, "auto" if target in ("heads", "class") else target)

    def class_names(self, predictor):
        return {**predictor.class_names, "class": face_classes(), **head_classes(predictor.dataset_arg("age_bins"))}

    def files(self, cfg, paths):
        root = Path(get_path(cfg, "data.dataset.args.root", "."))
        return [str(root / "train" / "images" / p) for p in paths]

    def ensemble(self, files, out_dir):
        """The mean of the folds' predictions, and a submission in info.csv's order."""
        paths = super().ensemble(files, out_dir)
        table = read_predictions(paths["predictions"], index=False)
        template = Path(files[0]).parent / "submission.csv"
        paths["submission"] = write_submission(table, Path(out_dir) / "submission.csv",
                                               template if template.is_file() else None)["submission"]
        return paths

    def fixes(self, issues, persons, heads, cfg, out):
        if persons is None:
            return {}
        return {"label_fix": mask_fixes(persons, issues, heads, _dataset_args(cfg), out / "label_fix.csv")}


def joint_from_heads(table):
    """A predictions table (tools/ensemble.py --by heads) with the 18 classes recomputed as the product of
    its averaged mask, gender and age probabilities."""
    cols = prob_columns(table.columns)
    missing = [h for h in HEADS if h not in cols]
    if missing or "class" not in cols:
        raise ValueError(f"--by heads: no file has {missing[0]} probabilities" if missing else
                         "--by heads: the files hold no 18-class probabilities (class_prob_*) to recompute")
    probs = class_from_heads({h: torch.from_numpy(table[[c for c, _ in cols[h]]].to_numpy(np.float64))
                              for h in HEADS}).numpy()
    table = table.copy()
    table[[c for c, _ in cols["class"]]] = probs
    table["class_prediction"] = [cols["class"][i][1] for i in probs.argmax(1)]
    table["class_confidence"] = probs.max(1)
    return table


def _dataset_args(cfg):
    data = cfg.get("data") or {}
    return {**((data.get("dataset") or {}).get("args") or {}), **(((data.get("train") or {}).get("dataset")
                                                                 or {}).get("args") or {})}


def mask_fixes(persons, issues, heads, args, path):
    """The flagged persons in label_fix format: gender, an age in the suggested bin, swapped photos."""
    from data_loader.mask_labels import DEFAULT_AGE_BINS
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
            k = heads["age"].classes.index(r.suggested)
            low, high = ([0] + bins)[k], (bins + [200])[k] - 1
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
