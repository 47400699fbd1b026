"""Who is held out: seeded hold-outs and k folds of samples or of groups (persons), stratified, and
fold files saved on first use so that every experiment and every fold of tools/kfold.py sees the same folds."""
import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold

from utils.errors import DataError
from utils.paths import atomic_path

from .tables import read_csv

log = logging.getLogger("facetrain")


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


def stratified_folds(y, n_folds, seed, stratify=True):
    """A fold number per unit (person, group, sample) from StratifiedKFold over `y` (KFold when not
    `stratify`)."""
    folds = np.zeros(len(y), int)
    splitter = (StratifiedKFold if stratify else KFold)(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # a stratum smaller than n_folds is fine: it just cannot be in every fold
        warnings.simplefilter("ignore", UserWarning)
        for k, (_, val) in enumerate(splitter.split(np.zeros(len(y)), y)):
            folds[val] = k
    return folds


def fold_part(keys, split, fold, n_folds, seed, labels=None, what="samples"):
    """The part of `keys` (a dataset's train and val samples pooled, in a fixed order) that `split` takes when
    fold `fold` of `n_folds` is held out: "val" that fold, "train" every other; `labels` stratifies the folds.
    The one k-fold mechanism of datasets without saved folds files (tools/kfold.py sets `fold`)."""
    if split not in ("train", "val"):
        raise ValueError(f"fold {fold}: only the train and val splits are folded, not {split!r}")
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold must be in 0..{n_folds - 1} (n_folds={n_folds}), got {fold}")
    if len(keys) < n_folds:
        raise DataError(f"{n_folds} folds need at least {n_folds} {what}; the data has {len(keys)}")
    y = np.zeros(len(keys)) if labels is None else np.asarray(labels)
    held = stratified_folds(y, n_folds, seed, stratify=labels is not None) == fold
    part = [k for k, h in zip(keys, held) if h == (split == "val")]
    log.info(f"{split}: {len(part)} of the {len(keys)} {what} of train and val (fold {fold} of {n_folds} held out, "
             f"split_seed={seed})")
    return part


def saved_folds(path, keys, n_folds, make, what, units, key="path"):
    """The fold of every unit named in `keys`, read from the CSV `path` (columns `key`,fold), or made by
    `make()` (one fold per key) and saved there on first use, so every experiment sees the same folds."""
    path, keys = Path(path), [str(k) for k in keys]
    if not path.exists():
        folds = pd.DataFrame({key: keys, "fold": np.asarray(make())})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                folds.to_csv(tmp, index=False)
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
