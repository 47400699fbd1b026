"""The class list, named once: the dataset says what its labels are, and everything else takes them.

A dataset declares its labels by one of two attributes:
- `classes`: class names in id order, for one label per sample (an action clip, an image);
- `head_classes`: {head: class names}, for a dict of labels per sample (mask / gender / age).

A component (model, metric, writer, batch mixer, and a dataset that pins its list) declares which of its
arguments receive them with `utils.registry.takes_classes`, e.g. `num_classes="count"`, `heads="head counts"`.
`resolve_classes(cfg, dataset)` fills, in a copy of the config, each declared argument the config leaves
out, and checks each one it gives: a drifted copy would mislabel predictions without an error. A metric
with `"key": "*"` becomes one metric per head of the data, and MultiHeadLoss's `heads: {"*": block}` the
loss of every head not named, so a multi-head recipe runs on data with other heads when only the label
columns change; per-class loss weights must have one value per class. The dataset's own list is pinned in
`data.dataset.args`, so every split and every later run numbers the classes the same way. The resolved
config travels in every checkpoint, with the labels themselves (`labels`), to test.py, the predictor, the
web demo and the export. `--print-config` shows where each filled value came from (`class_notes`).
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


def resolve_classes(cfg, dataset, notes=None):
    """`cfg` with class counts and names filled from `dataset` and checked against it (see above); each
    value filled is appended to `notes` as (config key, value, where it came from)."""
    labels = labels_of(dataset)
    if labels is None:
        return cfg
    cfg = copy.deepcopy(cfg)
    heads = labels.get("head_classes")
    classes = labels.get("classes")
    notes = [] if notes is None else notes
    _expand_each(cfg, heads)
    blocks = [(cfg.get("model"), MODELS, "model")]
    blocks += [(b, METRICS, f"metrics.{i}") for i, b in enumerate(cfg.get("metrics") or [])]
    blocks += [(b, WRITERS, f"test.writers.{i}") for i, b in enumerate((cfg.get("test") or {}).get("writers") or [])]
    blocks.append(((cfg["data"].get("train") or {}).get("batch_transform"), BATCH_TRANSFORMS,
                   "data.train.batch_transform"))
    for block, registry, path in blocks:
        if block:
            _fill(block, registry, path, classes, heads, notes)
    if cfg.get("loss"):
        _check_loss(cfg["loss"], "loss", classes, heads)
    _pin(cfg, classes, heads, notes)
    return cfg


def explain_classes(cfg, split="train"):
    """(`cfg` as a run resolves it, lines saying where each class count and name list was filled from), for
    --print-config: the `split` data is read when a component of the config declares class arguments."""
    from .build import build_dataset

    declared = [_declared(r, b) for b, r in [(cfg.get("model"), MODELS), (_train_mixer(cfg), BATCH_TRANSFORMS)]
                + [(b, METRICS) for b in cfg.get("metrics") or []]
                + [(b, WRITERS) for b in (cfg.get("test") or {}).get("writers") or []]]
    if not any(declared):
        return cfg, []
    notes = []
    try:
        cfg = resolve_classes(cfg, build_dataset(cfg, split), notes)
    except (ConfigError, OSError, ValueError) as e:  # DataError is a ValueError
        return cfg, [f"classes: not filled, the {split} data cannot be read ({e})"]
    return cfg, [f"{key} = {value!r}: {why}" for key, value, why in notes] or [
        "classes: every class argument is set in the config (a checkpoint's config holds the values filled "
        "from the data it trained on)"]


def _train_mixer(cfg):
    return ((cfg.get("data") or {}).get("train") or {}).get("batch_transform")


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


def _declared(registry, block):
    """{argument: kind} a block's component declares with takes_classes ({} for none, or an unknown type,
    which is reported where the block is built)."""
    if not isinstance(block, dict) or not isinstance(block.get("type"), str) or block["type"] not in registry:
        return {}
    obj = registry.get(block["type"])
    try:
        takes = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return {}
    return {name: kind for name, kind in getattr(obj, "class_args", {}).items() if name in takes}


def _value(kind, names, heads):
    """What an argument of `kind` receives from one label's `names` or from `heads` (None: nothing)."""
    if names is not None:
        return {"count": len(names), "count or head counts": len(names),
                "names": list(names), "names or head names": list(names)}.get(kind)
    if kind in ("head counts", "count or head counts"):
        return {h: len(n) for h, n in heads.items()}
    if kind in ("head names", "names or head names"):
        return {h: list(n) for h, n in heads.items()}
    return None


def _fill(block, registry, path, classes, heads, notes):
    declared = _declared(registry, block)
    if not declared:
        return
    args = block.setdefault("args", {})
    key, names, what = args.get("key"), classes, "the dataset's"
    if key is not None and heads is not None:
        if key not in heads:
            raise ConfigError(f"{path}.args.key: '{key}' is not a head of the dataset; its heads: {list(heads)}")
        names, what = heads[key], f"the dataset's head '{key}':"
    for name, kind in declared.items():
        value = _value(kind, names, heads if key is None else None)
        given = args.get(name)
        if value is None:
            if given is not None and names is not None and "head" in kind:
                raise ConfigError(f"{path}.args.{name}: the dataset has one label per sample ({len(names)} classes "
                                  f"{names}), not heads; leave {name} out")
            if given is not None and heads is not None and key is None and any(
                    "head" in k for k in declared.values()):
                sizes = {h: len(n) for h, n in heads.items()}
                other = next(n for n, k in declared.items() if "head" in k)
                raise ConfigError(f"{path}.args.{name}: the dataset has heads {sizes}; give `{other}` (or leave "
                                  "both out and the heads are taken from the dataset)")
            continue
        source = (f"{what} {len(names)} classes {list(names)}" if names is not None and "count" in kind else
                  f"{what} classes (ids in that order)" if names is not None else
                  f"the dataset's heads {_value('head counts', None, heads)}" if "count" in kind else
                  "the dataset's heads and classes")
        if given is None:
            args[name] = value
            notes.append((f"{path}.args.{name}", value, f"{source}, for {block['type']}'s {name} ({kind})"))
        elif _normal(given) != _normal(value):
            raise ConfigError(f"{path}.args.{name}: {given!r} differs from {source}; make them equal, or leave "
                              f"{name} out and it is taken from the dataset")


def _normal(value):
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else list(value) \
        if isinstance(value, (list, tuple)) else value


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


def _pin(cfg, classes, heads, notes):
    """Write the dataset's own list into data.dataset.args (where the dataset declares an argument for it
    and no split sets it)."""
    data = cfg["data"]
    shared = data.setdefault("dataset", {})
    dataset_type = shared.get("type") or ((data.get("train") or {}).get("dataset") or {}).get("type")
    for name, kind in _declared(DATASETS, {"type": dataset_type}).items():
        value = _value(kind, classes, heads)
        given = [(d.get("args") or {}).get(name) for d in [shared] + [(data.get(s) or {}).get("dataset") or {}
                                                                      for s in ("train", "val", "test")]]
        if value is not None and all(g is None for g in given):
            shared.setdefault("args", {})[name] = value
            notes.append((f"data.dataset.args.{name}", value, f"the {dataset_type}'s own list, pinned so that every "
                                                              "split and later run numbers the classes alike"))
