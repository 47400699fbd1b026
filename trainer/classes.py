"""The class list, named once: the dataset says what its labels are, and everything else takes them.

A dataset declares its labels by one of two attributes:
- `classes`: class names in id order, for one label per sample (an action clip, an image);
- `head_classes`: {head: class names}, for a dict of labels per sample (mask / gender / age).

`resolve_classes(cfg, dataset)` fills, in a copy of the config, what a component takes and the
config leaves out. A metric with `"key": "*"` becomes one metric per head of the data, and
MultiHeadLoss's `heads: {"*": block}` the loss of every head not named, so a multi-head recipe
runs on data with other heads when only the label columns change. It fills the model's `num_classes` or `heads`,
a metric's or writer's `num_classes` and `class_names` (per `key` for one head), a batch mixer's `num_classes`;
values the config gives must agree (a drifted copy would mislabel predictions without an error),
and per-class loss weights must have one value per class. The dataset's own list is pinned in `data.dataset.args`
where the dataset takes it, so every split and every later run numbers the classes the same way. The
resolved config travels in every checkpoint, with the labels themselves (`labels`), to test.py,
the predictor, the web demo and the export.
"""
import copy
import inspect

from utils.errors import ConfigError
from utils.registry import BATCH_TRANSFORMS, DATASETS, METRICS, MODELS, WRITERS

CLASS_WEIGHT_ARGS = ("weight", "alpha")  # per-class loss arguments (CrossEntropy, FocalLoss)
EACH = "*"  # a metric key / loss head standing for every head of the data


def labels_of(dataset):
    """{"classes": [...]} or {"head_classes": {head: [...]}} of a dataset, or None when it has no classes."""
    heads = getattr(dataset, "head_classes", None)
    if isinstance(heads, dict) and heads:
        return {"head_classes": {str(h): list(names) for h, names in heads.items()}}
    classes = getattr(dataset, "classes", None)
    if classes:
        return {"classes": list(classes)}
    return None


def output_classes(labels):
    """{output name: class names} of a model trained on `labels`: one per head, or "logits"."""
    if not labels:
        return {}
    return dict(labels["head_classes"]) if "head_classes" in labels else {"logits": list(labels["classes"])}


def resolve_classes(cfg, dataset):
    """`cfg` with class counts and names filled from `dataset` and checked against it (see above)."""
    labels = labels_of(dataset)
    if labels is None:
        return cfg
    cfg = copy.deepcopy(cfg)
    heads = labels.get("head_classes")
    classes = labels.get("classes")
    _expand_each(cfg, heads)
    if cfg.get("model"):
        _fill(cfg["model"], MODELS, "model", classes, heads)
    for i, block in enumerate(cfg.get("metrics") or []):
        _fill(block, METRICS, f"metrics.{i}", classes, heads)
    for i, block in enumerate((cfg.get("test") or {}).get("writers") or []):
        _fill(block, WRITERS, f"test.writers.{i}", classes, heads)
    mix = (cfg["data"].get("train") or {}).get("batch_transform")
    if mix:
        _fill(mix, BATCH_TRANSFORMS, "data.train.batch_transform", classes, heads)
    if cfg.get("loss"):
        _check_loss(cfg["loss"], "loss", classes, heads)
    _pin(cfg, labels)
    return cfg


def _expand_each(cfg, heads):
    """`"key": "*"` metrics -> one per head; MultiHeadLoss `heads: {"*": block}` -> that loss for every other head."""
    metrics = []
    for i, block in enumerate(cfg.get("metrics") or []):
        if isinstance(block, dict) and (block.get("args") or {}).get("key") == EACH:
            if heads is None:
                raise ConfigError(f"metrics.{i}.args.key: '{EACH}' (every head) needs data with several heads")
            metrics += [{**block, "args": {**block["args"], "key": head}} for head in heads]
        else:
            metrics.append(block)
    if "metrics" in cfg:
        cfg["metrics"] = metrics
    loss_heads = ((cfg.get("loss") or {}).get("args") or {}).get("heads")
    if isinstance(loss_heads, dict) and EACH in loss_heads:
        if heads is None:
            raise ConfigError(f"loss.args.heads.{EACH}: every head's loss needs data with several heads")
        each = loss_heads.pop(EACH)
        for head in heads:
            loss_heads.setdefault(head, copy.deepcopy(each))


def _params(registry, block):
    if not isinstance(block, dict) or "type" not in block:
        return {}
    try:
        obj = registry.get(block["type"], "type")
    except ConfigError:
        return {}  # an unknown type is reported where the block is built
    try:
        return dict(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        return {}


def _fill(block, registry, path, classes, heads):
    params = _params(registry, block)
    if not params:
        return
    args = block.setdefault("args", {})
    key = args.get("key")
    names = classes
    if key is not None and heads is not None:
        if key not in heads:
            raise ConfigError(f"{path}.args.key: '{key}' is not a head of the dataset; its heads: {list(heads)}")
        names = heads[key]
    if names is not None:
        _fill_one(args, params, path, "num_classes", len(names), f"the dataset's {len(names)} classes {names}")
        _fill_one(args, params, path, "class_names", list(names), "the dataset's classes (ids in that order)")
        if "heads" in params and _takes_dict(params["heads"]) and args.get("heads") is not None and key is None \
                and heads is None:
            raise ConfigError(f"{path}.args.heads: the dataset has one label per sample ({len(names)} classes "
                              f"{names}), not heads; leave heads out")
        return
    if heads is None:
        return
    sizes = {h: len(n) for h, n in heads.items()}
    if "heads" in params and _takes_dict(params["heads"]):
        if args.get("num_classes") is not None:
            raise ConfigError(f"{path}.args.num_classes: the dataset has heads {sizes}; give `heads` (or leave "
                              "both out and the heads are taken from the dataset)")
        _fill_one(args, params, path, "heads", sizes, f"the dataset's heads {sizes}")
    elif "num_classes" in params and _takes_dict(params["num_classes"]):
        _fill_one(args, params, path, "num_classes", sizes, f"the dataset's heads {sizes}")
    if "class_names" in params and _takes_dict(params["class_names"]):  # e.g. a writer of every head
        _fill_one(args, params, path, "class_names", {h: list(n) for h, n in heads.items()},
                  "the dataset's heads and classes")


def _fill_one(args, params, path, name, value, what):
    if name not in params:
        return
    given = args.get(name)
    if given is None:
        args[name] = value
    elif _normal(given) != _normal(value):
        raise ConfigError(f"{path}.args.{name}: {given!r} differs from {what}; make them equal, or leave "
                          f"{name} out and it is taken from the dataset")


def _normal(value):
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else list(value) \
        if isinstance(value, (list, tuple)) else value


def _takes_dict(param):
    return "dict" in str(param.annotation).lower()


def _check_loss(block, path, classes, heads):
    """Per-class weights (`weight`, `alpha` lists) have one value per class of their head; heads exist."""
    if isinstance(block, list):
        for i, b in enumerate(block):
            _check_loss(b, f"{path}.{i}", classes, heads)
        return
    if not isinstance(block, dict):
        return
    args = block.get("args") or {}
    if isinstance(args.get("heads"), dict) and heads is not None:  # MultiHeadLoss: one loss per head
        for head, spec in args["heads"].items():
            if head not in heads:
                raise ConfigError(f"{path}.args.heads.{head}: not a head of the dataset; its heads: {list(heads)}")
            _check_loss(spec, f"{path}.args.heads.{head}", heads[head], None)
        return
    for i, term in enumerate(args.get("terms") or []):  # WeightedSum
        _check_loss(term, f"{path}.args.terms.{i}", classes, heads)
    for name in CLASS_WEIGHT_ARGS:
        value = args.get(name)
        if isinstance(value, list) and classes is not None and len(value) != len(classes):
            raise ConfigError(f"{path}.args.{name}: {len(value)} values for the {len(classes)} classes {classes}; "
                              "give one per class, or \"auto\"")


def _pin(cfg, labels):
    """Write the dataset's own list into data.dataset.args (where the dataset takes it and no split sets it)."""
    data = cfg["data"]
    shared = data.setdefault("dataset", {})
    dataset_type = shared.get("type") or ((data.get("train") or {}).get("dataset") or {}).get("type")
    params = _params(DATASETS, {"type": dataset_type}) if dataset_type else {}
    name, value = ("classes", labels["classes"]) if "classes" in labels else ("heads", labels["head_classes"])
    if name not in params or not isinstance(params[name].default, (type(None), list, dict)):
        return
    given = [(d.get("args") or {}).get(name) for d in [shared] + [(data.get(s) or {}).get("dataset") or {}
                                                                  for s in ("train", "val", "test")]]
    if all(g is None for g in given):
        shared.setdefault("args", {})[name] = value
