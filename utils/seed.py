"""One seed for Python, NumPy and torch; RNG states that travel in checkpoints."""
import os
import random

import numpy as np
import torch


def seed_everything(seed, deterministic=False):
    """Seed every RNG; `deterministic` also makes torch pick deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs this to be deterministic; harmless on CPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def sample_seed(seed, epoch, position):
    """A well-mixed 32-bit seed for one sample: augmentation depends on nothing else."""
    return int(np.random.SeedSequence([seed, epoch, position]).generate_state(1)[0])


def get_rng_states():
    """Every global RNG state as plain data (loadable with weights_only=True)."""
    np_state = np.random.get_state()
    states = {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states):
    random.setstate(_tuples(states["python"]))
    name, keys, *rest = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _tuples(x):
    # random.setstate wants tuples; a checkpoint round trip may give lists.
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x
