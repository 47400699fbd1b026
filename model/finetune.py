"""Fine-tuning any model: start from a pretrained checkpoint, freeze its early stages.

    report = load_pretrained(model, "weights/kinetics.pth")   # classifier replaced if classes differ
    freeze_until(model, "layer3")                             # stem .. layer3 frozen, BN in eval mode

`load_pretrained` loads a local file or `package:<package>/<file>` through model/pretrained.py
(nested or bare state dicts, DDP/compile prefixes, another library's naming mapped by order);
the classifier's weights are dropped when its class count differs (the new classifier keeps
its fresh initialisation), and the log reports missing, unexpected and mismatched keys.
`freeze_until` freezes every parameter registered up to and including a
named module (stages are registered in forward order in ResNet-like models): requires_grad
becomes False and the BatchNorm layers among them stay in eval mode even when the trainer
calls model.train(), so their running statistics keep the pretrained values.
"""
import logging

import torch.nn as nn

from .pretrained import load_into

log = logging.getLogger("facetrain")


def find_classifier(model, name=None):
    """The module name of the final classifier: `name`, timm's get_classifier(), else the last nn.Linear."""
    modules = dict(model.named_modules())
    if name is not None:
        if name not in modules:
            raise ValueError(f"classifier '{name}' is not a module of {type(model).__name__}; "
                             f"top-level modules: {[n for n, _ in model.named_children()]}")
        return name
    if hasattr(model, "get_classifier"):
        head = model.get_classifier()
        for key, module in modules.items():
            if module is head and key:
                return key
    linear = [key for key, module in modules.items() if isinstance(module, nn.Linear)]
    return linear[-1] if linear else None


def load_pretrained(model, source, classifier=None, key="model.args.pretrained"):
    """Load a pretrained file into `model` (not strict); returns a report dict: loaded (count),
    missing, unexpected, shape_mismatch, classifier_replaced (key lists), by_order, path."""
    return load_into(model, source, type(model).__name__, key, classifier=find_classifier(model, classifier))


class _EvalModeNorm:
    """Mixin for a frozen BatchNorm: train() leaves it in eval mode, so running stats never change."""

    def train(self, mode=True):
        return super().train(False)


_FROZEN_CLASSES = {}


def _keep_in_eval(module):
    cls = type(module)
    if not isinstance(module, _EvalModeNorm):
        if cls not in _FROZEN_CLASSES:
            frozen = type(f"Frozen{cls.__name__}", (_EvalModeNorm, cls), {"__module__": __name__})
            globals()[frozen.__name__] = _FROZEN_CLASSES[cls] = frozen  # importable by name (pickle)
        module.__class__ = _FROZEN_CLASSES[cls]
    module.train(False)


def freeze_until(model, stage):
    """Freeze every module registered up to and including `stage` (a name from named_modules(),
    e.g. "layer3" or "backbone.layer3"); returns the names of the frozen parameters."""
    named = list(model.named_modules())
    names = [n for n, _ in named]
    if not stage or stage not in names:
        raise ValueError(f"freeze_until: '{stage}' is not a module of {type(model).__name__}; its stages: "
                         f"{[n for n, _ in model.named_children()]}")
    end = names.index(stage) + 1
    while end < len(names) and names[end].startswith(stage + "."):
        end += 1
    frozen, norms = [], 0
    for name, module in named[:end]:
        for pname, param in module.named_parameters(recurse=False):
            param.requires_grad_(False)
            frozen.append(f"{name}.{pname}" if name else pname)
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            _keep_in_eval(module)
            norms += 1
    total = sum(p.numel() for p in model.parameters())
    kept = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info(f"froze {len(frozen)} parameter tensors up to '{stage}' ({norms} BatchNorm layers kept in eval "
             f"mode); {kept / 1e6:.2f}M of {total / 1e6:.2f}M parameters train")
    return frozen
