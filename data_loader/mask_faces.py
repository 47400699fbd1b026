"""Face-mask competition data: one sample per photo, labels for mask, gender, age and the 18 classes.

    <root>/train/train.csv             id,gender,race,age,path
    <root>/train/images/<path>/        mask1..mask5, incorrect_mask, normal (.jpg .jpeg .png)
    <root>/eval/info.csv               ImageID,ans
    <root>/eval/images/<ImageID>

`split`: "train" / "val" (persons held out by `val_fraction`, or by `fold` of `n_folds`),
"all" (every person) or "eval" (info.csv order, no labels). `target` says what a sample's
target is: "heads" ({"mask", "gender", "age"}), "class" (0..17), or one head alone.
Hidden files (`._mask1.jpg`, `.DS_Store`) are ignored. Problems (a missing folder or photo,
an unreadable image, a bad row) are all reported in one DataError naming file and line, or,
with on_error="skip", left out and counted in the log.
"""
import logging
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import torch

from base import BaseDataset
from samples import generate_once, is_sample_root
from utils.errors import DataError
from utils.registry import DATASETS

from .image_io import image_problem, read_image
from .mask_labels import (
    DEFAULT_AGE_BINS,
    HEADS,
    MASK_FILES,
    NUM_CLASSES,
    age_bin,
    check_age_bins,
    class_names,
    encode,
    head_classes,
)
from .mask_splits import apply_label_fix, holdout, load_or_make_folds, read_train_csv
from .tables import Problems, read_csv
from .transforms import image_tensor

log = logging.getLogger("facetrain")

IMAGE_EXTS = (".jpg", ".jpeg", ".png")
LAYOUT = """expected layout:
    {root}/train/train.csv           columns id,gender,race,age,path
    {root}/train/images/<path>/      mask1..mask5, incorrect_mask, normal (.jpg, .jpeg or .png)
    {root}/eval/info.csv             columns ImageID,ans
    {root}/eval/images/<ImageID>"""


def photo_files(folder):
    """{stem: path} of a person's photos; hidden files are junk; returns (photos, duplicates, others)."""
    photos, dupes, others = {}, [], []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file():
            continue
        if p.suffix.lower() not in IMAGE_EXTS or p.stem not in MASK_FILES:
            others.append(p.name)
        elif p.stem in photos:
            dupes.append((photos[p.stem].name, p.name))
        else:
            photos[p.stem] = p
    return photos, dupes, others


@DATASETS.register
class MaskFaceDataset(BaseDataset):
    family = "face"  # what the application asks of it: families/face.py

    def __init__(self, root: str, split: Literal["train", "val", "all", "eval"] = "train", transform=None,
                 target: Literal["heads", "class", "mask", "gender", "age"] = "heads",
                 age_bins: list = DEFAULT_AGE_BINS, val_fraction: float = 0.2, fold: Optional[int] = None,
                 n_folds: int = 5, folds_file: Optional[str] = None, split_seed: int = 0,
                 label_fix: Optional[str] = None, on_error: Literal["raise", "skip"] = "raise",
                 check_images: bool = True):
        super().__init__(transform)
        self.root, self.split, self.target = Path(root), split, target
        self.age_bins = check_age_bins(age_bins)
        if fold is not None and not 0 <= fold < n_folds:
            raise ValueError(f"fold must be in 0..{n_folds - 1} (n_folds={n_folds}), got {fold}")
        self._ensure_root()
        self.check_images = check_images
        self.paths, self.image_ids, self.rows, self.persons = [], [], [], []
        self.labels_ = {h: [] for h in HEADS}
        if split == "eval":
            self._load_eval(Problems(on_error, f"{self.root / 'eval'}"))
        else:
            self._load_train(Problems(on_error, f"{self.root / 'train'}"), val_fraction, fold, n_folds,
                             folds_file, split_seed, label_fix)
        self.labels_ = {h: np.asarray(v, np.int64) for h, v in self.labels_.items()}
        if not self.paths:
            raise DataError(f"no images for split '{split}' under {self.root}; " + LAYOUT.format(root=self.root))

    # --- reading the layout ----------------------------------------------------------
    def _ensure_root(self):
        if self.root.exists():
            return
        if not is_sample_root(self.root, "mask_faces"):
            raise DataError(f"data root {self.root} does not exist; " + LAYOUT.format(root=self.root))
        from samples.mask_faces import generate_mask_dataset

        generate_once(self.root, "face-mask data", generate_mask_dataset)

    def _load_train(self, problems, val_fraction, fold, n_folds, folds_file, split_seed, label_fix):
        csv_path = self.root / "train" / "train.csv"
        if not csv_path.is_file():
            raise DataError(f"{csv_path} not found; " + LAYOUT.format(root=self.root))
        self.source = str(csv_path)
        df = read_train_csv(csv_path, problems)
        # Who is in val depends on train.csv, the fraction or fold and split_seed only (strata from the
        # csv as written, default age bins), so train and val agree whatever label_fix or age_bins say.
        keep = np.ones(len(df), bool)
        if self.split != "all":
            if fold is not None:
                default = self.root / "train" / f"folds_k{n_folds}_seed{split_seed}.csv"
                file = Path(folds_file) if folds_file else default
                in_val = load_or_make_folds(file, df, n_folds, split_seed, DEFAULT_AGE_BINS) == fold
            else:
                in_val = holdout(df, val_fraction, split_seed, DEFAULT_AGE_BINS)
            keep = in_val if self.split == "val" else ~in_val
        if label_fix:
            df = apply_label_fix(df, self._find(label_fix))
        df = df[keep]
        others = 0
        for person in df.itertuples():
            folder = self.root / "train" / "images" / person.path
            where = f"{csv_path} line {person.line} (id {person.id!r})"
            if not folder.is_dir():
                problems.add(f"{where}: folder {folder} not found")
                continue
            photos, dupes, other = photo_files(folder)
            others += len(other)
            for a, b in dupes:
                problems.add(f"{where}: {folder} has both {a} and {b}; keep one")
            missing = [s for s in MASK_FILES if s not in photos]
            if missing:
                problems.add(f"{where}: {folder} has no {', '.join(missing)} (.jpg/.jpeg/.png)")
            swap = dict([person.swap, person.swap[::-1]]) if person.swap else {}
            for stem, path in photos.items():
                if self.check_images and (bad := image_problem(path)):
                    problems.add(f"{where}: {bad}")
                    continue
                self._add(path, f"{person.path}/{path.name}", person.line - 2, person.path,
                          MASK_FILES[swap.get(stem, stem)], person.gender, int(age_bin(person.age, self.age_bins)))
        if others:
            log.warning(f"{others} file(s) in {self.root / 'train/images'} are not one of the 7 photos "
                        f"({', '.join(MASK_FILES)}) and were ignored")
        skipped = problems.finish()
        log.info(f"MaskFaceDataset {self.split}: {len(self.paths)} photos of {len(set(self.persons))} persons"
                 + (f" (fold {fold} of {n_folds})" if fold is not None else "")
                 + (f", {skipped} problem(s) skipped" if skipped else ""))

    def _load_eval(self, problems):
        info_path = self.root / "eval" / "info.csv"
        if not info_path.is_file():
            raise DataError(f"{info_path} not found; " + LAYOUT.format(root=self.root))
        self.source = str(info_path)
        info = read_csv(info_path, ("ImageID",), "info.csv")
        for row in info.itertuples():
            path = self.root / "eval" / "images" / row.ImageID
            where = f"{info_path} line {row.line} (ImageID {row.ImageID!r})"
            if not path.is_file():
                problems.add(f"{where}: no file {path}")
            elif self.check_images and (bad := image_problem(path)):
                problems.add(f"{where}: {bad}")
            else:
                self._add(path, row.ImageID, row.line - 2, "", -1, -1, -1)
        skipped = problems.finish()
        log.info(f"MaskFaceDataset eval: {len(self.paths)} of {len(info)} images of {info_path}"
                 + (f" ({skipped} skipped: their rows keep no prediction)" if skipped else ""))

    def _add(self, path, image_id, row, person, mask, gender, age):
        self.paths.append(path)
        self.image_ids.append(image_id)
        self.rows.append(row)
        self.persons.append(person)
        for head, value in zip(HEADS, (mask, gender, age)):
            self.labels_[head].append(value)

    def _find(self, path):
        """A relative path is looked up from the working directory, then from the data root."""
        for candidate in (Path(path), self.root / path):
            if candidate.is_file():
                return candidate
        raise DataError(f"label_fix file {path} not found (looked in the working directory and in {self.root})")

    # --- labels, for samplers and losses -------------------------------------------------
    def labels(self, key=None):
        """Integer labels of every sample: key 'mask' / 'gender' / 'age' / 'class'; None = this dataset's target."""
        key = key or ("class" if self.target == "heads" else self.target)
        if self.split == "eval":
            raise ValueError("the eval split has no labels")
        if key == "class":
            return encode(self.labels_["mask"], self.labels_["gender"], self.labels_["age"])
        if key not in HEADS:
            raise ValueError(f"unknown label key {key!r}; use one of {['class', *HEADS]}")
        return self.labels_[key]

    @property
    def head_classes(self):
        """{head: class names} when the target is the three heads (trainer/classes.py)."""
        return head_classes(self.age_bins) if self.target == "heads" else None

    @property
    def classes(self):
        """Class names of a one-label target: the 18 classes, or one head's."""
        if self.target == "heads":
            return None
        return class_names() if self.target == "class" else head_classes(self.age_bins)[self.target]

    def num_classes(self, key=None):
        key = key or ("class" if self.target == "heads" else self.target)
        return NUM_CLASSES if key == "class" else HEADS[key]

    def class_counts(self, key=None):
        return np.bincount(self.labels(key), minlength=self.num_classes(key))

    # --- samples -----------------------------------------------------------------------
    def __len__(self):
        return len(self.paths)

    def get(self, index):
        path = self.paths[index]
        image = read_image(path, context=f"{self.source} line {self.rows[index] + 2}")
        if self.transform is not None:
            image = self.transform(image=image)["image"]
        image = image_tensor(image)
        sample = {"input": image, "meta": {"image_id": self.image_ids[index], "row": self.rows[index],
                                           "index": index, "person": self.persons[index], "source": self.source}}
        if self.split != "eval":
            heads = {h: torch.tensor(int(self.labels_[h][index])) for h in HEADS}
            if self.target == "heads":
                sample["target"] = heads
            elif self.target == "class":
                sample["target"] = encode(heads["mask"], heads["gender"], heads["age"])
            else:
                sample["target"] = heads[self.target]
        return sample
