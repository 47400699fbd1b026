"""Flat name -> class registries. Configs name components by these names.

Every built-in is registered when its package is imported (`import_builtins`), so
"X is not registered" always means a typo, never a forgotten import.
"""
import difflib
import importlib
import inspect

import torch

from .errors import ConfigError


class Registry:
    """Maps names to classes or functions.

    `fallbacks` are modules searched when a name is not registered (e.g. torch.optim for
    optimizers), restricted to subclasses of `base` when given.
    """

    def __init__(self, kind, fallbacks=(), base=None):
        self.kind = kind
        self._items = {}
        self._fallbacks = [(m, base) for m in fallbacks]

    def add_fallback(self, module, base=None):
        """Also look names up in `module` (only subclasses of `base`, when given)."""
        self._fallbacks.append((module, base))

    def register(self, obj=None, *, name=None, aliases=()):
        """Decorator: `@MODELS.register` or `@MODELS.register(name="Unet")`."""

        def add(o):
            for key in (name or o.__name__, *aliases):
                if key in self._items and self._items[key] is not o:
                    raise KeyError(f"{self.kind} '{key}' is already registered by {self._items[key]}")
                self._items[key] = o
            return o

        return add(obj) if obj is not None else add

    def _from_fallbacks(self, name):
        for module, base in self._fallbacks:
            obj = getattr(module, name, None)
            if obj is not None and not name.startswith("_") and _accepts(obj, base):
                return obj
        return None

    def names(self):
        """Registered names, then fallback names, each sorted."""
        extra = set()
        for module, base in self._fallbacks:
            extra |= {n for n in dir(module) if not n.startswith("_") and _accepts(getattr(module, n), base)}
        return sorted(self._items) + sorted(extra - set(self._items))

    def __contains__(self, name):
        return name in self._items or self._from_fallbacks(name) is not None

    def get(self, name, path="type"):
        """The object registered as `name`; a ConfigError naming `path` and the closest names otherwise."""
        if not isinstance(name, str):
            raise ConfigError(f"{path}: expected a {self.kind} name (string), got {name!r}")
        obj = self._items.get(name) or self._from_fallbacks(name)
        if obj is not None:
            return obj
        unknown_name(self.kind, name, self.names(), path, listed=f"Registered {self.kind}s")


def unknown_name(kind, name, names, path, listed="Valid"):
    """Raise a ConfigError naming `path`, the closest valid names and (up to 60 of) the rest."""
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    lower = [n for n in names if n.lower() == name.lower()]
    hint = f" Did you mean {' or '.join(repr(c) for c in (lower or close))}?" if (lower or close) else ""
    shown = ", ".join(names[:60]) + (f", ... ({len(names)} in all)" if len(names) > 60 else "")
    raise ConfigError(f"{path}: unknown {kind} '{name}'.{hint} {listed}: {shown}")


# What `takes_classes` may declare an argument receives; trainer/classes.py fills and checks them.
CLASS_KINDS = {
    "count": "the number of classes of the one label (of the `key` head, for a component with `key`)",
    "names": "the class names of the one label (of the `key` head), in id order",
    "head counts": "{head: number of classes}, for data with several heads",
    "head names": "{head: class names}, for data with several heads",
    "count or head counts": "the number of classes, or {head: number} for data with several heads",
    "names or head names": "the class names, or {head: names} for data with several heads",
}


def takes_classes(**kinds):
    """Declare which constructor arguments receive the data's classes, e.g.

        @MODELS.register
        @takes_classes(num_classes="count", heads="head counts")
        class MyNet(nn.Module): ...

    trainer/classes.py fills an argument the config leaves out from the training data's classes and checks
    one it gives (`CLASS_KINDS` says what each kind receives). A subclass inherits the declaration of the
    arguments it still takes."""
    for name, kind in kinds.items():
        if kind not in CLASS_KINDS:
            raise ValueError(f"takes_classes({name}={kind!r}): {kind!r} is not a kind of class argument; kinds: "
                             f"{list(CLASS_KINDS)}")

    def declare(obj):
        obj.class_args = dict(kinds)
        return obj
    return declare


DATASETS = Registry("dataset")
TRANSFORMS = Registry("transform")  # falls back to albumentations: see data_loader/transforms.py
MODELS = Registry("model")
LOSSES = Registry("loss")
METRICS = Registry("metric")
TRAINERS = Registry("trainer")
INFERERS = Registry("inferer")
WRITERS = Registry("prediction writer")
SAMPLERS = Registry("sampler")
BATCH_TRANSFORMS = Registry("batch transform")  # on whole training batches, e.g. mixup
FAMILIES = Registry("task family")  # what the application asks of a family (families/)
OPTIMIZERS = Registry("optimizer", [torch.optim], torch.optim.Optimizer)
SCHEDULERS = Registry("lr scheduler", [torch.optim.lr_scheduler], torch.optim.lr_scheduler.LRScheduler)

BUILTIN_PACKAGES = ("data_loader", "model", "trainer", "logger")


def _accepts(obj, base):
    if base is None:
        return callable(obj)
    return inspect.isclass(obj) and issubclass(obj, base)


def import_builtins():
    """Import every package that registers built-in components."""
    for pkg in BUILTIN_PACKAGES:
        importlib.import_module(pkg)
