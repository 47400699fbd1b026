"""FFHQ-Wrinkle (Moon et al., ICPR 2024; github.com/labhai/ffhq-wrinkle-dataset), read as its authors publish it.

    <root>/manual_wrinkle_masks/<id>.png          1,000 manual masks (8-bit grey, 1024x1024), named by FFHQ id
    <root>/weak_wrinkle_masks/<bucket>/<id>.png   50,000 weak labels: masked texture maps (8-bit grey), bucket
                                                  folders of a thousand ids (00000/, 01000/, ..., 49000/)
    <root>/images1024x1024/<bucket>/<id>.png      FFHQ's own images, ids 00000-49999 (from the FFHQ download)
    <root>/masked_face_images/<id>.png            the manual set's faces with all but face and nose zeroed
                                                  (the repository's face_masking.sh)
    <root>/test_file_lists.txt                    the repository's list of the 100 test ids, one per line

The paper's recipe has two stages, one `labels` value each:
- "weak" (stage 1, pretraining): the texture maps as soft targets in [0, 1] (grey / 255) on FFHQ's images,
  for every id but the manual set's, which stay unseen for stage 2's validation and test; `val` is a
  seeded `val_fraction` of them; there is no test split.
- "manual" (stage 2, fine-tuning): the manual masks (non-zero = wrinkle) on `images` (the masked faces,
  as the paper fine-tunes); `test` is the ids of `test_list`, `train` and `val` share the rest.
`texture_channel: true` appends the id's texture map to the image as a fourth channel: the paper's
fine-tuning input (RGB + masked texture map).
"""
import logging
import os
import re
from pathlib import Path
from typing import Literal, Optional

import cv2
import numpy as np

from utils.errors import DataError
from utils.registry import DATASETS

from .image_io import check_complete, read_image, read_mask, stored_size
from .mask_pairs import MaskPairDataset, holdout

log = logging.getLogger("facetrain")

MANUAL, WEAK, FFHQ_IMAGES = "manual_wrinkle_masks", "weak_wrinkle_masks", "images1024x1024"
DEFAULT_IMAGES = {"manual": "masked_face_images", "weak": FFHQ_IMAGES}
LAYOUT = """FFHQ-Wrinkle's layout (github.com/labhai/ffhq-wrinkle-dataset):
    {root}/manual_wrinkle_masks/<id>.png, {root}/weak_wrinkle_masks/<bucket>/<id>.png  (download_ffhq_wrinkle.sh)
    {root}/images1024x1024/<bucket>/<id>.png   FFHQ's images1024x1024, ids 00000-49999
    {root}/masked_face_images/<id>.png         face_masking.sh (the faces of the manual set, face and nose kept)
    {root}/test_file_lists.txt                 from the repository"""


def ffhq_id(text):
    """An FFHQ id as its files name it (5 digits) from a file stem such as '00011', 'final00011' or '11'."""
    digits = re.search(r"(\d+)$", text)
    return f"{int(digits.group(1)):05d}" if digits else None


def index_by_id(folder, suffixes=(".png",)):
    """{FFHQ id: path} of the files in `folder` and in its bucket subfolders (FFHQ's 00000/, 01000/, ...)."""
    found = {}
    for entry in os.scandir(folder):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            found.update(index_by_id(entry.path, suffixes))
        elif os.path.splitext(entry.name)[1].lower() in suffixes and ffhq_id(Path(entry.name).stem):
            found[ffhq_id(Path(entry.name).stem)] = Path(entry.path)
    return found


def read_unit_map(path):
    """A grey label map as float32 in [0, 1] (8- or 16-bit; a colour file is turned grey)."""
    grey = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if grey is None:
        raise DataError(f"cannot read label map {path} (missing, corrupt or not an image)")
    if grey.ndim == 3:
        grey = cv2.cvtColor(grey[..., :3], cv2.COLOR_BGR2GRAY)
    return grey.astype(np.float32) / np.iinfo(grey.dtype).max


def _check_sizes(ids, *folders):
    """Headers and file ends only: an id's files (image, mask, texture map) are complete and of one size."""
    for i in ids:
        files = [f[i] for f in folders if f]
        for f in files:
            check_complete(f)
        sizes = [stored_size(f)[0] for f in files]
        if len(set(sizes)) > 1:
            raise DataError("sizes differ: " + ", ".join(f"{f} {w}x{h}" for f, (w, h) in zip(files, sizes))
                            + " (width x height); an id's files must match")


@DATASETS.register
class FFHQWrinkleDataset(MaskPairDataset):
    def __init__(self, root, split="train", transform=None, labels: Literal["manual", "weak"] = "manual",
                 images: Optional[str] = None, texture_channel: bool = False,
                 test_list: Optional[str] = "test_file_lists.txt", val_fraction: float = 0.1, split_seed: int = 0,
                 ignore_index: int = 255, fold: Optional[int] = None, n_folds: int = 5):
        super().__init__(transform, ignore_index)
        self.root, self.split, self.labels, self.texture_channel = Path(root), split, labels, texture_channel
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {split!r}")
        self.layout = LAYOUT.format(root=self.root)
        if not self.root.is_dir():
            raise DataError(f"data root {self.root} does not exist; {self.layout}")
        masks = self._index(MANUAL if labels == "manual" else WEAK, "label")
        if labels == "manual":
            every = sorted(masks)
        else:  # the manual set's ids stay unseen, for stage 2's validation and test
            manual = self._index(MANUAL, "label") if (self.root / MANUAL).is_dir() else {}
            every = sorted(set(masks) - set(manual))
            log.info(f"weak labels: {len(every)} ids ({len(masks) - len(every)} of the manual set left out)")
        # every file of the set is checked, so a problem is reported whichever split is built
        images = self._require(every, images or DEFAULT_IMAGES[labels], "image", masks)
        textures = self._require(every, WEAK, "texture map", masks) if texture_channel else {}
        if labels == "manual":  # 1,000 headers; the 50,000 weak maps are checked as they are read
            _check_sizes(every, images, masks, textures)
        ids = self._manual_split(every, split, test_list) if labels == "manual" else self._weak_split(every, split)
        if split != "test":
            ids = holdout(ids, split, val_fraction, split_seed, f"{labels} labels of FFHQ-Wrinkle", fold=fold,
                          n_folds=n_folds)
        self.items = [(images[i], masks[i]) for i in ids]
        self.textures = [textures[i] for i in ids] if texture_channel else []

    def _index(self, folder, what):
        path = self.root / folder
        if not path.is_dir():
            hint = ("; make it with the repository's face_masking.sh, or set images: images1024x1024 (FFHQ's "
                    "unmasked images)" if folder == DEFAULT_IMAGES["manual"] else "")
            raise DataError(f"{what} folder {path} not found{hint}; {self.layout}")
        found = index_by_id(path)
        if not found:
            raise DataError(f"no <id>.png files in {path}; {self.layout}")
        return found

    def _manual_split(self, ids, split, test_list):
        """The test list's ids for `test`; the other manual ids for train and val."""
        listed = self.root / test_list if test_list else None
        if listed is None or not listed.is_file():
            if split == "test":
                raise DataError(f"test split: {listed or 'test_list: null'} not found; FFHQ-Wrinkle's test ids are "
                                "the repository's test_file_lists.txt: copy it into the data root (or set test_list)")
            log.warning(f"no test list at {listed}: all {len(ids)} manual masks go to train and val")
            return ids
        test = []
        for n, line in enumerate(listed.read_text().splitlines(), start=1):
            if line.strip() and not line.strip().isdigit():
                raise DataError(f"{listed} line {n}: {line.strip()!r} is not an FFHQ image id (5 digits)")
            if line.strip():
                test.append(ffhq_id(line.strip()))
        unknown = sorted(set(test) - set(ids))
        if unknown:
            raise DataError(f"{listed} lists {len(unknown)} id(s) without a manual mask in {self.root / MANUAL}: "
                            f"{unknown[:10]}; is the list from another version of the dataset?")
        return sorted(test) if split == "test" else sorted(set(ids) - set(test))

    def _weak_split(self, ids, split):
        if split == "test":
            raise DataError("test split: the weak labels are for pretraining and have no test split; evaluate the "
                            "fine-tuned model on the manual masks (labels: manual)")
        return ids

    def _require(self, ids, folder, what, masks):
        """{id: file} of `folder` for every id; a label without its file is an error naming them."""
        files = self._index(folder, what)
        absent = [i for i in ids if i not in files]
        if absent:
            shown = ", ".join(masks[i].name for i in absent[:10]) + (" ..." if len(absent) > 10 else "")
            raise DataError(f"{len(absent)} label(s) have no {what} of the same id in {self.root / folder}: {shown}; "
                            f"{self.layout}")
        return files

    def name_of(self, index):
        return ffhq_id(self.items[index][0].stem)

    def read_target(self, index):
        path = self.items[index][1]
        return read_unit_map(path) if self.labels == "weak" else read_mask(path)

    def read(self, index):
        """(image RGB uint8, or RGB + texture map (H, W, 4); target: 0/1 mask or a [0, 1] map)."""
        image_path, label_path = self.items[index]
        image, target = read_image(image_path), self.read_target(index)
        if self.texture_channel:
            texture = np.round(read_unit_map(self.textures[index]) * 255).astype(np.uint8)
            if texture.shape != image.shape[:2]:
                raise DataError(f"texture map {self.textures[index]} is {texture.shape[1]}x{texture.shape[0]} but "
                                f"image {image_path} is {image.shape[1]}x{image.shape[0]}; they must match")
            image = np.dstack([image, texture])
        if target.shape != image.shape[:2]:
            raise DataError(f"label {label_path} is {target.shape[1]}x{target.shape[0]} but image {image_path} is "
                            f"{image.shape[1]}x{image.shape[0]} (width x height); they must match")
        return image, target
