"""`PositiveAwareCrop`: a random crop that holds mask pixels with a chosen probability.

    {"type": "PositiveAwareCrop", "args": {"height": 128, "width": 128, "positive_prob": 0.7}}

Wrinkles cover 0.1-2% of a face photo, often in one region: most uniform random crops of a large
image hold no positive pixel at all, and a model trained on them learns to predict nothing.
With probability `positive_prob` the crop is placed around a random positive pixel
(albumentations' CropNonEmptyMaskIfExists; an image without positives falls back to a uniform
crop), otherwise anywhere (RandomCrop), so the model still sees the negatives it must reject.
`ignore_values` (default 255, the padding label) never count as positive. The image must be at
least the crop size: put PadIfNeeded in front, as the wrinkle recipes do.
"""
from typing import Optional

import albumentations as A

from utils.registry import TRANSFORMS


@TRANSFORMS.register
class PositiveAwareCrop(A.CropNonEmptyMaskIfExists):
    def __init__(self, height: int, width: int, positive_prob: float = 0.5, ignore_values: Optional[list] = (255,),
                 p: float = 1.0):
        if not 0 <= positive_prob <= 1:
            raise ValueError(f"positive_prob must be in [0, 1], got {positive_prob}")
        super().__init__(height, width, ignore_values=list(ignore_values or []), p=p)
        self.positive_prob = positive_prob

    def get_params_dependent_on_data(self, params, data):
        if self.py_random.random() < self.positive_prob:
            return super().get_params_dependent_on_data(params, data)
        h, w = data["mask"].shape[:2] if "mask" in data else params["shape"][:2]
        if self.height > h or self.width > w:
            raise ValueError(f"crop size ({self.height},{self.width}) is larger than the image ({h},{w}); "
                             "pad first (PadIfNeeded)")
        x, y = self.py_random.randint(0, w - self.width), self.py_random.randint(0, h - self.height)
        return {"crop_coords": (x, y, x + self.width, y + self.height)}

    def get_transform_init_args_names(self):
        return ("height", "width", "positive_prob", "ignore_values")
