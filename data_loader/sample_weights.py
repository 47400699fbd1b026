"""Per-sample weights for the training loader's weighted sampling (class imbalance).

    "loader": {"sampler": {"type": "ClassBalanced", "args": {"key": "age", "power": 1.0}}}

A SAMPLERS entry is a function (dataset, **args) -> one weight per sample; the loader then
draws len(dataset) samples per epoch with replacement (data_loader/seeded_sampler.py).
"""
from typing import Optional

import numpy as np

from utils.registry import SAMPLERS


@SAMPLERS.register
def ClassBalanced(dataset, key: Optional[str] = None, power: float = 1.0):
    """Weight 1 / count(class) ** power: power 1 draws every class equally often, 0.5 halfway
    (square-root balancing), 0 is plain uniform sampling. `key` picks the labels the dataset
    offers (face masks: 'class', 'mask', 'gender', 'age'); None = the dataset's own target."""
    if not hasattr(dataset, "labels"):
        raise ValueError(f"ClassBalanced needs a dataset with labels(key); {type(dataset).__name__} has none")
    if power < 0:
        raise ValueError(f"power must be >= 0, got {power}")
    labels = np.asarray(dataset.labels(key))
    counts = np.bincount(labels)
    return (1.0 / counts[labels].astype(np.float64) ** power).tolist()
