"""What every wrinkle layout shares once its files are listed: image/mask pairs read, transformed
and batched one way, and the seeded hold-out of a validation set.

A layout's dataset (WrinkleDataset for our own folders, the public sets' readers) lists
`self.items`, (image path, mask path) pairs, and overrides `read` where its files need more
than "an image and a 0/1 mask of its size" (a crop, a soft label, an extra input channel).
"""
import logging
from functools import partial

import numpy as np
import torch

from base import BaseDataset
from utils.errors import DataError

from .collate import pad_collate
from .folds import fold_part
from .image_io import orient_like, read_image, read_mask, stored_size
from .transforms import image_tensor

log = logging.getLogger("facetrain")


class MaskPairDataset(BaseDataset):
    """Samples {"input": (C, H, W) image, "target": (H, W) mask, "meta": {name, image_path, size}}."""

    family = "wrinkle"  # what the application asks of it: families/wrinkle.py

    def __init__(self, transform=None, ignore_index=255):
        super().__init__(transform)
        self.ignore_index = ignore_index
        self.collate_fn = partial(pad_collate, ignore_index=ignore_index)
        self.items = []  # (image path, mask path or None), set by the layout
        self._pixel_counts = None

    def __len__(self):
        return len(self.items)

    def name_of(self, index):
        return self.items[index][0].stem

    def get(self, index):
        image_path = self.items[index][0]
        image, target = self.apply_transform(*self.read(index))
        return {"input": image, "target": target,
                "meta": {"name": self.name_of(index), "image_path": str(image_path),
                         "size": torch.tensor(image.shape[-2:])}}

    def read(self, index):
        """(image RGB uint8, mask 0/1 uint8); an unlabelled image gets an empty mask."""
        image_path, mask_path = self.items[index]
        image = read_image(image_path)
        if mask_path is None:
            return image, np.zeros(image.shape[:2], np.uint8)
        size, orientation = stored_size(image_path)
        mask = orient_like(read_mask(mask_path), orientation, size)  # turned as the photo is by its EXIF
        if mask.shape != image.shape[:2]:
            raise DataError(f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but image {image_path} is "
                            f"{image.shape[1]}x{image.shape[0]} (width x height); they must match")
        return image, mask

    def read_target(self, index):
        """The target alone (no image decoded), for the label statistics of pixel_counts."""
        return read_mask(self.items[index][1])

    def apply_transform(self, image, mask):
        if self.transform is not None:
            out = self.transform(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        return image_tensor(image), torch.as_tensor(np.asarray(mask)).float()

    def pixel_counts(self):
        """(wrinkle pixels, all pixels) over this split's targets (a soft target counts its sum); read once."""
        if self._pixel_counts is None:
            pos, total = 0.0, 0
            for i in range(len(self.items)):
                target = self.read_target(i)
                pos += float(target.sum())
                total += target.size
            self._pixel_counts = (round(pos), total)
        return self._pixel_counts


def holdout(keys, split, val_fraction, split_seed, what, test_fraction=0.0, fold=None, n_folds=5):
    """The part of `keys` that `split` ("train", "val" or "test") takes when seeded fractions of them are
    held out for validation (and for test); the same keys, fractions and seed always give the same parts.
    With `fold`, train and val are pooled and fold `fold` of `n_folds` is val (data_loader/folds.py)."""
    keys = sorted(keys)
    order = np.random.default_rng(split_seed).permutation(len(keys)).tolist()
    n_test = round(test_fraction * len(keys)) if test_fraction > 0 else 0
    n_val = max(1, round(val_fraction * len(keys)))
    parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    if fold is not None and split != "test":
        pool = [k for part in ("train", "val") for i, k in enumerate(keys) if i in set(parts[part])]
        return fold_part(pool, split, fold, n_folds, split_seed, what=what)
    chosen = set(parts[split])
    kept = [k for i, k in enumerate(keys) if i in chosen]
    log.info(f"{split}: {len(kept)} of the {len(keys)} {what} (val_fraction={val_fraction}"
             + (f", test_fraction={test_fraction}" if n_test else "") + f", split_seed={split_seed})")
    return kept
