"""Small sample datasets in the real on-disk layouts, generated on first use.

The shipped configs point at `data/samples/<name>`; a dataset whose root is one of its family's
sample sets and does not exist yet generates it. Any other missing root is an error.
"""
import importlib
import logging
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
