"""Train every fold of a k-fold split, write out-of-fold predictions (and a fold ensemble of the test split).

    python tools/kfold.py --config configs/mask_multihead_effnet.json
    python tools/kfold.py --config configs/mask_multihead_effnet.json --folds 0 1 -o data.dataset.args.n_folds=5
    python tools/kfold.py --config configs/action_quick.json --n-folds 4
    python tools/kfold.py --config configs/wrinkle_quick.json --n-folds 3

One mechanism for every family: the dataset folds itself. Fold k trains as run `<name>_fold<k>` with
`data.dataset.args.fold=k` (and `n_folds`, and `split_seed` from --fold-seed): train and val pooled, fold k
held out as val (person- or group-grouped folds saved to a folds file for the face data and image tables,
class-stratified clip folds, image folds; data_loader/folds.py). Then test.py's logic predicts the held-out
samples with the best checkpoint, and the test split too when the data has one. The dataset's family
(families/) says which writer collects the predictions, how they are gathered and how the test
predictions are ensembled. Writes to `<save_dir>/kfold/<name>/<run_id>/`:

    fold<k>/oof/, fold<k>/test/         per fold: the predictions test.py writes
    oof_predictions.csv                 classification: every train and val sample once (test.py's
                                        predictions.csv format, with its file and fold)
    oof_segmentation.csv                segmentation: image, mask and probability map per image
    ensemble/predictions.csv            the mean of the folds' test predictions (face data: and submission.csv)
    config.json, labels.json, summary.json   the config, the classes trained on, best score per fold,
                                             out-of-fold scores

Folds run in separate calls into one --out (`--folds 0`, later `--folds 1`) add up: the combined files
cover every fold run so far (the log names those still missing); a call whose config, --n-folds or
--fold-seed differs from the kept folds' is refused. A test split the config declares but the data
lacks is found before the first fold trains: k-fold then skips the test-set ensemble and says so.
tools/find_label_errors.py reads this folder.
"""
import copy
import datetime
import inspect
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utils.cli import add_config_args, int_in, parser, resolve
from utils.config import get_path, save_config, set_path
from utils.errors import USER_ERRORS, ConfigError, DataError, EmptySplitError

log = logging.getLogger("facetrain")


def fold_config(cfg, k, n_folds=None, seed=None, writer=None):
    """The config of fold k: its own run name, the dataset's `fold` (and `n_folds`, `split_seed` when given),
    and `writer` (the family's, which k-fold collects) among the test writers."""
    cfg = copy.deepcopy(cfg)
    for key, value in (("fold", k), ("n_folds", n_folds), ("split_seed", seed)):
        if value is not None:
            set_path(cfg, f"data.dataset.args.{key}", value)
    cfg["name"] = f"{cfg['name']}_fold{k}"
    writers = get_path(cfg, "test.writers") or []
    if writer and not any(isinstance(w, dict) and w.get("type") == writer["type"] for w in writers):
        set_path(cfg, "test.writers", [*writers, copy.deepcopy(writer)])
    return cfg


def folding(cfg, n_folds=None, seed=None):
    """(number of folds, seed) the config's dataset folds by: --n-folds / --fold-seed, else its own
    n_folds / split_seed. A ConfigError when the dataset cannot fold or train and val differ."""
    from trainer.build import import_modules, split_config
    from utils.registry import DATASETS, import_builtins

    import_builtins()
    import_modules(cfg)  # the config's own components
    train, val = (split_config(cfg, s)[0] for s in ("train", "val"))
    differ = sorted(k for k in {*train.get("args", {}), *val.get("args", {})} - {"split"}
                    if train.get("args", {}).get(k) != val.get("args", {}).get(k))
    if train.get("type") != val.get("type") or differ:
        raise ConfigError(f"k-fold pools the train and val samples of one dataset, but data.train.dataset and "
                          f"data.val.dataset differ in {differ or ['type']}; give them one block that differs in "
                          "`split` only")
    takes = inspect.signature(DATASETS.get(train.get("type"), "data.dataset.type")).parameters
    if not {"fold", "n_folds"} <= set(takes):
        raise ConfigError(f"data.dataset.type: {train.get('type')} takes no `fold` and `n_folds`: k-fold asks the "
                          "dataset to hold out fold k of its pooled train and val samples (data_loader/folds.py's "
                          "fold_part does it for a list of samples)")
    n = n_folds or get_path(cfg, "data.dataset.args.n_folds", takes["n_folds"].default)
    seed = seed if seed is not None else get_path(cfg, "data.dataset.args.split_seed",
                                                  getattr(takes.get("split_seed"), "default", 0))
    return n, seed


def run_kfold(cfg, folds=None, out_dir=None, device=None, n_folds=None, seed=None):
    """Train and predict the given folds (default: all) into `out_dir`, where the folds an earlier call
    wrote (same config, number of folds and seed) are kept and combined with them; returns the summary."""
    from families import family_of
    from trainer import run_test, run_training
    from trainer.build import build_dataset
    from trainer.classes import labels_of
    from utils.checkpoint import load_checkpoint

    save_dir = get_path(cfg, "trainer.save_dir", "saved")
    out_dir = Path(out_dir) if out_dir else _new_dir(Path(save_dir) / "kfold" / cfg["name"])
    n, seed = folding(cfg, n_folds, seed)
    if not isinstance(n, int) or n < 2:
        raise ConfigError(f"--n-folds (data.dataset.args.n_folds): k-fold needs at least 2 folds, got {n}")
    folds = list(range(n)) if folds is None else sorted(set(folds))
    if not folds or any(not 0 <= k < n for k in folds):
        raise ConfigError(f"--folds: expected fold numbers in 0..{n - 1}, got {folds}")
    try:
        family = family_of(cfg)
    except ConfigError:  # a dataset that names no family is an image classifier when it has classes
        family = family_of(cfg, labels_of(build_dataset(_with_args(cfg, "train", check_images=False), "train")))
    summary = {"config": cfg["name"], "n_folds": n, "fold_seed": seed, "folds": _earlier_folds(out_dir, cfg, n, seed,
                                                                                               folds)}
    has_test = "test" in cfg["data"] and has_samples(cfg, "test")  # known before any fold trains
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out_dir / "config.json")
    for k in folds:
        log.info(f"=== fold {k} of {n} ===")
        trainer, result = run_training(fold_config(cfg, k, n, seed, family.writer))
        best = trainer.paths.models / "model_best.pth"
        if not best.exists():
            best = trainer.paths.models / "model_last.pth"
        # trainer.config: the fold's config as trained (class counts and names filled from the data)
        report = run_test(trainer.config, best, split="val", out_dir=out_dir / f"fold{k}" / "oof", device=device)
        summary["folds"][k] = {"run_dir": str(trainer.paths.models), "checkpoint": str(best),
                               "best": result["best"], "monitor": result["monitor"], "val": report["metrics"],
                               "labels": load_checkpoint(best).get("labels")}  # the classes it was trained on
        if has_test:
            run_test(trainer.config, best, split="test", out_dir=out_dir / f"fold{k}" / "test", device=device)
    summary["folds"] = done = dict(sorted(summary["folds"].items()))
    labels = [f["labels"] for f in done.values() if "labels" in f]
    if any(x != labels[0] for x in labels):
        raise DataError(f"the folds in {out_dir} were trained on different classes "
                        f"({ {k: f.get('labels') for k, f in done.items()} }): the data changed between calls; "
                        "run every fold again, or give a new --out")
    (out_dir / "labels.json").write_text(json.dumps(labels[0] if labels else None))  # for find_label_errors
    summary.update(family.collect(cfg, {k: (fold_config(cfg, k, n, seed), out_dir / f"fold{k}" / "oof")
                                        for k in done}, out_dir))
    tests = [p for k in done for p in [out_dir / f"fold{k}" / "test" / family.predictions] if has_test and p.exists()]
    ensemble = family.ensemble(tests, out_dir / "ensemble") if tests else None
    if ensemble:
        summary["ensemble"] = ensemble
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    missing = sorted(set(range(n)) - set(done))
    log.info(f"k-fold done: {out_dir / 'summary.json'}; folds {list(done)} of {n}"
             + (f"; out-of-fold F1 {summary['oof']['f1']:.4f}" if "oof" in summary else "")
             + (f"; folds {missing} are not run yet: the out-of-fold files and the ensemble cover the others only"
                if missing else ""))
    return summary


def has_samples(cfg, split):
    """False when the data has no `split`: an optional split (test) the config declares but the data lacks."""
    from trainer.build import build_dataset

    try:
        build_dataset(_with_args(cfg, split, check_images=False), split)
    except EmptySplitError as e:
        log.warning(f"{e.args[0].split(';')[0]}: k-fold skips the test split and its fold ensemble")
        return False
    return True


def _with_args(cfg, part, **args):
    """`cfg` with dataset args of data.<part> set, where the dataset takes them."""
    from trainer.build import split_config
    from utils.registry import DATASETS

    cfg = copy.deepcopy(cfg)
    takes = inspect.signature(DATASETS.get(split_config(cfg, part)[0].get("type"))).parameters
    for key, value in args.items():
        if key in takes:
            set_path(cfg, f"data.{part}.dataset.args.{key}", value)
    return cfg


def _earlier_folds(out_dir, cfg, n, seed, folds):
    """{fold: summary} of the folds an earlier call wrote into `out_dir` that this call keeps (it does not
    rerun them). Their predictions combine with this call's only when the runs are alike."""
    path = out_dir / "summary.json"
    earlier = json.loads(path.read_text()) if path.is_file() else {}
    kept = {int(k): v for k, v in earlier.get("folds", {}).items() if int(k) not in folds}
    if not kept:
        return {}
    config = json.loads((out_dir / "config.json").read_text()) if (out_dir / "config.json").is_file() else {}
    before = {"n_folds": earlier.get("n_folds"), "fold_seed": earlier.get("fold_seed"), "config": config}
    now = {"n_folds": n, "fold_seed": seed, "config": json.loads(json.dumps(cfg))}
    for run in (before, now):
        run["config"].pop("device", None)  # where it ran does not change what it predicts
    key = _difference(before, now)
    if key:
        raise ConfigError(f"--out {out_dir} holds fold(s) {sorted(kept)} of another k-fold run ({key} was "
                          f"{get_path(before, key)!r}, is {get_path(now, key)!r}): their predictions cannot be "
                          "combined with this run's. Add folds with the same config, --n-folds and --fold-seed, run "
                          "every fold to replace them, or give a new --out")
    return kept


def _difference(a, b, key=""):
    """The first dotted key at which two configs differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        return next((d for k in sorted(set(a) | set(b), key=str)
                     for d in [_difference(a.get(k), b.get(k), f"{key}.{k}" if key else str(k))] if d), None)
    return None if a == b else key


def _new_dir(base):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out, i = base / stamp, 0
    while out.exists():
        i += 1
        out = base / f"{stamp}-{i}"
    return out


def main(argv=None):
    p = add_config_args(parser("Train all folds, write out-of-fold predictions and a fold-ensemble submission."))
    p.add_argument("--folds", nargs="+", type=int_in(0), help="folds to run (default: all); folds that an earlier "
                                                                "call wrote into --out are kept and combined")
    p.add_argument("--n-folds", type=int_in(2), help="number of folds (default: the dataset's n_folds, else 5)")
    p.add_argument("--fold-seed", type=int, help="seed of the folds (default: the dataset's split_seed, else 0)")
    p.add_argument("--out", help="output folder (default: <save_dir>/kfold/<name>/<run_id>); give an earlier "
                                 "run's to add folds to it")
    args = p.parse_args(argv)
    if not args.config:
        p.error("give --config")
    from logger import setup_logging

    setup_logging()
    try:
        cfg = resolve(args, None, (("bs", "data.train.loader.batch_size"), ("device", "device")))
        run_kfold(cfg, args.folds, args.out, device=args.device or cfg.get("device"), n_folds=args.n_folds,
                  seed=args.fold_seed)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
