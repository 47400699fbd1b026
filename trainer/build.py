"""From a resolved config dict to datasets, loaders, model, loss, metrics and inferer.

Used by training and test.py alike. Everything is checked here, before a run directory
exists or a step is taken.
"""
import difflib
import logging

import torch

from base import MetricCollection
from data_loader import build_loader, build_transform
from utils.builder import build, check_block
from utils.checkpoint import load_checkpoint, load_weights, model_state
from utils.config import merge
from utils.errors import ConfigError
from utils.registry import BATCH_TRANSFORMS, DATASETS, INFERERS, LOSSES, METRICS, MODELS

log = logging.getLogger("facetrain")

TOP_LEVEL = {
    "name": "run name: outputs go to saved/models/<name>/ and saved/log/<name>/",
    "description": "free text",
    "seed": "one seed for Python, NumPy, torch and data order",
    "deterministic": "torch deterministic algorithms",
    "device": "auto, cpu, cuda, cuda:N or mps",
    "data": "datasets, transforms and loaders per split",
    "model": "the model block",
    "loss": "the loss block",
    "metrics": "a list of metric blocks",
    "optimizer": "the optimizer block",
    "lr_scheduler": "the LR scheduler block (optional)",
    "trainer": "training options (trainer/options.py)",
    "inference": "how the model is applied at validation/test (model/inference.py)",
    "load_from": "weights to start from: a path (a * in it takes the newest match), or {path, strict}",
    "test": "test.py options: writers",
    "imports": "modules to import first, so that the components they register can be named (your own code)",
}
DATA_KEYS = ("dataset", "loader", "train", "val", "test")
SPLIT_KEYS = ("dataset", "transform", "loader", "batch_transform")


def validate(cfg, training=True):
    """Fail fast on the config's shape: unknown top-level keys, missing sections."""
    for key in cfg:
        if key not in TOP_LEVEL:
            close = difflib.get_close_matches(key, TOP_LEVEL, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{key}: unknown top-level config key.{hint} Keys: {sorted(TOP_LEVEL)}")
    import_modules(cfg)
    required = ["name", "data", "model"] + (["loss", "optimizer"] if training else [])
    for key in required:
        if key not in cfg:
            raise ConfigError(f"{key}: missing ({TOP_LEVEL[key]})")
    if not isinstance(cfg["name"], str) or not cfg["name"] or "/" in cfg["name"]:
        raise ConfigError(f"name: expected a non-empty string without '/', got {cfg['name']!r}")
    if "seed" in cfg and (not isinstance(cfg["seed"], int) or isinstance(cfg["seed"], bool)):
        raise ConfigError(f"seed: expected an integer, got {cfg['seed']!r}")
    if "deterministic" in cfg and not isinstance(cfg["deterministic"], bool):
        raise ConfigError(f"deterministic: expected true or false, got {cfg['deterministic']!r}")
    data = cfg["data"]
    if not isinstance(data, dict):
        raise ConfigError(f"data: expected a mapping, got {data!r}")
    for key in data:
        if key not in DATA_KEYS:
            raise ConfigError(f"data.{key}: unknown key; data accepts {list(DATA_KEYS)}")
    for split in ("train", "val", "test"):
        for key in data.get(split) or {}:
            if key == "batch_transform" and split != "train":
                raise ConfigError(f"data.{split}.batch_transform: batch transforms (mixup, ...) apply to data.train "
                                  "only")
            if key not in SPLIT_KEYS:
                raise ConfigError(f"data.{split}.{key}: unknown key; a split accepts {list(SPLIT_KEYS)}")
    if training and "train" not in data:
        raise ConfigError("data.train: missing; training needs a train split")
    if not isinstance(cfg.get("metrics", []), list):
        raise ConfigError(f"metrics: expected a list of metric blocks, got {cfg['metrics']!r}")


def import_modules(cfg):
    """Import the modules named under `imports` (user code that registers components)."""
    import importlib

    modules = cfg.get("imports") or []
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        raise ConfigError(f"imports: expected a list of module names, got {modules!r}")
    for i, name in enumerate(modules):
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise ConfigError(f"imports.{i}: cannot import '{name}' ({e}); is it on PYTHONPATH?") from e


def resolve_device(spec="auto"):
    """auto picks CUDA, then MPS, then CPU. Under torchrun each process takes cuda:LOCAL_RANK."""
    from utils import dist

    spec = spec or "auto"
    if spec == "auto":
        if torch.cuda.is_available():
            spec = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            spec = "mps"
        else:
            spec = "cpu"
    try:
        device = torch.device(spec)
    except RuntimeError as e:
        raise ConfigError(f"device: {spec!r} is not a device; use auto, cpu, cuda, cuda:N or mps") from e
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device: {spec!r} requested but CUDA is not available here; use auto or cpu")
        if device.index is None:
            device = torch.device("cuda", dist.local_rank())
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device: 'mps' requested but MPS is not available here; use auto or cpu")
    return device


def split_config(cfg, split):
    """The dataset block, transform list and loader options of one split, defaults merged in."""
    data = cfg["data"]
    own = data.get(split)
    if own is None:
        present = [k for k in data if k in ("train", "val", "test")]
        raise ConfigError(f"data.{split}: missing; splits present: {present}")
    dataset = merge(data.get("dataset") or {}, own.get("dataset") or {})
    loader = merge(data.get("loader") or {}, own.get("loader") or {})
    transform = own.get("transform")
    if "transform" not in own and split == "test":
        transform = (data.get("val") or {}).get("transform")  # test sees what validation sees
    return dataset, transform, loader


def build_dataset(cfg, split):
    dataset_cfg, transform_cfg, _ = split_config(cfg, split)
    transform = build_transform(transform_cfg, f"data.{split}.transform")
    block = check_block(dataset_cfg, f"data.{split}.dataset")
    return build(DATASETS, block, f"data.{split}.dataset", transform=transform)


def build_data(cfg, split, device, train=False):
    """(dataset, loader) of one split."""
    dataset = build_dataset(cfg, split)
    _, _, loader_cfg = split_config(cfg, split)
    loader = build_loader(dataset, loader_cfg, f"data.{split}.loader", train=train, seed=cfg.get("seed", 42),
                          device=device)
    return dataset, loader


def build_model(cfg, load_weights_from_config=True):
    model = build(MODELS, cfg["model"], "model")
    src = cfg.get("load_from") if load_weights_from_config else None
    if src:
        spec = {"path": src} if isinstance(src, str) else dict(src)
        if set(spec) - {"path", "strict"} or "path" not in spec:
            raise ConfigError(f"load_from: expected a path or {{\"path\": ..., \"strict\": true}}, got {src!r}")
        path = newest_match(spec["path"])
        state = model_state(load_checkpoint(path))
        report = load_weights(model, state, strict=spec.get("strict", True), source=path, widen=True)
        widened = f", input channels widened (new ones start at zero): {report['widened']}" if report["widened"] else ""
        log.info(f"weights from {path}: missing {len(report['missing'])}, unexpected {len(report['unexpected'])}, "
                 f"shape mismatch {len(report['shape_mismatch'])}{widened}")
    return model


def newest_match(path):
    """`path` itself, or, when it holds a `*` (a recipe that starts from another's best checkpoint,
    `saved/models/<name>/*/model_best.pth`), the most recently written file it matches."""
    if "*" not in str(path):
        return path
    import glob
    import os

    matches = glob.glob(str(path))
    if not matches:
        raise ConfigError(f"load_from: no file matches {path}; train the run it names first, or give the "
                          "checkpoint's path (-o load_from=saved/models/<name>/<run_id>/model_best.pth)")
    newest = max(matches, key=os.path.getmtime)
    log.info(f"load_from: {path} -> {newest} (the newest of {len(matches)})")
    return newest


def build_criterion(cfg):
    return build(LOSSES, cfg["loss"], "loss")


def build_metrics(cfg):
    metrics = [build(METRICS, m, f"metrics.{i}") for i, m in enumerate(cfg.get("metrics") or [])]
    try:
        return MetricCollection(metrics)
    except ValueError as e:
        raise ConfigError(f"metrics: {e}") from e


def build_batch_transform(cfg):
    """Optional transform of whole training batches on the device (mixup, cutmix): data.train.batch_transform."""
    block = (cfg["data"].get("train") or {}).get("batch_transform")
    return build(BATCH_TRANSFORMS, block, "data.train.batch_transform") if block else None


def build_inferer(cfg):
    inferer = build(INFERERS, cfg.get("inference") or {"type": "Direct"}, "inference")
    if (cfg.get("model") or {}).get("type") == "PartitionedSegmenter" and getattr(inferer, "divisor", 1) > 1:
        raise ConfigError("inference.args.divisor: the partitioned model places its regions as fractions of the "
                          "image size, so the image must reach it unpadded (it pads each part itself, "
                          "model.args.divisor); use Direct with divisor 1")
    return inferer


def check_monitor(monitor_key, metrics, criterion, ema):
    """The monitored key must be one the run will log: checked before training starts."""
    if monitor_key is None:
        return
    names = ["loss"] + list(getattr(criterion, "names", lambda: [])()) + metrics.names()
    prefixes = ["train", "val"] + (["val_ema"] if ema else [])
    valid = [f"{p}/{n}" for p in prefixes for n in names]
    if monitor_key not in valid:
        close = difflib.get_close_matches(monitor_key, valid, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"trainer.monitor: '{monitor_key}' is not logged by this run.{hint} Logged: {valid}")
