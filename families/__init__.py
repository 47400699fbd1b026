"""What the application asks of each task family, in one place per family.

A dataset names its family in a class attribute (`family = "wrinkle"`); the Family registered under that
name in FAMILIES says how a checkpoint of the family predicts one input and describes its outputs
(deploy/predictor.py for app.py and tools/export.py), which writer collects its predictions and how its
out-of-fold results are gathered and ensembled (tools/kfold.py), and how they are analysed for label
errors (tools/find_label_errors.py). A dataset that names no family but has classes is treated as an
image classifier ("image").

    wrinkle.py  wrinkle segmentation: our folders, the public FFHQ layouts, partitioned face parts
    image.py    any labelled image set, and the classification every family below builds on
    face.py     face attributes, mask x gender x age (the competition's data)
    action.py   action clips: video files, frame folders, annotation files, UCF101, HMDB51, Kinetics

A new family is a dataset with `family = "<name>"` and a `Family` subclass registered under that name,
both in the module a config's `imports` names (tests/test_new_family.py does it in one test file).
"""
from utils.errors import ConfigError
from utils.registry import DATASETS, FAMILIES

from . import action, face, image, wrinkle
from .base import Family

__all__ = ["Family", "family_of"]


def family_of(cfg, labels=None):
    """The Family of the dataset `cfg` validates on: the one it names, else "image" when the data has
    classes (`labels`, as trainer/classes.py reads them), else a ConfigError saying what to do."""
    data = cfg.get("data") or {}
    blocks = [(data.get(s) or {}).get("dataset") or {} for s in ("val", "train")] + [data.get("dataset") or {}]
    dataset_type = next((b["type"] for b in blocks if b.get("type")), None)
    cls = DATASETS.get(dataset_type, "data.dataset.type")
    name = getattr(cls, "family", None) or ("image" if labels else None)
    if name is None:
        raise ConfigError(f"data.dataset.type: {dataset_type} names no task family (a `family` class attribute) "
                          "and has no classes; give it `family = \"<name>\"` and register a Family under that name "
                          f"(families/); families: {FAMILIES.names()}")
    return FAMILIES.get(name, f"data.dataset.type: {dataset_type}'s family")()
