"""Evaluate a checkpoint: metrics JSON plus per-sample predictions from the configured writers."""
import json
import logging
from pathlib import Path

from logger.figures import save_artifacts
from logger.report import test_report
from model.metrics.segmentation import TUNE_GRID
from utils.builder import build
from utils.checkpoint import save_checkpoint
from utils.errors import ConfigError
from utils.registry import WRITERS, import_builtins

from . import build as B
from .checkpoints import decision_threshold, load_model, with_decision
from .classes import labels_of, resolve_classes
from .evaluator import evaluate
from .options import TrainerOptions

log = logging.getLogger("facetrain")


def check_labels(cfg, dataset, ckpt, checkpoint):
    """The data's classes are the ones the model was trained on, and the config's copies agree with them."""
    trained, found = ckpt.get("labels"), labels_of(dataset)
    if trained and found and found != trained:
        raise ConfigError(f"the {dataset.split if hasattr(dataset, 'split') else ''} data's classes {found} are not "
                          f"the ones {checkpoint} was trained on, {trained}: predictions would be misnamed. Point "
                          "data.dataset.args.root at data with the same classes")
    resolve_classes(cfg, dataset)


def run_test(cfg, checkpoint, split=None, out_dir=None, weights="auto", tune_threshold=False, device="auto",
             threshold=None, tuned_checkpoint=None):
    """Returns the result dict also written to <out_dir>/metrics.json. `threshold` overrides the model's
    decision threshold; `tune_threshold` picks it on val and saves a copy of the checkpoint that holds it
    (`tuned_checkpoint`, by default <checkpoint stem>_tuned.pth beside it): the checkpoint evaluated is
    never rewritten."""
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
        threshold, source, tuned_checkpoint = _tune(cfg, model, metrics, device, common, checkpoint, ckpt, which,
                                                    tuned_checkpoint)
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
    if tune_threshold:
        report["tuned_checkpoint"] = str(tuned_checkpoint)
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2))
    log.info(f"{split}: " + "  ".join(f"{k} {v:.4f}" for k, v in report["metrics"].items()))
    log.info(f"wrote {out_dir / 'metrics.json'}")
    return report


def _tune(cfg, model, metrics, device, common, checkpoint, ckpt, which, out=None):
    """(threshold, source, path of the copy): the decision threshold with the best F1 on the validation
    split, saved with these weights in a copy of the checkpoint (atomically) for the predictor, the web
    demo, the export and later test.py runs to be pointed at."""
    tunable = [m for m in metrics.metrics if hasattr(m, "best_threshold")]
    if not tunable:
        raise ConfigError("--tune-threshold: none of this config's metrics has a threshold to tune")
    out = Path(out) if out else Path(checkpoint).with_name(f"{Path(checkpoint).stem}_tuned.pth")
    if out.resolve() == Path(checkpoint).resolve():
        raise ConfigError(f"--tuned-checkpoint {out}: that is the checkpoint being evaluated, which is never "
                          "rewritten; name another file")
    for m in tunable:
        m.set_thresholds(TUNE_GRID)
    _, loader = B.build_data(cfg, "val", device)
    evaluate(model, loader, metrics=metrics, prefix="val", **common)
    threshold, f1 = tunable[0].best_threshold()
    source = f"tuned on val by test.py --tune-threshold (F1 {f1:.4f})"
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(with_decision(ckpt, which, {"threshold": threshold, "source": source}), out)
    log.info(f"tuned threshold on val: {threshold} (F1 {f1:.4f}); saved with the {which} weights in {out}")
    return threshold, f"{source}; saved in {out}", out
