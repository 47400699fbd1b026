"""Who is who in the face-mask data: train.csv, label fixes, and person-grouped splits.

Every split is by person (a train.csv row, keyed by its folder `path`, since ids repeat), so
no one's photos are in both train and val. Splits are stratified over gender x age bin.
K-fold assignments are saved to a CSV (path,fold) the first time and read back afterwards,
so every experiment and every fold of a k-fold run sees the same folds (data_loader/folds.py).
"""
import logging

import pandas as pd

from utils.errors import DataError

from .folds import saved_folds, stratified_folds, stratified_holdout
from .mask_labels import MASK_FILES, age_bin
from .tables import read_csv

log = logging.getLogger("facetrain")

TRAIN_COLUMNS = ("id", "gender", "age", "path")
GENDERS = {"male": 0, "female": 1}


def read_train_csv(path, problems):
    """train.csv with gender as 0/1 and age as int; bad rows go to `problems` (file, line, message)."""
    df = read_csv(path, TRAIN_COLUMNS, "train.csv")
    keep = []
    for row in df.itertuples():
        where = f"{path} line {row.line} (id {row.id!r}, path {row.path!r})"
        if row.gender.strip().lower() not in GENDERS:
            problems.add(f"{where}: gender {row.gender!r} is not male or female")
        elif not row.age.strip().isdigit():
            problems.add(f"{where}: age {row.age!r} is not a whole number")
        elif not row.path.strip():
            problems.add(f"{where}: empty path")
        else:
            keep.append(row.Index)
    df = df.loc[keep].copy()
    df["gender"] = df["gender"].str.strip().str.lower().map(GENDERS).astype(int)
    df["age"] = df["age"].str.strip().astype(int)
    df["path"] = df["path"].str.strip()
    dupes = df["path"][df["path"].duplicated()]
    if len(dupes):
        raise DataError(f"{path}: folder(s) listed twice: {sorted(set(dupes))[:5]}")
    df["swap"] = [()] * len(df)
    return df.reset_index(drop=True)


def apply_label_fix(df, fix_path):
    """Corrections from a CSV with `path` or `id`, and any of `gender`, `age`, `swap`.

    Empty cells leave a label as it is; `swap` names two photos whose mask labels are
    exchanged (e.g. "incorrect_mask,normal"). An id that repeats in train.csv must be given
    by path instead."""
    fixes = read_csv(fix_path, (), "label fix file")
    key = "path" if "path" in fixes.columns else "id" if "id" in fixes.columns else None
    if key is None:
        raise DataError(f"{fix_path}: needs a 'path' or 'id' column to say whose labels to fix")
    df = df.copy()
    changed = 0
    for fix in fixes.to_dict("records"):
        where = f"{fix_path} line {fix['line']}"
        rows = df.index[df[key] == fix[key].strip()]
        if len(rows) == 0:
            raise DataError(f"{where}: {key} {fix[key]!r} is not in train.csv")
        if len(rows) > 1:
            raise DataError(f"{where}: id {fix[key]!r} belongs to {len(rows)} people in train.csv "
                            f"({', '.join(df.loc[rows, 'path'])}); add a 'path' column to say which")
        i = rows[0]
        gender, age, swap = (str(fix.get(c, "")).strip() for c in ("gender", "age", "swap"))
        if gender:
            if gender.lower() not in GENDERS:
                raise DataError(f"{where}: gender {gender!r} is not male or female")
            df.at[i, "gender"] = GENDERS[gender.lower()]
        if age:
            if not age.isdigit():
                raise DataError(f"{where}: age {age!r} is not a whole number")
            df.at[i, "age"] = int(age)
        if swap:
            pair = tuple(s.strip() for s in swap.replace(";", ",").split(","))
            if len(pair) != 2 or not set(pair) <= set(MASK_FILES):
                raise DataError(f"{where}: swap {swap!r} must name two of {list(MASK_FILES)}, e.g. "
                                "'incorrect_mask,normal'")
            df.at[i, "swap"] = pair
        changed += bool(gender or age or swap)
    log.info(f"label fixes from {fix_path}: {changed} person(s) corrected")
    return df


def strata(df, age_bins):
    """gender x age bin of each person, the variable splits are stratified over."""
    return df["gender"].to_numpy() * 3 + age_bin(df["age"].to_numpy(), age_bins)


def holdout(df, val_fraction, seed, age_bins):
    """Boolean mask of the persons held out for validation, stratified over gender x age bin."""
    return stratified_holdout(strata(df, age_bins), val_fraction, seed)


def make_folds(df, n_folds, seed, age_bins):
    """A fold number per person from StratifiedKFold over gender x age bin."""
    if len(df) < n_folds:
        raise DataError(f"{n_folds} folds need at least {n_folds} persons; train.csv has {len(df)}")
    folds = stratified_folds(strata(df, age_bins), n_folds, seed)
    return pd.DataFrame({"path": df["path"].to_numpy(), "fold": folds})


def load_or_make_folds(path, df, n_folds, seed, age_bins):
    """The fold of every person, read from `path`, or made and saved there on first use."""
    return saved_folds(path, df["path"], n_folds, lambda: make_folds(df, n_folds, seed, age_bins)["fold"],
                       f"{n_folds} person-grouped folds (seed {seed})", "person(s) of train.csv")


