"""Evaluate a checkpoint: metrics JSON plus per-sample predictions from the configured writers."""
import json
import logging
from pathlib import Path

import numpy as np

from logger.figures import save_artifacts
from logger.report import test_report
from utils.builder import build
from utils.checkpoint import load_checkpoint, load_weights
from utils.errors import CheckpointError, ConfigError
from utils.registry import WRITERS, import_builtins

from . import build as B
from .evaluator import evaluate
from .options import TrainerOptions

log = logging.getLogger("facetrain")
TUNE_GRID = [round(float(t), 2) for t in np.arange(0.05, 0.96, 0.05)]


def checkpoint_config(path):
    """The config a checkpoint was trained with (plain dict inside the file)."""
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("config"), dict):
        raise CheckpointError(f"{path}: holds no config; give --config to say how to build the model")
    return ckpt["config"]


def pick_weights(ckpt, which):
    """'auto' uses EMA weights when the run monitored them (val_ema/...), else the model's."""
    if which == "auto":
        monitor = (ckpt.get("monitor") or {}).get("key") or ""
        which = "ema" if monitor.startswith("val_ema/") and ckpt.get("ema") else "model"
    if which == "ema":
        if not ckpt.get("ema"):
            raise CheckpointError("--weights ema: this checkpoint has no EMA weights (trainer.ema was off)")
        # AveragedModel keeps the model under "module." plus a step counter.
        return which, {k[len("module."):]: v for k, v in ckpt["ema"].items() if k.startswith("module.")}
    return which, ckpt["model"]


def load_model(checkpoint, cfg=None, weights="auto"):
    """(model with the checkpoint's weights, the checkpoint, which weights) - built from `cfg`, by
    default the config inside the checkpoint."""
    ckpt = load_checkpoint(checkpoint, map_location="cpu")
    if cfg is None:
        if not isinstance(ckpt, dict) or not isinstance(ckpt.get("config"), dict) or "model" not in ckpt:
            raise CheckpointError(f"{checkpoint}: not a training checkpoint of this project (it needs 'model' and "
                                  "'config'); give a model_best.pth / model_last.pth written by train.py")
        cfg = ckpt["config"]
    model = B.build_model(cfg, load_weights_from_config=False)
    which, state = pick_weights(ckpt, weights)
    load_weights(model, state, strict=True, source=f"{checkpoint} ({which} weights)")
    return model, ckpt, which


def run_test(cfg, checkpoint, split=None, out_dir=None, weights="auto", tune_threshold=False, device="auto"):
    """Returns the result dict also written to <out_dir>/metrics.json."""
    import_builtins()
    B.validate(cfg, training=False)
    device = B.resolve_device(device or cfg.get("device", "auto"))
    split = split or ("test" if "test" in cfg["data"] else "val")
    out_dir = Path(out_dir or Path(checkpoint).parent / f"test-{split}")
    out_dir.mkdir(parents=True, exist_ok=True)

    model, ckpt, which = load_model(checkpoint, cfg, weights)
    model.to(device).eval()
    criterion = None
    if cfg.get("loss"):
        criterion = B.build_criterion(cfg)
        if ckpt.get("criterion"):
            criterion.load_state_dict(ckpt["criterion"])  # e.g. the pos_weight estimated in training
        criterion.to(device)
    metrics = B.build_metrics(cfg).to(device)
    inferer = B.build_inferer(cfg)
    amp = (cfg.get("trainer") or {}).get("amp")
    common = dict(device=device, inferer=inferer, criterion=criterion, amp=amp)

    threshold = None
    if tune_threshold:
        threshold = _tune(cfg, model, metrics, device, common)
    writers = [build(WRITERS, w, f"test.writers.{i}", out_dir=out_dir)
               for i, w in enumerate((cfg.get("test") or {}).get("writers", []))]
    if threshold is not None:
        for w in writers:
            if hasattr(w, "set_threshold"):
                w.set_threshold(threshold)
    _, loader = B.build_data(cfg, split, device)
    B.check_class_names(cfg, loader.dataset)
    result = evaluate(model, loader, metrics=metrics, writers=writers, prefix=split, **common)
    labelled = any(k != f"{split}/loss" for k in result)
    artifacts = save_artifacts(metrics.artifacts(), out_dir) if labelled else []
    options = TrainerOptions.from_config(cfg.get("trainer"))
    if options.report:  # the grid of the split's first samples (logger/report.py)
        drawn = threshold if threshold is not None else next(  # the threshold of the saved masks
            (w.threshold for w in writers if getattr(w, "threshold", None) is not None), None)
        grid = test_report(out_dir, model=model, dataset=loader.dataset, inferer=inferer, device=device,
                           metrics=metrics, samples=options.report_samples, threshold=drawn)
        artifacts += [str(grid)] if grid is not None else []
    report = {
        "checkpoint": str(checkpoint), "epoch": ckpt.get("epoch"), "weights": which, "split": split,
        "samples": len(loader.dataset), "threshold": threshold,
        "metrics": {k.split("/", 1)[1]: v for k, v in result.items()},
        "outputs": [w.close() for w in writers] + artifacts,
    }
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2))
    log.info(f"{split}: " + "  ".join(f"{k} {v:.4f}" for k, v in report["metrics"].items()))
    log.info(f"wrote {out_dir / 'metrics.json'}")
    return report


def _tune(cfg, model, metrics, device, common):
    """Pick the decision threshold with the best F1 on the validation split."""
    tunable = [m for m in metrics.metrics if hasattr(m, "best_threshold")]
    if not tunable:
        raise ConfigError("--tune-threshold: none of this config's metrics has a threshold to tune")
    for m in tunable:
        m.set_thresholds(TUNE_GRID)
    _, loader = B.build_data(cfg, "val", device)
    evaluate(model, loader, metrics=metrics, prefix="val", **common)
    threshold, f1 = tunable[0].best_threshold()
    log.info(f"tuned threshold on val: {threshold} (F1 {f1:.4f})")
    for m in tunable:
        m.set_threshold(threshold)
    return threshold
