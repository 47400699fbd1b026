"""`PadToMultiple`: pad an image (and its mask) up to a multiple of the encoder's stride.

    {"type": "PadToMultiple", "args": {"divisor": 32}}

Crops of different sizes (e.g. face-region crops) can then go through a U-Net as they are,
without resizing. Defaults match the partitioned model's inference: padding at the bottom/right,
the image repeats its border pixels, the mask is padded with 255 (ignored by losses and metrics)
whatever the image's border mode. (albumentations' PadIfNeeded pads the mask with the image's
border mode, and its min_height/min_width cannot be switched off from a config.)
"""
from typing import Literal

import albumentations as A
import cv2

from utils.registry import TRANSFORMS


class _PadMaskConstant(A.PadIfNeeded):
    def apply_to_mask(self, mask, pad_top, pad_bottom, pad_left, pad_right, **params):
        return cv2.copyMakeBorder(mask, pad_top, pad_bottom, pad_left, pad_right, cv2.BORDER_CONSTANT,
                                  value=self.fill_mask)


@TRANSFORMS.register
def PadToMultiple(divisor: int = 32, position: Literal["top_left", "center"] = "top_left",
                  border_mode: int = cv2.BORDER_REPLICATE, fill: float = 0, fill_mask: float = 255, p: float = 1.0):
    if divisor < 1:
        raise ValueError(f"divisor must be >= 1, got {divisor}")
    return _PadMaskConstant(min_height=None, min_width=None, pad_height_divisor=divisor, pad_width_divisor=divisor,
                            position=position, border_mode=border_mode, fill=fill, fill_mask=fill_mask, p=p)
