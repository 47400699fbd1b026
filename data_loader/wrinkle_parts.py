"""Wrinkle data cut into face regions: the training data of the partitioned model (one model per part).

    "dataset": {"type": "WrinklePartDataset",
                "args": {"root": "data/samples/wrinkle", "part": "forehead", "regions": {...}}}

Files, pairing, checks and the sample data are WrinkleDataset's. A sample is the crop of one
part (its region's bounding box grown by `regions.margin`) from the image and its mask; where the
crop extends past the image, the image repeats its border pixels and the mask holds
`ignore_index`, so the loss ignores it. `part: null` gives whole images (how the merged model is
evaluated). `meta["crop_box"]` = (x0, y0, x1, y1) of the crop in the full image.
"""
from typing import Optional

import torch

from utils.registry import DATASETS

from .face_regions import FaceRegions, crop_array
from .wrinkle import WrinkleDataset, read_image, read_mask


@DATASETS.register
class WrinklePartDataset(WrinkleDataset):
    def __init__(self, root, regions: dict, part: Optional[str] = None, **kwargs):
        super().__init__(root, **kwargs)
        self.regions = FaceRegions.from_spec(regions)
        if part is not None and part not in self.regions.names:
            raise ValueError(f"part: '{part}' is not a region; regions.parts has {self.regions.names}")
        self.part = part
        self._boxes = {}  # index -> crop box (landmark detection is the slow part: once per image)

    def crop_box(self, index, image=None):
        """The part's crop box in image `index` (None: the region lies outside the image)."""
        if index not in self._boxes:
            image_path, _ = self.items[index]
            if image is None and self.regions.needs_image:
                image = read_image(image_path)
            size = image.shape[:2] if image is not None else _image_size(image_path)
            region = self.regions.locate(image=image if self.regions.needs_image else None, size=size)[self.part]
            self._boxes[index] = region.crop_box(self.regions.margin)
        return self._boxes[index]

    def get(self, index):
        if self.part is None:
            return super().get(index)
        image_path = self.items[index][0]
        image, mask = self.read(index)
        box = self.crop_box(index, image)
        image, target = self.apply_transform(crop_array(image, box), crop_array(mask, box, fill=self.ignore_index))
        return {"input": image, "target": target,
                "meta": {"name": f"{image_path.stem}_{self.part}", "image_path": str(image_path), "part": self.part,
                         "crop_box": torch.tensor(box), "size": torch.tensor(image.shape[-2:])}}

    def pixel_counts(self):
        """(wrinkle pixels, labelled pixels) over this part's crops (padding excluded), for pos_weight="auto"."""
        if self.part is None:
            return super().pixel_counts()
        if self._pixel_counts is None:
            pos = total = 0
            for i, (_, mask_path) in enumerate(self.items):
                crop = crop_array(read_mask(mask_path), self.crop_box(i), fill=self.ignore_index)
                pos += int((crop == 1).sum())
                total += int((crop != self.ignore_index).sum())
            self._pixel_counts = (pos, total)
        return self._pixel_counts


def _image_size(path):
    from PIL import Image

    with Image.open(path) as im:  # header only
        return im.size[::-1]
