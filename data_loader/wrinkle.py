"""Facial wrinkle segmentation data.

Layout (split folder names configurable):

    <root>/<split>/images/<stem>.jpg|.png     any size
    <root>/<split>/masks/<stem>.png           any bit depth; a non-zero value in any channel is wrinkle

When there is no `<root>/<val_split>` folder, a seeded `val_fraction` of train is held out
for validation (and left out of training).
"""
import logging
from pathlib import Path
from typing import Optional

from samples import generate_sample, is_sample_root
from utils.errors import DataError
from utils.registry import DATASETS

from .folds import fold_part
from .image_io import check_complete, read_image, read_mask, shown_size, stored_size  # noqa: F401  (read_* used via this module)
from .mask_pairs import MaskPairDataset, holdout

log = logging.getLogger("facetrain")

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
LAYOUT = """expected layout:
    {root}/{split}/{images}/<name>.jpg (or .png)
    {root}/{split}/{masks}/<name>.png   mask (8- or 16-bit), non-zero = wrinkle, same size as the image"""


def list_files(folder, exts):
    """Files by stem, skipping hidden/junk files such as ._x.jpg and .DS_Store."""
    return {p.stem: p for p in sorted(Path(folder).iterdir())
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in exts}


@DATASETS.register
class WrinkleDataset(MaskPairDataset):
    """`fold` (of `n_folds`, seeded by `split_seed`): train and val pooled, that fold is val (tools/kfold.py)."""

    def __init__(self, root, split="train", transform=None, images_dir="images", masks_dir="masks",
                 val_split="val", val_fraction=0.15, split_seed=0, ignore_index=255, require_masks=True,
                 fold: Optional[int] = None, n_folds: int = 5):
        super().__init__(transform, ignore_index)
        self.root, self.split = Path(root), split
        self._ensure_root()
        self.dirs, self.require_masks = (images_dir, masks_dir), require_masks
        part = "val" if split == val_split else "train"  # the side of a hold-out or of the folds
        if split in ("train", val_split) and not (self.root / val_split).is_dir() and val_fraction > 0:
            pairs = self._pairs("train")  # val is a seeded share of train
            stems = holdout(pairs, part, val_fraction, split_seed, f"images of 'train' (no '{val_split}' folder)",
                            fold=fold, n_folds=n_folds)
        elif split in ("train", val_split) and fold is not None:  # both folders pooled
            train, val = self._pairs("train"), self._pairs(val_split)
            twice = sorted(set(train) & set(val))
            if twice:
                raise DataError(f"{twice[0]!r} names an image in both 'train' and '{val_split}': k-fold pools them "
                                "and names predictions by file name; rename one")
            pairs = {**train, **val}
            stems = fold_part(sorted(train) + sorted(val), part, fold, n_folds, split_seed, what="images")
        else:
            pairs = self._pairs(split)
            stems = sorted(pairs)
        self.items = [pairs[s] for s in stems]
        _check_files(self.items)

    def _pairs(self, folder):
        """{stem: (image, mask or None)} of one split folder."""
        images_dir, masks_dir = self.dirs
        layout = LAYOUT.format(root=self.root, split=folder, images=images_dir, masks=masks_dir)
        images_path, masks_path = self.root / folder / images_dir, self.root / folder / masks_dir
        if not images_path.is_dir():
            raise DataError(f"{images_path} not found; {layout}")
        images = list_files(images_path, IMAGE_EXTS)
        masks = list_files(masks_path, (".png",)) if masks_path.is_dir() else {}
        if self.require_masks:
            _check_pairs(images, masks, masks_path, layout)
        if not images:
            raise DataError(f"no images in {images_path}; {layout}")
        return {s: (images[s], masks.get(s)) for s in images}

    def _ensure_root(self):
        if self.root.exists():
            return
        if not is_sample_root(self.root, "wrinkle"):
            raise DataError(f"data root {self.root} does not exist; "
                            + LAYOUT.format(root=self.root, split="train", images="images", masks="masks"))
        generate_sample(self.root, "wrinkle")  # the drawn faces or the real photos


def _check_pairs(images, masks, masks_path, layout):
    missing = sorted(set(images) - set(masks))
    if missing:
        shown = ", ".join(f"{images[s].name}" for s in missing[:10])
        raise DataError(f"{len(missing)} image(s) have no mask in {masks_path} (masks are paired by file "
                        f"name stem, as <stem>.png): {shown}{' ...' if len(missing) > 10 else ''}; {layout}")
    orphans = sorted(set(masks) - set(images))
    if orphans:
        log.warning(f"{len(orphans)} mask(s) in {masks_path} have no image and are ignored: {orphans[:5]}")


def _check_files(items):
    """Before training, from headers and file ends only: every file is complete and a mask has the
    image's size as stored or as shown (after EXIF rotation)."""
    for image_path, mask_path in items:
        check_complete(image_path)
        if mask_path is None:
            continue
        check_complete(mask_path)
        (size, orientation), mask = stored_size(image_path), stored_size(mask_path)[0]
        if mask not in (size, shown_size(size, orientation)):
            raise DataError(f"mask {mask_path} is {mask[0]}x{mask[1]} but image {image_path} is "
                            f"{size[0]}x{size[1]} (width x height); they must match")
