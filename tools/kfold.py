"""Train every fold of a k-fold split, write out-of-fold predictions (and, for the mask data and image
tables, a fold ensemble of the test split).

    python tools/kfold.py --config configs/mask_multihead_effnet.json
    python tools/kfold.py --config configs/mask_multihead_effnet.json --folds 0 1 -o data.dataset.args.n_folds=5
    python tools/kfold.py --config configs/action_quick.json --n-folds 4
    python tools/kfold.py --config configs/wrinkle_quick.json --n-folds 3

Every labelled sample outside the test split is predicted once by the fold model that did not
train on it (tools/kfold_data.py: person-grouped folds for the mask data, stratified clip folds,
image folds, an image table's own group folds). Fold k trains as run `<name>_fold<k>`, then test.py's
logic predicts its held-out samples with the best checkpoint, and for the mask data and image tables
the test split too. Writes to `<save_dir>/kfold/<name>/<run_id>/`:

    fold<k>/oof/, fold<k>/test/                   per fold: the predictions test.py writes
    oof_probabilities.csv, oof_predictions.csv    mask data: every training image once
    oof_predictions.csv                           action clips: every train and val clip once
    oof_predictions.csv, oof_probabilities.csv    image tables: every train and val image once
    ensemble/predictions.csv                      image tables: mean of the folds' test predictions
    oof_segmentation.csv                          segmentation: image, mask and probability map per image
    ensemble/submission.csv, ensemble/probabilities.csv    mask data: mean of the folds' test probabilities
    config.json, labels.json, summary.json        the config, the classes trained on, best score per fold,
                                                  out-of-fold scores

Folds run in separate calls into one --out (`--folds 0`, later `--folds 1`) add up: the combined files
cover every fold run so far (the log names those still missing); a call whose config, --n-folds or
--fold-seed differs from the kept folds' is refused. A test split the config declares but the data
lacks is found before the first fold trains: k-fold then skips the test-set ensemble and says so.
tools/find_label_errors.py reads this folder.
"""
import copy
import datetime
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.ensemble import average, read_probabilities, write_outputs
from tools.kfold_data import fold_plan, has_samples
from utils.cli import add_config_args, int_in, parser, resolve
from utils.config import get_path, save_config, set_path
from utils.errors import USER_ERRORS, ConfigError, DataError

log = logging.getLogger("facetrain")


def fold_config(cfg, k, plan):
    """The config of fold k: its own run name, the plan's data, and the writer of its predictions."""
    cfg = plan.config(k)
    cfg["name"] = f"{cfg['name']}_fold{k}"
    writers = get_path(cfg, "test.writers") or []
    if not any(isinstance(w, dict) and w.get("type") == plan.writer["type"] for w in writers):
        set_path(cfg, "test.writers", [*writers, copy.deepcopy(plan.writer)])  # what k-fold collects
    return cfg


def run_kfold(cfg, folds=None, out_dir=None, device=None, n_folds=None, seed=None):
    """Train and predict the given folds (default: all) into `out_dir`, where the folds an earlier call
    wrote (same config, number of folds and seed) are kept and combined with them; returns the summary."""
    from trainer import run_test, run_training
    from utils.checkpoint import load_checkpoint

    save_dir = get_path(cfg, "trainer.save_dir", "saved")
    out_dir = Path(out_dir) if out_dir else _new_dir(Path(save_dir) / "kfold" / cfg["name"])
    plan = fold_plan(cfg, out_dir, n_folds, seed)
    n = plan.n
    if not isinstance(n, int) or n < 2:
        raise ConfigError(f"--n-folds (data.dataset.args.n_folds): k-fold needs at least 2 folds, got {n}")
    folds = list(range(n)) if folds is None else sorted(set(folds))
    if not folds or any(not 0 <= k < n for k in folds):
        raise ConfigError(f"--folds: expected fold numbers in 0..{n - 1}, got {folds}")
    summary = {"config": cfg["name"], "n_folds": n, "fold_seed": plan.seed,
               "folds": _earlier_folds(out_dir, cfg, n, plan.seed, folds)}
    has_test = plan.test and "test" in cfg["data"] and has_samples(cfg, "test")  # known before any fold trains
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out_dir / "config.json")
    for k in folds:
        fcfg = fold_config(cfg, k, plan)
        log.info(f"=== fold {k} of {n} ===")
        trainer, result = run_training(fcfg)
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
    summary.update(plan.collect({k: out_dir / f"fold{k}" / "oof" / plan.predictions for k in done}, out_dir))
    tests = [p for k in done for p in [out_dir / f"fold{k}" / "test" / plan.predictions] if has_test and p.is_file()]
    if tests and hasattr(plan, "ensemble"):  # image tables: their own files averaged
        summary["ensemble"] = plan.ensemble(tests, out_dir / "ensemble")
    elif tests:
        frames = [read_probabilities(p) for p in tests]
        template = tests[0].parent / "submission.csv"
        by = "class" if all("class_0" in f.columns for f in frames) else "heads"
        paths = write_outputs(average(frames, by=by, names=[str(p) for p in tests]), out_dir / "ensemble",
                              template if template.exists() else None)
        summary["ensemble"] = paths
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    missing = sorted(set(range(n)) - set(done))
    log.info(f"k-fold done: {out_dir / 'summary.json'}; folds {list(done)} of {n}"
             + (f"; out-of-fold macro F1 {summary['oof']['f1']:.4f}" if "oof" in summary else "")
             + (f"; folds {missing} are not run yet: the out-of-fold files and the ensemble cover the others only"
                if missing else ""))
    return summary


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
