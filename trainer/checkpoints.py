"""A training checkpoint as the rest of the code reads it: its config, the weights it stands for, the
model built from them, and the decision (threshold) those weights are used at.

The file format itself (atomic writes, weights_only reads, loading weights into a model) is
utils/checkpoint.py. A checkpoint holds one decision per set of weights, in one field:

    "decisions": {"model": {"threshold": 0.35, "source": "..."}, "ema": {...}}   (or {"swa": ...})

written by the Trainer after each validation (the metrics' `decision()`) and by `with_decision`
(test.py --tune-threshold, into a copy); `decision_threshold` is the one reader. Files of earlier
versions also carry a copy under `extra.decisions`; the two are equal and the top-level one is read.
"""
import inspect

from utils.checkpoint import load_checkpoint, load_weights
from utils.errors import CheckpointError, ConfigError
from utils.registry import METRICS

from . import build as B

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


def decisions(ckpt):
    """{weights: decision} stored in a checkpoint (earlier versions' files: the same under extra)."""
    return dict(ckpt.get("decisions") or (ckpt.get("extra") or {}).get("decisions") or {})


def with_decision(ckpt, which, decision):
    """A copy of `ckpt` whose `which` weights are used at `decision` ({"threshold", "source"})."""
    out = dict(ckpt, decisions={**decisions(ckpt), which: dict(decision)})
    if "decisions" in (out.get("extra") or {}):  # an earlier version's second copy: one field from now on
        out["extra"] = {k: v for k, v in out["extra"].items() if k != "decisions"}
    return out


def configured_threshold(cfg):
    """(threshold, config key) of the first metric that takes a decision threshold (its default when the
    config leaves it out), else (None, None). Read from the config: no metric is built."""
    for i, block in enumerate((cfg or {}).get("metrics") or []):
        if isinstance(block, dict) and block.get("type") in METRICS:
            param = inspect.signature(METRICS.get(block["type"])).parameters.get("threshold")
            if param is not None:
                return float((block.get("args") or {}).get("threshold", param.default)), f"metrics.{i}.args.threshold"
    return None, None


def decision_threshold(cfg, ckpt=None, which="model", explicit=None):
    """(threshold, where it comes from) a model's weights are used at, or (None, None) for a model its
    metrics decide without one. The one rule for test.py, the predictor, the web demo, the export and
    the run report: an explicit value (--threshold); else a metric threshold that `cfg` changes against
    the checkpoint's own config (an override); else the decision stored with these weights; else the
    config's metric threshold."""
    if explicit is not None:
        if not 0 < float(explicit) < 1:
            raise ConfigError(f"--threshold: expected a number between 0 and 1, got {explicit}")
        return float(explicit), "--threshold"
    value, key = configured_threshold(cfg)
    if value is None:
        return None, None
    ckpt = ckpt or {}
    trained = configured_threshold(ckpt.get("config"))[0]
    if trained is not None and value != trained:
        return value, f"{key} (overridden; the checkpoint's config has {trained})"
    stored = decisions(ckpt).get(which) or {}
    if stored.get("threshold") is not None:
        return float(stored["threshold"]), f"stored in the checkpoint ({which} weights): {stored.get('source', '')}"
    return value, key
