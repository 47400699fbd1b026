"""Train every fold of a k-fold split, write out-of-fold predictions and a fold-ensemble submission.

    python tools/kfold.py --config configs/mask_multihead_effnet.json
    python tools/kfold.py --config configs/mask_multihead_effnet.json --folds 0 1 -o data.dataset.args.n_folds=5

Folds are the dataset's person-grouped folds (`data.dataset.args.n_folds`, saved to the folds
file on first use). Fold k trains as run `<name>_fold<k>` with `fold: k`, then test.py's logic
predicts its held-out persons (out-of-fold) with the best checkpoint, and the test split when
the config has one. Writes to `<save_dir>/kfold/<name>/<run_id>/`:

    fold<k>/oof/probabilities.csv, fold<k>/test/probabilities.csv     per fold
    oof_probabilities.csv, oof_predictions.csv                         every training image once
    ensemble/submission.csv, ensemble/probabilities.csv                mean of the folds' test probabilities
    summary.json                                                       best score per fold, out-of-fold F1
"""
import copy
import datetime
import inspect
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from tools.ensemble import average, columns, read_probabilities, write_outputs  # noqa: E402
from tools.score_submission import score  # noqa: E402
from utils.cli import add_config_args, parser, resolve  # noqa: E402
from utils.config import get_path, set_path  # noqa: E402
from utils.errors import ConfigError, DataError, USER_ERRORS  # noqa: E402

log = logging.getLogger("facetrain")
WRITER = {"type": "MaskSubmissionWriter"}


def fold_config(cfg, k):
    """The config of fold k: its own run name and the dataset's `fold`."""
    cfg = copy.deepcopy(cfg)
    set_path(cfg, "data.dataset.args.fold", k)
    cfg["name"] = f"{cfg['name']}_fold{k}"
    writers = get_path(cfg, "test.writers") or []
    if not any(isinstance(w, dict) and w.get("type") == WRITER["type"] for w in writers):
        set_path(cfg, "test.writers", [*writers, dict(WRITER)])  # the probabilities are what k-fold needs
    return cfg


def n_folds_of(cfg):
    from data_loader.mask_faces import MaskFaceDataset

    default = inspect.signature(MaskFaceDataset).parameters["n_folds"].default
    return get_path(cfg, "data.dataset.args.n_folds", default)


def run_kfold(cfg, folds=None, out_dir=None, device=None):
    """Train and predict the given folds (default: all); returns the summary dict."""
    from trainer import run_test, run_training

    n = n_folds_of(cfg)
    folds = list(range(n)) if folds is None else list(folds)
    if not folds or any(not 0 <= k < n for k in folds):
        raise ConfigError(f"--folds: expected fold numbers in 0..{n - 1}, got {folds}")
    save_dir = get_path(cfg, "trainer.save_dir", "saved")
    out_dir = Path(out_dir) if out_dir else _new_dir(Path(save_dir) / "kfold" / cfg["name"])
    out_dir.mkdir(parents=True, exist_ok=True)
    has_test = "test" in cfg["data"]
    summary = {"config": cfg["name"], "n_folds": n, "folds": {}}
    oof, tests = [], []
    for k in folds:
        fcfg = fold_config(cfg, k)
        log.info(f"=== fold {k} of {n} ===")
        trainer, result = run_training(fcfg)
        best = trainer.paths.models / "model_best.pth"
        if not best.exists():
            best = trainer.paths.models / "model_last.pth"
        report = run_test(fcfg, best, split="val", out_dir=out_dir / f"fold{k}" / "oof", device=device)
        oof.append(out_dir / f"fold{k}" / "oof" / "probabilities.csv")
        summary["folds"][k] = {"run_dir": str(trainer.paths.models), "checkpoint": str(best),
                               "best": result["best"], "monitor": result["monitor"], "val": report["metrics"]}
        if has_test:
            run_test(fcfg, best, split="test", out_dir=out_dir / f"fold{k}" / "test", device=device)
            tests.append(out_dir / f"fold{k}" / "test" / "probabilities.csv")
    summary.update(_out_of_fold(oof, out_dir))
    if tests:
        frames = [read_probabilities(p) for p in tests]
        template = Path(out_dir / f"fold{folds[0]}" / "test" / "submission.csv")
        by = "class" if all("class_0" in f.columns for f in frames) else "heads"
        paths = write_outputs(average(frames, by=by, names=[str(p) for p in tests]), out_dir / "ensemble",
                              template if template.exists() else None)
        summary["ensemble"] = paths
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    log.info(f"k-fold done: {out_dir / 'summary.json'}"
             + (f"; out-of-fold macro F1 {summary['oof']['f1']:.4f}" if "oof" in summary else ""))
    return summary


def _new_dir(base):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out, i = base / stamp, 0
    while out.exists():
        i += 1
        out = base / f"{stamp}-{i}"
    return out


def _out_of_fold(paths, out_dir):
    """Concatenate the folds' held-out predictions: every training image exactly once."""
    frames = [pd.read_csv(p, dtype={"ImageID": str}, keep_default_na=False) for p in paths]
    oof = pd.concat(frames, ignore_index=True)
    if oof["ImageID"].duplicated().any():
        twice = oof["ImageID"][oof["ImageID"].duplicated()].iloc[0]
        raise DataError(f"image {twice} is in two folds' held-out sets; the folds file overlaps")
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


def main(argv=None):
    p = add_config_args(parser("Train all folds, write out-of-fold predictions and a fold-ensemble submission."))
    p.add_argument("--folds", nargs="+", type=int, help="folds to run (default: all)")
    p.add_argument("--out", help="output folder (default: <save_dir>/kfold/<name>/<run_id>)")
    args = p.parse_args(argv)
    if not args.config:
        p.error("give --config")
    from logger import setup_logging

    setup_logging()
    try:
        cfg = resolve(args, None, (("bs", "data.train.loader.batch_size"), ("device", "device")))
        run_kfold(cfg, args.folds, args.out, device=args.device or cfg.get("device"))
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
