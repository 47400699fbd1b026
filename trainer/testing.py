"""Evaluate a checkpoint: metrics JSON plus per-sample predictions from the configured writers."""
import json
import logging
from pathlib import Path

from logger.figures import save_artifacts
from logger.report import test_report
from model.metrics.segmentation import TUNE_GRID
from utils.builder import build
from utils.checkpoint import load_checkpoint, load_weights, save_checkpoint
from utils.errors import CheckpointError, ConfigError
from utils.registry import WRITERS, import_builtins

from . import build as B
from .classes import labels_of, resolve_classes
from .evaluator import evaluate
from .options import TrainerOptions

log = logging.getLogger("facetrain")
WEIGHTS = ("auto", "model", "ema", "swa")


def checkpoint_config(path):
    """The config a checkpoint was trained with (plain dict inside the file)."""
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("config"), dict):
        raise CheckpointError(f"{path}: holds no config; give --config to say how to build the model")
    return ckpt["config"]


def stands_for(ckpt):
    """The weights a checkpoint file stands for: "swa" (model_swa.pth), "ema" (the run monitored
    val_ema/*) or "model". Files written before this was recorded are told by their monitor."""
    if ckpt.get("weights") in ("model", "ema", "swa"):
        return ckpt["weights"]
    monitor = (ckpt.get("monitor") or {}).get("key") or ""
    return "ema" if monitor.startswith("val_ema/") and ckpt.get("ema") else "model"


def pick_weights(ckpt, which):
    """(name, state dict): 'auto' takes the weights the file stands for (see stands_for)."""
    own = stands_for(ckpt)
    which = own if which == "auto" else which
    if which not in WEIGHTS:
        raise ConfigError(f"weights: {which!r} is not one of {list(WEIGHTS)}")
    if (which == "swa") != (own == "swa"):
        raise CheckpointError("--weights swa: only model_swa.pth holds SWA weights" if which == "swa" else
                              f"--weights {which}: this is an SWA checkpoint; it holds the averaged weights only "
                              "(use --weights auto or swa)")
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


def check_labels(cfg, dataset, ckpt, checkpoint):
    """The data's classes are the ones the model was trained on, and the config's copies agree with them."""
    trained, found = ckpt.get("labels"), labels_of(dataset)
    if trained and found and found != trained:
        raise ConfigError(f"the {dataset.split if hasattr(dataset, 'split') else ''} data's classes {found} are not "
                          f"the ones {checkpoint} was trained on, {trained}: predictions would be misnamed. Point "
                          "data.dataset.args.root at data with the same classes")
    resolve_classes(cfg, dataset)


def configured_threshold(cfg):
    """(threshold, config key) of the first metric with a decision threshold, else (None, None)."""
    for i, m in enumerate(B.build_metrics(cfg).metrics):
        if isinstance(getattr(m, "threshold", None), float):
            return m.threshold, f"metrics.{i}.args.threshold"
    return None, None


def decision_threshold(cfg, ckpt, which, explicit=None):
    """(threshold, where it comes from) a checkpoint's weights are used at, or (None, None) for models
    without one. The one rule for test.py, the predictor, the web demo and the export: an explicit
    value; else a metric threshold changed in `cfg` against the checkpoint's own config (an
    override); else the decision stored with these weights (the metric's threshold, or the tuned
    one); else the config's metric threshold."""
    if explicit is not None:
        if not 0 < float(explicit) < 1:
            raise ConfigError(f"--threshold: expected a number between 0 and 1, got {explicit}")
        return float(explicit), "--threshold"
    value, key = configured_threshold(cfg)
    if value is None:
        return None, None
    trained = configured_threshold(ckpt["config"])[0] if isinstance(ckpt.get("config"), dict) else None
    stored = (ckpt.get("decisions") or {}).get(which) or {}
    if trained is not None and value != trained:
        return value, f"{key} (overridden; the checkpoint's config has {trained})"
    if stored.get("threshold") is not None:
        return float(stored["threshold"]), f"stored in the checkpoint ({which} weights): {stored.get('source', '')}"
    return value, key


def run_test(cfg, checkpoint, split=None, out_dir=None, weights="auto", tune_threshold=False, device="auto",
             threshold=None):
    """Returns the result dict also written to <out_dir>/metrics.json. `threshold` (or --tune-threshold,
    which also stores the tuned value in the checkpoint) overrides the model's decision threshold."""
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

    if tune_threshold:
        if threshold is not None:
            raise ConfigError("give --threshold or --tune-threshold, not both")
        threshold = _tune(cfg, model, metrics, device, common, checkpoint, ckpt, which)
        source = "tuned on val by --tune-threshold (now stored in the checkpoint)"
    else:
        threshold, source = decision_threshold(cfg, ckpt, which, threshold)
    writers = [build(WRITERS, w, f"test.writers.{i}", out_dir=out_dir)
               for i, w in enumerate((cfg.get("test") or {}).get("writers", []))]
    if threshold is not None:
        log.info(f"decision threshold {threshold:g} ({source})")
        metrics.set_threshold(threshold)
        for w in writers:
            if hasattr(w, "set_threshold"):
                w.set_threshold(threshold)
    _, loader = B.build_data(cfg, split, device)
    check_labels(cfg, loader.dataset, ckpt, checkpoint)
    result = evaluate(model, loader, metrics=metrics, writers=writers, prefix=split, **common)
    labelled = any(k != f"{split}/loss" for k in result)
    artifacts = save_artifacts(metrics.artifacts(), out_dir) if labelled else []
    options = TrainerOptions.from_config(cfg.get("trainer"))
    if options.report:  # the grid of the split's first samples (logger/report.py), at the masks' threshold
        grid = test_report(out_dir, model=model, dataset=loader.dataset, inferer=inferer, device=device,
                           metrics=metrics, samples=options.report_samples, threshold=threshold)
        artifacts += [str(grid)] if grid is not None else []
    report = {
        "checkpoint": str(checkpoint), "epoch": ckpt.get("epoch"), "weights": which, "split": split,
        "samples": len(loader.dataset), "threshold": threshold, "threshold_source": source,
        "metrics": {k.split("/", 1)[1]: v for k, v in result.items()},
        "outputs": [w.close() for w in writers] + artifacts,
    }
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2))
    log.info(f"{split}: " + "  ".join(f"{k} {v:.4f}" for k, v in report["metrics"].items()))
    log.info(f"wrote {out_dir / 'metrics.json'}")
    return report


def _tune(cfg, model, metrics, device, common, checkpoint, ckpt, which):
    """Pick the decision threshold with the best F1 on the validation split and store it in the
    checkpoint (atomically), so the predictor, the web demo and the export use it from now on."""
    tunable = [m for m in metrics.metrics if hasattr(m, "best_threshold")]
    if not tunable:
        raise ConfigError("--tune-threshold: none of this config's metrics has a threshold to tune")
    for m in tunable:
        m.set_thresholds(TUNE_GRID)
    _, loader = B.build_data(cfg, "val", device)
    evaluate(model, loader, metrics=metrics, prefix="val", **common)
    threshold, f1 = tunable[0].best_threshold()
    ckpt["decisions"] = {**(ckpt.get("decisions") or {}), which: {
        "threshold": threshold, "source": f"tuned on val by test.py --tune-threshold (F1 {f1:.4f})"}}
    save_checkpoint(ckpt, checkpoint)
    log.info(f"tuned threshold on val: {threshold} (F1 {f1:.4f}); stored in {checkpoint}")
    return threshold
