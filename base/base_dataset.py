"""Base dataset: samples are dicts, and randomness is reseeded per sample.

The training sampler yields `(index, seed)` pairs (data_loader/seeded_sampler.py). A dataset draws
its randomness only from `self.rng` and its albumentations `self.transform`, both reseeded
from that seed, so augmentation depends on (seed, epoch, position) alone: the same whatever
the number of workers, and an interrupted run resumes exactly.
"""
import random

import numpy as np
from torch.utils.data import Dataset
from torch.utils.data.dataloader import default_collate


class BaseDataset(Dataset):
    """Subclasses implement `__len__` and `get(index)` returning
    {"input": Tensor, "target": Tensor | dict, "meta": dict}. `family` names the task family that says
    what the application does with its checkpoints (families/); None for a classifier of images."""

    family = None

    def __init__(self, transform=None):
        self.transform = transform
        self.rng = np.random.default_rng(0)

    def __getitem__(self, key):
        if isinstance(key, tuple):
            key, seed = key
            self.reseed(seed)
        return self.get(key)

    def reseed(self, seed):
        self.rng = np.random.default_rng(seed)
        if self.transform is not None and hasattr(self.transform, "set_random_state"):
            # One shared generator for the whole pipeline: albumentations' set_random_seed
            # would give every transform the same stream (all flips together).
            self.transform.set_random_state(np.random.default_rng(seed + 1), random.Random(seed + 2))

    def get(self, index):
        raise NotImplementedError

    @staticmethod
    def collate_fn(batch):
        return default_collate(batch)
