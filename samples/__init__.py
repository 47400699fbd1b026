"""Small sample datasets in the real on-disk layouts, generated on first use.

The shipped configs point at `data/samples/<name>`; a dataset whose root is one of its family's
sample sets and does not exist yet generates it. Any other missing root is an error.
"""
import argparse
import importlib
import logging
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# family -> {sample set name (its folder under data/samples): "module:function" that writes it at a root}
SAMPLE_SETS = {
    "wrinkle": {"wrinkle": "wrinkle:generate_wrinkle_dataset",  # drawn faces
                "wrinkle_photos": "wrinkle_photos:generate_wrinkle_photos"},  # thin wrinkles on real photos
    "action": {"action": "action_clips:generate_action_dataset",  # stick-figure clips
               "action_footage": "action_footage:generate_action_footage"},  # camera motion over real photos
    "mask_faces": {"mask_faces": "mask_faces:generate_mask_dataset"},
    "image_table": {"face_crops": "face_crops:generate_face_crops"},  # real face crops, CSV and ImageFolder
}


def sample_root(name):
    return Path("data") / "samples" / name


def sample_set(root, family):
    """The name of `family`'s sample set located at `root` (relative to the cwd or the repo), else None."""
    root = Path(root).resolve()
    for name in SAMPLE_SETS[family]:
        rel = sample_root(name)
        if root in ((Path.cwd() / rel).resolve(), (REPO_ROOT / rel).resolve()):
            return name
    return None


def is_sample_root(root, family):
    """True when `root` is the location of one of `family`'s sample sets."""
    return sample_set(root, family) is not None


def generate_sample(root, family):
    """Write the sample set of `family` located at `root` (see generate_once)."""
    name = sample_set(root, family)
    module, function = SAMPLE_SETS[family][name].split(":")
    generate_once(root, f"{name} data", getattr(importlib.import_module(f"{__name__}.{module}"), function))


def generate_once(root, what, generate):
    """Write the sample data at `root` with `generate(root)` on the main process, saying so; every
    other process waits for it (DDP)."""
    from utils import dist

    if dist.is_main():
        logging.getLogger("facetrain").info(f"sample {what} not found: generating it at {root} (first use only)")
        try:
            generate(root)
        except (OSError, ValueError):
            # The generators build in a temporary folder and rename it into place: when another process
            # (a second run started at the same time) got there first, its complete copy is used.
            if not Path(root).is_dir():
                raise
    dist.barrier()


def generator_cli(argv, generate, what, default_out, sizes):
    """The command line of a sample generator: --out, --n-train/--n-val/--n-test (defaults `sizes`), --seed,
    --no-progress; runs `generate` and returns (root, seed, seconds)."""
    ap = argparse.ArgumentParser(description=f"Generate {what}.")
    ap.add_argument("--out", default=default_out, help=f"output directory (default: {default_out})")
    for split, n in zip(("train", "val", "test"), sizes):
        ap.add_argument(f"--n-{split}", type=int, default=n)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        root = generate(args.out, args.n_train, args.n_val, args.n_test, args.seed, progress=not args.no_progress)
    except ValueError as e:
        ap.error(str(e))
    return root, args.seed, time.perf_counter() - t0
