"""Who is who in the face-mask data: train.csv, label fixes, and person-grouped splits.

Every split is by person (a train.csv row, keyed by its folder `path`, since ids repeat), so
no one's photos are in both train and val. Splits are stratified over gender x age bin.
K-fold assignments are saved to a CSV (path,fold) the first time and read back afterwards,
so every experiment and every fold of a k-fold run sees the same folds. The generic parts
(stratified_holdout, stratified_folds, saved_folds) also split the groups of image_table.py.
"""
import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from utils.errors import DataError

from .mask_labels import MASK_FILES, age_bin

log = logging.getLogger("facetrain")

TRAIN_COLUMNS = ("id", "gender", "age", "path")
GENDERS = {"male": 0, "female": 1}


def read_csv(path, required, what):
    """A CSV read as strings (ids like 001498-1 stay as written); `line` = its line in the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a readable CSV: {e}") from e
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(df.columns)}, expected {list(required)}")
    df["line"] = np.arange(len(df)) + 2  # line 1 is the header
    return df


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


def stratified_holdout(y, val_fraction, seed):
    """Boolean mask of the units (persons, groups) held out for validation: `val_fraction` of each
    stratum of `y` (systematic sampling over a seeded shuffle, so even strata of one or two split fairly)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(y)), np.asarray(y)))
    phase = rng.random()
    pos = np.arange(len(y))
    picked = np.floor((pos + 1) * val_fraction + phase) > np.floor(pos * val_fraction + phase)
    val = np.zeros(len(y), bool)
    val[order[picked]] = True
    return val


def make_folds(df, n_folds, seed, age_bins):
    """A fold number per person from StratifiedKFold over gender x age bin."""
    if len(df) < n_folds:
        raise DataError(f"{n_folds} folds need at least {n_folds} persons; train.csv has {len(df)}")
    folds = stratified_folds(strata(df, age_bins), n_folds, seed)
    return pd.DataFrame({"path": df["path"].to_numpy(), "fold": folds})


def stratified_folds(y, n_folds, seed):
    """A fold number per unit (person, group) from StratifiedKFold over `y`."""
    folds = np.zeros(len(y), int)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # a stratum smaller than n_folds is fine: it just cannot be in every fold
        warnings.simplefilter("ignore", UserWarning)
        for k, (_, val) in enumerate(splitter.split(np.zeros(len(y)), y)):
            folds[val] = k
    return folds


def load_or_make_folds(path, df, n_folds, seed, age_bins):
    """The fold of every person, read from `path`, or made and saved there on first use."""
    return saved_folds(path, df["path"], n_folds, lambda: make_folds(df, n_folds, seed, age_bins)["fold"],
                       f"{n_folds} person-grouped folds (seed {seed})", "person(s) of train.csv")


def saved_folds(path, keys, n_folds, make, what, units, key="path"):
    """The fold of every unit named in `keys`, read from the CSV `path` (columns `key`,fold), or made by
    `make()` (one fold per key) and saved there on first use, so every experiment sees the same folds."""
    path, keys = Path(path), [str(k) for k in keys]
    if not path.exists():
        folds = pd.DataFrame({key: keys, "fold": np.asarray(make())})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            folds.to_csv(tmp, index=False)
            tmp.replace(path)
        except OSError as e:
            raise DataError(f"cannot write the folds file {path} ({e}); set folds_file to a writable path") from e
        log.info(f"saved {what} to {path}")
    folds = read_csv(path, (key, "fold"), "folds file")
    by_key = dict(zip(folds[key], folds["fold"]))
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        raise DataError(f"{path}: {len(unknown)} {units} have no fold (e.g. {unknown[:3]}); "
                        "the file was made for other data: delete it to make new folds")
    fold = np.array([int(by_key[k]) for k in keys])
    found = sorted(set(folds["fold"].astype(int)))
    if found != list(range(n_folds)):
        raise DataError(f"{path}: holds folds {found}, but n_folds is {n_folds}; use another folds_file")
    return fold
