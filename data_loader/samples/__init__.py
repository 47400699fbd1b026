"""Small synthetic sample datasets in the real on-disk layouts, generated on first use.

The shipped configs point at `data/samples/<family>`; a dataset whose root is one of these
and does not exist yet generates it. Any other missing root is an error.
"""
import logging
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def sample_root(family):
    return Path("data") / "samples" / family


def is_sample_root(root, family):
    """True when `root` is the sample location of `family`, relative to the cwd or the repo."""
    root = Path(root).resolve()
    rel = sample_root(family)
    return root in ((Path.cwd() / rel).resolve(), (REPO_ROOT / rel).resolve())


def generate_once(root, what, generate):
    """Write the sample data at `root` with `generate(root)` on the main process, saying so; every
    other process waits for it (DDP)."""
    from utils import dist

    if dist.is_main():
        logging.getLogger("facetrain").info(f"sample {what} not found: generating it at {root} (first use only)")
        generate(root)
    dist.barrier()
