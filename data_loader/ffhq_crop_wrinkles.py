"""The 674 manual wrinkle masks on FFHQ face crops (github.com/vanijan/Wrinkle-Dataset-and-Wrinkle-Video-Evaluation,
from the thesis "Automatic Analysis of Facial Wrinkle Characteristics in People with Parkinson's Disease"),
as published:

    <root>/wrinkles/final<id>.bmp              the mask of one crop of FFHQ image <id>, non-zero = wrinkle
    <root>/wrinkles/crop_limits.npy            (674, 5) rows [image_number, min_h, max_h, min_w, max_w]: the mask
                                               covers image[min_h:max_h, min_w:max_w]
    <root>/images1024x1024/<bucket>/<id>.png   FFHQ's images (the FFHQ download; a flat folder of <id>.png works,
                                               and `images` may point anywhere, e.g. FFHQ-Wrinkle's copy)

A sample is the crop of the image and its mask. No split is published: `val` and `test` are seeded
fractions of the masks (`val_fraction`, `test_fraction`), `train` the rest.
"""
import logging
from pathlib import Path
from typing import Optional

import numpy as np

from utils.errors import DataError
from utils.registry import DATASETS

from .ffhq_wrinkle import FFHQ_IMAGES, ffhq_id, index_by_id
from .image_io import check_complete, read_image, read_mask, stored_size
from .mask_pairs import MaskPairDataset, holdout

log = logging.getLogger("facetrain")

LAYOUT = """the layout of github.com/vanijan/Wrinkle-Dataset-and-Wrinkle-Video-Evaluation:
    {root}/wrinkles/final<id>.bmp, {root}/wrinkles/crop_limits.npy   (the repository's wrinkles/ folder)
    {root}/images1024x1024/<bucket>/<id>.png   FFHQ's images1024x1024 (or set images: <folder of FFHQ images>)"""


def _check_box(image_path, mask_path, box, where):
    """Headers and file ends only: both files are complete, the crop lies inside its image and has its mask's size."""
    check_complete(image_path)
    check_complete(mask_path)
    (h0, h1, w0, w1), (width, height), (mask_w, mask_h) = box, stored_size(image_path)[0], stored_size(mask_path)[0]
    if not (0 <= h0 < h1 <= height and 0 <= w0 < w1 <= width):
        raise DataError(f"{where} reaches outside {image_path} ({width}x{height}); is it FFHQ's 1024x1024 image of "
                        "that id?")
    if (h1 - h0, w1 - w0) != (mask_h, mask_w):
        raise DataError(f"mask {mask_path} is {mask_w}x{mask_h} but its crop ({where}) is {w1 - w0}x{h1 - h0} "
                        "(width x height); they must match")


@DATASETS.register
class FFHQCropWrinkleDataset(MaskPairDataset):
    def __init__(self, root, split="train", transform=None, masks_dir: str = "wrinkles",
                 crop_limits: str = "wrinkles/crop_limits.npy", images: str = FFHQ_IMAGES,
                 val_fraction: float = 0.15, test_fraction: float = 0.15, split_seed: int = 0,
                 ignore_index: int = 255, fold: Optional[int] = None, n_folds: int = 5):
        super().__init__(transform, ignore_index)
        self.root, self.split = Path(root), split
        self.layout = LAYOUT.format(root=self.root)
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {split!r}")
        if split == "test" and test_fraction <= 0:
            raise DataError("test split: this set publishes no split, and test_fraction is 0; give test_fraction "
                            "(the seeded share of the masks held out for test)")
        for folder in (self.root / masks_dir, self.root / images):
            if not folder.is_dir():
                raise DataError(f"{folder} not found; {self.layout}")
        masks = index_by_id(self.root / masks_dir, (".bmp",))
        if not masks:
            raise DataError(f"no mask .bmp files in {self.root / masks_dir}; {self.layout}")
        limits = self._read_limits(self.root / crop_limits)
        unplaced = sorted(set(masks) - set(limits))
        if unplaced:
            raise DataError(f"{len(unplaced)} mask(s) have no row in {self.root / crop_limits}, so where they lie in "
                            f"their image is unknown: {[masks[i].name for i in unplaced[:10]]}")
        if len(limits) > len(masks):
            log.warning(f"{len(limits) - len(masks)} row(s) of {crop_limits} have no mask in {masks_dir}: unused")
        found = index_by_id(self.root / images)
        absent = sorted(set(masks) - set(found))
        if absent:
            raise DataError(f"{len(absent)} mask(s) have no FFHQ image <id>.png in {self.root / images}: "
                            f"{[masks[i].name for i in absent[:10]]}; {self.layout}")
        for i in sorted(masks):  # all of them, so a problem is reported whichever split is built
            _check_box(found[i], masks[i], limits[i], f"{crop_limits} row of image {i} {list(limits[i])}")
        ids = holdout(masks, split, val_fraction, split_seed, "masks of the FFHQ crop set", test_fraction, fold,
                      n_folds)
        self.items = [(found[i], masks[i]) for i in ids]
        self.boxes = [limits[i] for i in ids]

    def _read_limits(self, path):
        """{id: (min_h, max_h, min_w, max_w)} from the (N, 5) array."""
        try:
            rows = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read crop limits {path} ({e}); {self.layout}") from e
        if rows.ndim != 2 or rows.shape[1] != 5:
            raise DataError(f"crop limits {path} has shape {rows.shape}; expected (N, 5) rows "
                            "[image_number, min_h, max_h, min_w, max_w]")
        return {f"{int(r[0]):05d}": tuple(int(v) for v in r[1:]) for r in rows}

    def name_of(self, index):
        return ffhq_id(self.items[index][1].stem)

    def read(self, index):
        image_path, mask_path = self.items[index]
        h0, h1, w0, w1 = self.boxes[index]
        image, mask = read_image(image_path)[h0:h1, w0:w1], read_mask(mask_path)
        if mask.shape != image.shape[:2]:
            raise DataError(f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but its crop of {image_path} is "
                            f"{image.shape[1]}x{image.shape[0]}; they must match")
        return np.ascontiguousarray(image), mask
