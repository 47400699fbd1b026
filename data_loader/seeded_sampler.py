"""The one sampler every loader uses: per-epoch seeded shuffling, DDP sharding, sample seeds.

Training yields `(index, seed)` pairs; BaseDataset reseeds its augmentation from the seed.
Order and augmentation are a function of (seed, epoch) alone, so no sampler or worker RNG
state has to be checkpointed for an exact resume.
"""
import math

import torch
from torch.utils.data import Sampler

from utils.seed import sample_seed


class DataSampler(Sampler):
    def __init__(self, size, shuffle=False, seed=0, rank=0, world_size=1, train=False, weights=None,
                 num_samples=None):
        self.size, self.shuffle, self.seed = size, shuffle, seed
        self.rank, self.world_size, self.train = rank, world_size, train
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        self.num_samples = num_samples or size  # draws per epoch when sampling by weight
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def _order(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        if self.weights is not None:
            return torch.multinomial(self.weights, self.num_samples, replacement=True, generator=g).tolist()
        if self.shuffle:
            return torch.randperm(self.size, generator=g).tolist()
        return list(range(self.size))

    def __iter__(self):
        order = self._order()
        if self.world_size > 1:
            if self.train:  # every process must run the same number of steps
                total = math.ceil(len(order) / self.world_size) * self.world_size
                order = (order * math.ceil(total / max(len(order), 1)))[:total]
            positions = range(self.rank, len(order), self.world_size)
        else:
            positions = range(len(order))
        for pos in positions:
            if self.train:
                yield order[pos], sample_seed(self.seed, self.epoch, pos)
            else:
                yield order[pos]

    def __len__(self):
        n = self.num_samples if self.weights is not None else self.size
        if self.world_size == 1:
            return n
        if self.train:
            return math.ceil(n / self.world_size)
        return len(range(self.rank, n, self.world_size))
