"""Any labelled image set for classification: an ImageFolder, or a CSV of paths and label columns.

    "dataset": {"type": "ImageTableDataset", "args": {"root": "data/faces"}}                  # ImageFolder
    "dataset": {"type": "ImageTableDataset", "args": {"root": "data/faces", "csv": "labels.csv",
                "target": ["gender", "age"], "bins": {"age": [0, 30, 60]}, "group": "person"}}

Layouts and label cells: data_loader/image_labels.py. `target` is the label column (one label per
sample: "target" is a class id, the class list is `classes`) or a list of them (one head each:
"target" is {head: id}, the class lists are `head_classes`); the class order is `classes` /
`heads` ({head: names}) when given, else inferred once over the whole table.

Splits: a `split` column (the ImageFolder's split folders) picks the rows of `split`; without a
"val" split, a seeded `val_fraction` of train is held out; with `fold`, train and val rows are
pooled into `n_folds` folds (saved to `folds_file` on first use and read back, so every run sees
the same folds). Holdout and folds are by `group` (e.g. a person id: nobody is in two splits),
stratified over the `stratify` head (default the first). "all" is every row. A split whose CSV
lacks the label columns (or an ImageFolder split without class folders) is unlabelled.

Bad input - a missing or unreadable image, an empty label, a label not in the class list, a
path listed twice, a group in two splits - is reported in one DataError naming the file and
line, or, with on_error="skip", left out and counted in the log.
"""
import logging
from pathlib import Path
from typing import Literal, Optional, Union

import numpy as np
import torch

from base import BaseDataset
from samples import generate_sample, is_sample_root
from utils.errors import ConfigError, DataError, EmptySplitError
from utils.registry import DATASETS, takes_classes

from .collate import same_size_collate
from .folds import saved_folds, stratified_folds, stratified_holdout
from .image_io import check_complete, image_problem, read_image
from .image_labels import FOLDER_LABEL, LAYOUT, SPLITS, check_bins, column_classes, encode, read_table, scan_folder
from .tables import Problems
from .transforms import image_tensor

log = logging.getLogger("facetrain")
POOLED = ("train", "val")  # the splits a holdout or the folds share out


@DATASETS.register
@takes_classes(classes="names", heads="head names")
class ImageTableDataset(BaseDataset):
    family = "image"  # what the application asks of it: families/image.py

    def __init__(self, root: str, split: str = "train", transform=None, csv: Optional[str] = None,
                 target: Union[str, list] = "label", classes: Optional[list] = None, heads: Optional[dict] = None,
                 bins: Optional[dict] = None, group: Optional[str] = None, split_column: Optional[str] = "split",
                 path_column: str = "path", stratify: Optional[str] = None, val_fraction: float = 0.2,
                 fold: Optional[int] = None, n_folds: int = 5, folds_file: Optional[str] = None, split_seed: int = 0,
                 on_error: Literal["raise", "skip"] = "raise", check_images: bool = True):
        super().__init__(transform)
        self.root, self.split = Path(root), split
        if fold is not None and not 0 <= fold < n_folds:
            raise ConfigError(f"data.dataset.args.fold: must be in 0..{n_folds - 1} (n_folds={n_folds}), got {fold}")
        self._ensure_root()
        self.multi = isinstance(target, (list, tuple))
        columns = [str(t) for t in target] if self.multi else [str(target)]
        if not columns or len(set(columns)) != len(columns):
            raise ConfigError("data.dataset.args.target: expected a column name or a list of distinct ones, "
                              f"got {target!r}")
        if csv is None:
            if self.multi or target != "label" or group:
                raise ConfigError("data.dataset.args: an ImageFolder has one label, its class folder, and no groups; "
                                  "name label and group columns only with a csv (data.dataset.args.csv)")
            self.source, self.csv = str(self.root), None
            table, columns, split_column = scan_folder(self.root), [FOLDER_LABEL], "split"
        else:
            self.csv = Path(csv) if Path(csv).is_absolute() or Path(csv).is_file() else self.root / csv
            self.source = str(self.csv)
            table = read_table(self.csv, path_column, [group] if group else [])
            split_column = split_column if split_column in table.columns else None
        self.heads = columns
        self.problems = Problems(on_error, self.source)
        table["_group"] = table[group] if group else ""
        table["_split"] = table[split_column] if split_column else "train"
        self._check_split_values(table, split_column)
        rows = self._candidates(table, split_column, fold)
        self.labelled = self._read_labels(table, rows, self._given(classes, heads, columns), check_bins(bins, columns))
        self._check_paths(table, bool(group))
        if group and split_column:
            self._check_groups(table)
        whole = table
        table = table[self._choose(table, rows, stratify, val_fraction, fold, n_folds, folds_file, split_seed,
                                   bool(group))]
        table = self._check_images(table) if check_images else table
        skipped = self.problems.finish()
        if len(table) == 0:
            raise EmptySplitError(f"no images for split '{split}' in {self.source}; " + LAYOUT.format(root=self.root))
        self.paths, self.lines, self.groups = list(table["path"]), list(table["line"]), list(table["_group"])
        self.files = [self.root / p for p in self.paths]
        self.ids = {c: table[f"_id_{c}"].to_numpy(np.int64) for c in columns} if self.labelled else {}
        if split == "train" and self.labelled:
            self._check_trained_classes(whole)
        log.info(f"ImageTableDataset {split}: {len(table)} images"
                 + (f" of {len(set(self.groups))} groups" if group else "")
                 + (f" (fold {fold} of {n_folds})" if fold is not None else "") + f" from {self.source}"
                 + ("" if self.labelled else ", unlabelled") + (f", {skipped} problem(s) skipped" if skipped else ""))

    # --- classes -------------------------------------------------------------------------
    def _given(self, classes, heads, columns):
        """The class names the config gives per label column (None: infer)."""
        if self.multi:
            if classes is not None:
                raise ConfigError("data.dataset.args.classes: the target is a list of heads; name their classes "
                                  "in heads ({head: [names]})")
            unknown = [h for h in (heads or {}) if h not in columns]
            if unknown:
                raise ConfigError(f"data.dataset.args.heads: {unknown} not in the target columns {columns}")
            return {c: (heads or {}).get(c) for c in columns}
        if heads is not None:
            raise ConfigError("data.dataset.args.heads: the target is one column; give its class names as classes")
        return {columns[0]: classes}

    def _read_labels(self, table, rows, given, bins):
        """Class lists (from the whole table, so every split agrees) and the ids of this split's candidate
        `rows` (table columns _id_<column>, -1 elsewhere); False when those rows hold no labels."""
        columns = self.heads
        empty = [c for c in columns if c not in table.columns or (table[c][rows] == "").all()]
        if empty and (len(empty) < len(columns) or self.split in POOLED):
            raise DataError(f"{self.source}: no labels in column(s) {empty} for split '{self.split}' (columns: "
                            f"{[c for c in table.columns if c not in ('line', '_group', '_split')]}); set "
                            "data.dataset.args.target to the label columns")
        names = {}
        for c in columns:
            where = f"data.dataset.args.{'heads.' + c if self.multi else 'classes'}"
            cells = table[c] if c in table.columns else []
            if empty and given[c] is None and bins.get(c) is None and not any(v != "" for v in cells):
                raise DataError(f"{self.source} has no labels to name the classes of '{c}' from; give them ({where})")
            names[c] = column_classes(c, cells, given[c], bins.get(c), where)
        self.classes = None if self.multi else names[columns[0]]
        self.head_classes = dict(names) if self.multi else None
        if empty:
            return False
        for c in columns:
            ids = np.full(len(table), -1, np.int64)
            positions = np.flatnonzero(rows)
            ids[positions], bad = encode(list(table[c][rows]), names[c], bins.get(c))
            table[f"_id_{c}"] = ids
            for i in bad:
                self.problems.add(f"{self._where(table, positions[i])}: column '{c}': {bad[i]}")
        return True

    def _check_trained_classes(self, whole):
        """Every class has training images: one without any cannot be learnt, yet balanced class weights and
        macro F1 would count it (a label only in val or test, 'Cat' beside 'cat', a test-only class folder)."""
        for c in self.heads:
            names = self.head_classes[c] if self.multi else self.classes
            counts = np.bincount(self.ids[c], minlength=len(names))
            unlearnt = [n for n, k in zip(names, counts) if k == 0]
            if not unlearnt:
                continue
            found = []
            for name in unlearnt[:5]:
                hits = np.flatnonzero((whole[c] == name).to_numpy()) if c in whole.columns else []
                twin = [n for n in names if n != name and n.lower() == name.lower()]
                where = ""
                if len(hits):  # where the class is, as the error names a row
                    row = whole.iloc[hits[0]]
                    where = f" (split '{row['_split']}', {f'line {row.line}' if row['line'] else row['path']})"
                found.append(repr(name) + where + (f", {twin[0]!r} but for case" if twin else ""))
            raise DataError(f"{self.source}: column '{c}': class(es) {'; '.join(found)} have no training images "
                            f"(training counts {dict(zip(names, counts.tolist()))}). A model cannot learn a class it "
                            "never sees, yet balanced class weights and macro F1 would count it: correct those labels, "
                            "add training images of the class, or leave its rows out (a holdout or fold can also take "
                            "every group of a rare class into val)")

    # --- which rows ----------------------------------------------------------------------
    def _check_split_values(self, table, split_column):
        """Rows of a split other than train, val and test would be read by neither training nor validation."""
        other = ~table["_split"].isin(SPLITS).to_numpy()
        if split_column is None or self.split not in POOLED or not other.any():
            return
        values = table["_split"][other].value_counts().to_dict()
        raise DataError(f"{self.source}: the split {'folders' if self.csv is None else f'column {split_column!r}'} "
                        f"hold(s) {values} (e.g. {self._where(table, int(np.flatnonzero(other)[0]))}), none of "
                        f"{list(SPLITS)}: those rows would be in neither training nor validation. Rename the split "
                        f"(e.g. 'valid' -> 'val'), or read those rows on their own (split: {next(iter(values))!r})")

    def _where(self, table, i):
        line = table["line"].iloc[i]
        return f"{self.source} line {line}" if line else str(self.root / table["path"].iloc[i])

    def _check_paths(self, table, grouped):
        first = {}
        for i, path in enumerate(table["path"]):
            if grouped and table["_group"].iloc[i] == "":
                self.problems.add(f"{self._where(table, i)}: empty group")
                table.loc[table.index[i], "_split"] = None  # in no split
            if path == "":
                self.problems.add(f"{self._where(table, i)}: empty path")
            elif path in first:
                self.problems.add(f"{self._where(table, i)}: {path} is listed twice (also line {first[path]})")
            else:
                first[path] = table["line"].iloc[i]

    def _check_groups(self, table):
        """A group (person) in two splits would leak between them: every such row is a problem."""
        home = {}
        for i, (g, s) in enumerate(zip(table["_group"], table["_split"])):
            if g == "":
                continue  # an empty group is its own problem (_check_paths)
            first = home.setdefault(g, (s, table["line"].iloc[i]))
            if s != first[0]:
                self.problems.add(f"{self._where(table, i)}: group {g!r} is in split '{s}' here and in '{first[0]}' "
                                  f"(line {first[1]}); give all its rows one split")
                table.loc[table.index[i], "_split"] = None  # skipped: the group stays in its first split

    def _candidates(self, table, split_column, fold):
        """The rows this split is chosen from (their labels are checked): all, one split's, or the pool
        a holdout or the folds share out."""
        if self.split == "all":
            return np.ones(len(table), bool)
        if split_column is None and self.split not in POOLED:
            raise ConfigError(f"data.dataset.args.split: {self.source} has no split column, so no '{self.split}' "
                              "rows; add a split column, or give this split its own csv with split 'all'")
        if self._shared(table, fold):
            return table["_split"].isin(POOLED if fold is not None else ["train"]).to_numpy()
        return (table["_split"] == self.split).to_numpy()

    def _shared(self, table, fold):
        """True when train and val share out a pool: folds, or a holdout where no rows are val."""
        return self.split in POOLED and (fold is not None or not (table["_split"] == "val").any())

    def _choose(self, table, rows, stratify, val_fraction, fold, n_folds, folds_file, seed, grouped):
        """Boolean mask of this split's rows: the candidates without problems, or their held-out share."""
        pool = rows & self._ok_rows(table)
        if not self._shared(table, fold) or not pool.any():
            return pool
        units, unit = np.unique((table["_group"] if grouped else table["path"]).to_numpy()[pool], return_inverse=True)
        y = self._unit_strata(table[pool], stratify, unit, len(units))
        if fold is not None:
            key = "group" if grouped else "path"
            if len(units) < n_folds:
                raise DataError(f"{n_folds} folds need at least {n_folds} {key}s; {self.source} has {len(units)}")
            file = Path(folds_file) if folds_file else self._folds_file(key, n_folds, seed)
            held = saved_folds(file, units, n_folds, lambda: stratified_folds(y, n_folds, seed),
                               f"{n_folds} {'group' if grouped else 'image'} folds (seed {seed})",
                               f"{key}(s) of {self.source}", key=key) == fold
        else:
            held = stratified_holdout(y, val_fraction, seed)
            log.info(f"{self.split}: no val split in {self.source}; holding out {val_fraction:g} of the "
                     f"{'groups' if grouped else 'images'} of train (split_seed={seed})")
        chosen = np.zeros(len(table), bool)
        chosen[np.flatnonzero(pool)] = held[unit] == (self.split == "val")
        return chosen

    def _ok_rows(self, table):
        bad = table["_split"].isna().to_numpy() | (table["path"] == "").to_numpy() \
            | table["path"].duplicated().to_numpy()
        for c in (self.heads if self.labelled else []):
            bad |= table[f"_id_{c}"].to_numpy() < 0
        return ~bad

    def _unit_strata(self, pool, stratify, unit, n):
        """Per unit (group or image) the most common class of the `stratify` head."""
        head = stratify or self.heads[0]
        if head not in self.heads:
            raise ConfigError(f"data.dataset.args.stratify: {head!r} is not one of the target columns {self.heads}")
        ids = pool[f"_id_{head}"].to_numpy()
        counts = np.zeros((n, ids.max() + 1), int)
        np.add.at(counts, (unit, ids), 1)
        return counts.argmax(1)

    def _folds_file(self, key, n_folds, seed):
        stem = f"{self.csv.stem}_folds" if self.csv else "folds"
        return (self.csv.parent if self.csv else self.root) / f"{stem}_by_{key}_k{n_folds}_seed{seed}.csv"

    def _check_images(self, table):
        """Every chosen image exists and its header reads (and a JPEG is complete): cheap, before training."""
        keep = np.ones(len(table), bool)
        for i, path in enumerate(table["path"]):
            file = self.root / path
            try:
                problem = f"no image {file}" if not file.is_file() else image_problem(file) or check_complete(file)
            except DataError as e:
                problem = str(e)
            if problem:
                self.problems.add(f"{self._where(table, i)}: {problem}")
                keep[i] = False
        return table[keep]

    def _ensure_root(self):
        """The sample set (its CSV at the root, its ImageFolder one level down) is generated on first use."""
        if self.root.exists():
            return
        base = next((p for p in (self.root, self.root.parent) if is_sample_root(p, "image_table")), None)
        if base is None or base.exists():
            raise DataError(f"data root {self.root} does not exist; " + LAYOUT.format(root=self.root))
        generate_sample(base, "image_table")

    # --- labels, for samplers, losses and k-fold -------------------------------------------
    def labels(self, key=None):
        """Class ids of every sample: of head `key`, of the one label (key None), or for several heads
        with key None their combination (ids in mixed radix: the first head varies slowest)."""
        if not self.labelled:
            raise ValueError(f"split '{self.split}' of {self.source} has no labels")
        if key is None and self.multi:
            joint = np.zeros(len(self), np.int64)
            for c in self.heads:
                joint = joint * len(self.head_classes[c]) + self.ids[c]
            return joint
        return self.ids[self._head(key)]

    def num_classes(self, key=None):
        if key is None and self.multi:
            return int(np.prod([len(n) for n in self.head_classes.values()]))
        return len(self.head_classes[self._head(key)] if self.multi else self.classes)

    def class_counts(self, key=None):
        return np.bincount(self.labels(key), minlength=self.num_classes(key))

    def _head(self, key):
        if not self.multi and key in (None, "class", self.heads[0]):
            return self.heads[0]
        if self.multi and key in self.heads:
            return key
        raise ValueError(f"unknown label key {key!r}; this dataset's labels: "
                         f"{self.heads if self.multi else [None, 'class', self.heads[0]]}")

    # --- samples -----------------------------------------------------------------------
    def __len__(self):
        return len(self.paths)

    def get(self, index):
        line = self.lines[index]
        image = read_image(self.files[index], context=f"{self.source} line {line}" if line else "")
        if self.transform is not None:
            image = self.transform(image=image)["image"]
        sample = {"input": image_tensor(image), "meta": {"path": self.paths[index], "file": str(self.files[index]),
                                                         "line": line, "group": self.groups[index], "index": index}}
        if self.labelled:
            ids = {c: torch.tensor(int(self.ids[c][index])) for c in self.heads}
            sample["target"] = ids if self.multi else ids[self.heads[0]]
        return sample

    @staticmethod
    def collate_fn(batch):
        return same_size_collate(batch, "path", "images")
