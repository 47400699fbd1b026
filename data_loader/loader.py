"""DataLoaders from the `loader` block of a data split."""
import difflib
import random

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from utils import dist
from utils.builder import build
from utils.errors import ConfigError
from utils.registry import SAMPLERS

from .seeded_sampler import DataSampler

LOADER_KEYS = ("batch_size", "shuffle", "num_workers", "pin_memory", "drop_last", "persistent_workers",
               "prefetch_factor", "sampler")


# Loader options with a type to check: (lowest value or None for booleans, what to say).
LOADER_TYPES = {"batch_size": (1, "an integer >= 1"), "num_workers": (0, "an integer >= 0"),
                "prefetch_factor": (1, "an integer >= 1"), "shuffle": (None, "true or false"),
                "pin_memory": (None, "true or false"), "drop_last": (None, "true or false"),
                "persistent_workers": (None, "true or false")}


def check_loader_cfg(cfg, path):
    for key, value in cfg.items():
        if key not in LOADER_KEYS:
            close = difflib.get_close_matches(key, LOADER_KEYS, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{path}.{key}: unknown loader option.{hint} Options: {list(LOADER_KEYS)}")
        if key in LOADER_TYPES:
            low, what = LOADER_TYPES[key]
            ok = isinstance(value, bool) if low is None else \
                isinstance(value, int) and not isinstance(value, bool) and value >= low
            if not ok:
                raise ConfigError(f"{path}.{key}: expected {what}, got {value!r}")


def _seed_worker(worker_id):
    # Third-party code in a worker that uses the global RNGs gets distinct, reproducible streams.
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def build_loader(dataset, cfg, path, *, train, seed, device):
    cfg = dict(cfg or {})
    check_loader_cfg(cfg, path)
    weights = None
    if cfg.get("sampler"):
        # A sampler block names a function (dataset, **args) -> per-sample weights.
        weights = build(SAMPLERS, cfg["sampler"], f"{path}.sampler", dataset=dataset)
    sampler = DataSampler(len(dataset), shuffle=cfg.get("shuffle", train), seed=seed, rank=dist.rank(),
                          world_size=dist.world_size(), train=train, weights=weights)
    workers = cfg.get("num_workers", 0)
    batch_size = cfg.get("batch_size", 1)
    drop_last = cfg.get("drop_last", False)
    if drop_last and len(sampler) < batch_size:
        raise ConfigError(f"{path}: {len(sampler)} samples per process with batch_size {batch_size} and "
                          "drop_last=true give no batches; lower batch_size or set drop_last false")
    extra = {}
    if workers > 0:
        # Workers are the parallelism: OpenCV threads inside each would oversubscribe the cores.
        # Set before fork; calling it inside a forked worker can deadlock OpenCV's thread pool.
        cv2.setNumThreads(0)
        extra = {"persistent_workers": cfg.get("persistent_workers", True),
                 "prefetch_factor": cfg.get("prefetch_factor", 2), "worker_init_fn": _seed_worker}
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      collate_fn=dataset.collate_fn, drop_last=drop_last,
                      pin_memory=cfg.get("pin_memory", device.type == "cuda"),
                      generator=torch.Generator().manual_seed(seed), **extra)
