"""How tools/kfold.py cuts each kind of dataset into folds, and gathers what is predicted out of fold.

Every labelled sample outside the test split (train and val together) is held out exactly once:

    MaskFaceDataset   its own person-grouped folds (`fold`, `n_folds`, the folds file)
                      -> oof_probabilities.csv (ImageID, person, file, class_*/head_* probabilities, true_*)
    VideoDataset      stratified folds of the clips, written as annotation files (path,label)
                      -> oof_predictions.csv (clip, path, label, prediction, prob_<class>, fold)
    WrinkleDataset    folds of the images, each fold a data root of links to the images and masks
                      -> oof_segmentation.csv (name, image, mask, probability: a .npy map, fold)
    ImageTableDataset its own group folds of the train and val rows (`fold`, `n_folds`, the folds file)
                      -> oof_predictions.csv (path, group, per head label, prediction, prob_<class>, fold)
                         and oof_probabilities.csv (sample, file, person, <head>_<i>, true_<head>)

The OOF files carry the given labels (apply no label_fix when hunting label errors).
"""
import copy
import inspect
import logging
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold

from utils.config import get_path, set_path
from utils.errors import ConfigError, DataError, EmptySplitError

log = logging.getLogger("facetrain")


def fold_plan(cfg, out_dir, n_folds=None, seed=None):
    """The plan for the config's dataset type."""
    kind = get_path(cfg, "data.dataset.type") or get_path(cfg, "data.train.dataset.type")
    plans = {"MaskFaceDataset": MaskFolds, "VideoDataset": ClipFolds, "WrinkleDataset": SegmentationFolds,
             "ImageTableDataset": TableFolds}
    if kind not in plans:
        raise ConfigError(f"data.dataset.type: k-fold knows {sorted(plans)}, not {kind!r}")
    return plans[kind](cfg, Path(out_dir), n_folds, seed)


def has_samples(cfg, split):
    """False when the data has no `split`: an optional split (test) the config declares but the data lacks."""
    from trainer.build import build_dataset

    try:
        build_dataset(_with_args(cfg, split, check_images=False), split)
    except EmptySplitError as e:
        log.warning(f"{e.args[0].split(';')[0]}: k-fold skips the test split and its fold ensemble")
        return False
    return True


def _pool(cfg):
    """The labelled samples of train and val, each built as the config says (no transform)."""
    from trainer.build import build_dataset

    return [build_dataset(cfg, s) for s in ("train", "val") if s in cfg["data"]]


def _split(labels, n, seed, stratify):
    if len(labels) < n:
        raise DataError(f"{n} folds need at least {n} samples; the data has {len(labels)}")
    splitter = StratifiedKFold(n, shuffle=True, random_state=seed) if stratify else KFold(n, shuffle=True,
                                                                                          random_state=seed)
    fold = np.zeros(len(labels), int)
    with warnings.catch_warnings():  # a class smaller than n just cannot be in every fold
        warnings.simplefilter("ignore", UserWarning)
        for k, (_, held) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
            fold[held] = k
    return fold


class MaskFolds:
    writer = {"type": "MaskSubmissionWriter"}
    predictions = "probabilities.csv"
    test = True  # fold models also predict the test split, averaged into an ensemble submission

    def __init__(self, cfg, out_dir, n_folds, seed):
        self.cfg = copy.deepcopy(cfg)
        for key, value in (("n_folds", n_folds), ("split_seed", seed)):  # the dataset's own folds, seeded
            if value is not None:
                set_path(self.cfg, f"data.dataset.args.{key}", value)
        params = inspect.signature(self.dataset()).parameters
        self.n = get_path(self.cfg, "data.dataset.args.n_folds", params["n_folds"].default)
        self.seed = get_path(self.cfg, "data.dataset.args.split_seed", params["split_seed"].default)

    @staticmethod
    def dataset():
        from data_loader.mask_faces import MaskFaceDataset

        return MaskFaceDataset

    def config(self, k):
        cfg = copy.deepcopy(self.cfg)
        set_path(cfg, "data.dataset.args.fold", k)
        return cfg

    def collect(self, files, out_dir):
        from tools.ensemble import columns
        from tools.score_submission import score
        from trainer.build import build_dataset

        oof = pd.concat([pd.read_csv(p, dtype={"ImageID": str}, keep_default_na=False) for p in files.values()],
                        ignore_index=True)
        if oof["ImageID"].duplicated().any():
            twice = oof["ImageID"][oof["ImageID"].duplicated()].iloc[0]
            raise DataError(f"image {twice} is in two folds' held-out sets; the folds file overlaps")
        everyone = build_dataset(_with_args(self.cfg, "train", split="all", check_images=False), "train")
        where = {i: (person, str(path)) for i, person, path in zip(everyone.image_ids, everyone.persons,
                                                                      everyone.paths)}
        oof.insert(1, "person", [where[i][0] for i in oof["ImageID"]])
        oof.insert(2, "file", [where[i][1] for i in oof["ImageID"]])
        oof.to_csv(out_dir / "oof_probabilities.csv", index=False, float_format="%.6g")
        out = {"oof_probabilities": str(out_dir / "oof_probabilities.csv")}
        if "class_0" in oof.columns and "true_class" in oof.columns:
            pred = oof[columns("class")].to_numpy().argmax(1)
            table = pd.DataFrame({"ImageID": oof["ImageID"], "ans": pred, "target": oof["true_class"]})
            table.to_csv(out_dir / "oof_predictions.csv", index=False)
            scores = score(table.set_index("ImageID")["ans"], table.set_index("ImageID")["target"])
            out["oof"] = {k: v for k, v in scores.items() if k != "report"}
            out["oof_predictions"] = str(out_dir / "oof_predictions.csv")
        return out


class TableFolds(MaskFolds):
    """Image tables fold themselves as the mask data does (by group, saved folds file); the fold
    models also predict the test split, averaged into ensemble/predictions.csv."""
    predictions = "predictions.csv"

    def __init__(self, cfg, out_dir, n_folds, seed):
        from trainer.build import build_dataset

        super().__init__(cfg, out_dir, n_folds, seed)
        data = build_dataset(_with_args(self.cfg, "train", check_images=False), "train")
        self.names = data.head_classes or data.classes  # the predictions' columns, named as the data names them
        self.writer = {"type": "ClassPredictionWriter", "args": {"class_names": self.names}}

    @staticmethod
    def dataset():
        from data_loader.image_table import ImageTableDataset

        return ImageTableDataset

    def config(self, k):
        cfg = super().config(k)
        for w in get_path(cfg, "test.writers") or []:
            if isinstance(w, dict) and w.get("type") == self.writer["type"]:
                w.setdefault("args", {}).setdefault("class_names", self.names)
        return cfg

    def collect(self, files, out_dir):
        from sklearn.metrics import accuracy_score, f1_score

        from logger.class_predictions import prob_columns

        oof = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False).assign(fold=k) for k, p in files.items()],
                        ignore_index=True)
        if oof["path"].duplicated().any():
            raise DataError(f"image {oof['path'][oof['path'].duplicated()].iloc[0]} is in two folds' held-out sets; "
                            "the folds file overlaps")
        oof.to_csv(out_dir / "oof_predictions.csv", index=False)
        root = Path(get_path(self.cfg, "data.dataset.args.root", "."))
        ids = pd.DataFrame({"sample": oof["path"], "file": [str(root / p) for p in oof["path"]]})
        if "group" in oof.columns:
            ids["person"] = oof["group"]  # find_label_errors ranks a group's labels together
        target = get_path(self.cfg, "data.dataset.args.target", "label")
        scores, columns = {}, [ids]
        for head, cols in prob_columns(oof.columns).items():
            prefix = f"{head}_" if head is not None else ""
            names = [n for _, n in cols]
            label, pred = oof[f"{prefix}label"], oof[f"{prefix}prediction"]
            scores[f"{prefix}acc"] = accuracy_score(label, pred)
            scores[f"{prefix}f1"] = f1_score(label, pred, average="macro")
            name = head if head is not None else target  # one label: named by its column
            columns.append(pd.DataFrame({f"{name}_{i}": oof[c].astype(float) for i, (c, _) in enumerate(cols)}))
            columns.append(pd.DataFrame({f"true_{name}": [names.index(v) for v in label]}))
        if "f1" not in scores:  # one number for the log: the mean over heads
            scores["f1"] = float(np.mean([v for k, v in scores.items() if k.endswith("_f1")]))
        pd.concat(columns, axis=1).to_csv(out_dir / "oof_probabilities.csv", index=False, float_format="%.6g")
        return {"oof_predictions": str(out_dir / "oof_predictions.csv"),
                "oof_probabilities": str(out_dir / "oof_probabilities.csv"), "oof": scores}

    def ensemble(self, files, out_dir):
        from logger.class_predictions import ensemble_files

        return ensemble_files(files, out_dir)


def _with_args(cfg, part, **args):
    """`cfg` with dataset args of data.<part> set."""
    cfg = copy.deepcopy(cfg)
    for key, value in args.items():
        set_path(cfg, f"data.{part}.dataset.args.{key}", value)
    return cfg


class ClipFolds:
    predictions = "predictions.csv"
    test = False

    def __init__(self, cfg, out_dir, n_folds, seed):
        self.cfg, self.n, self.seed = copy.deepcopy(cfg), n_folds or 5, seed or 0
        sets = _pool(self.cfg)
        self.classes, self.root = sets[0].classes, Path(sets[0].root)
        clips = {str(c.path): c for d in sets for c in d.clips}  # one clip listed by two splits counts once
        self.clips = list(clips.values())
        if any(c.label is None for c in self.clips):
            raise DataError("k-fold needs labelled clips; the train or val split has unlabelled ones")
        self.fold = _split([c.label for c in self.clips], self.n, self.seed, stratify=True)
        self.dir = out_dir / "folds"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.writer = {"type": "ClipPredictionWriter", "args": {"class_names": list(self.classes), "json_name": None}}

    def config(self, k):
        cfg = copy.deepcopy(self.cfg)
        set_path(cfg, "data.dataset.args.classes", list(self.classes))  # every split names classes alike
        for split, held in (("train", False), ("val", True)):
            rows = [(_relative(c.path, self.root), self.classes[c.label])
                    for c, f in zip(self.clips, self.fold) if (f == k) == held]
            path = self.dir / f"fold{k}_{split}.csv"
            pd.DataFrame(rows, columns=["path", "label"]).to_csv(path, index=False)
            set_path(cfg, f"data.{split}.dataset.args.annotation_file", str(path.resolve()))
            set_path(cfg, f"data.{split}.dataset.args.root", str(self.root))  # the paths are relative to it
        return cfg

    def collect(self, files, out_dir):
        from sklearn.metrics import accuracy_score, f1_score

        oof = pd.concat([pd.read_csv(p, keep_default_na=False).assign(fold=k) for k, p in files.items()],
                        ignore_index=True)
        oof.to_csv(out_dir / "oof_predictions.csv", index=False, float_format="%.6g")
        scores = {"acc": accuracy_score(oof["label"], oof["prediction"]),
                  "f1": f1_score(oof["label"], oof["prediction"], average="macro")}
        return {"oof_predictions": str(out_dir / "oof_predictions.csv"), "oof": scores}


def _relative(path, root):
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(Path(path).resolve())


class SegmentationFolds:
    writer = {"type": "SegmentationWriter", "args": {"npy": True, "png": False, "overlay": False,
                                                     "npy_dtype": "float16"}}
    predictions = "npy"
    test = False

    def __init__(self, cfg, out_dir, n_folds, seed):
        self.cfg, self.n, self.seed = copy.deepcopy(cfg), n_folds or 5, seed or 0
        items = {str(image): (image, mask) for d in _pool(self.cfg) for image, mask in d.items}
        self.items = list(items.values())
        stems = pd.Series([Path(i).stem for i, _ in self.items])
        if stems.duplicated().any():
            raise DataError(f"two images named {stems[stems.duplicated()].iloc[0]!r} (in train and val); k-fold "
                            "pairs predictions by file stem: rename one")
        self.fold = _split(np.zeros(len(self.items)), self.n, self.seed, stratify=False)
        self.dir = out_dir / "folds"

    def config(self, k):
        root = self.dir / f"fold{k}"
        for (image, mask), f in zip(self.items, self.fold):
            split = "val" if f == k else "train"
            for src, sub in ((image, "images"), (mask, "masks")):
                link(src, root / split / sub / Path(src).name)
        cfg = copy.deepcopy(self.cfg)
        for split in ("train", "val"):
            for key, value in (("root", str(root.resolve())), ("split", split), ("val_split", "val"),
                               ("images_dir", "images"), ("masks_dir", "masks")):
                set_path(cfg, f"data.{split}.dataset.args.{key}", value)
        return cfg

    def collect(self, dirs, out_dir):
        rows = []
        for k, npy_dir in dirs.items():
            for (image, mask), f in zip(self.items, self.fold):
                if f == k:
                    rows.append({"name": Path(image).stem, "image": str(image), "mask": str(mask),
                                 "probability": str(Path(npy_dir) / f"{Path(image).stem}.npy"), "fold": k})
        pd.DataFrame(rows).to_csv(out_dir / "oof_segmentation.csv", index=False)
        return {"oof_segmentation": str(out_dir / "oof_segmentation.csv")}


def link(src, dst):
    """A symbolic link to `src` (its parents made), or a copy where the file system allows no links."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        return
    try:
        os.symlink(Path(src).resolve(), dst)
    except OSError:
        shutil.copy2(src, dst)
