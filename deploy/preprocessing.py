"""What a model expects as input, read from its config's validation transform, and decoding of
uploaded files into what that transform takes (RGB uint8).

Used by deploy/predictor.py: the description below is what tools/export.py writes into exported
files, so code outside this repo can prepare inputs as validation did.
"""
import io
import warnings

import albumentations as A
import numpy as np
from albumentations.augmentations.crops.transforms import CropSizeError
from PIL import Image, ImageOps, UnidentifiedImageError

from data_loader.transforms import image_tensor
from utils.errors import DataError

# Two probe sizes of different aspect: a transform whose output has one size for both resizes or
# crops to a fixed input size; otherwise the model takes any size (e.g. whole wrinkle images).
PROBES = ((1024, 1280), (1280, 960))
DEFAULT_MAX_PIXELS = 50_000_000  # a decoded image larger than this is refused (decompression bombs)


def describe(transform):
    """{"mean", "std", "max_pixel_value", "input_size"} of an A.Compose: input = (pixel / max_pixel_value
    - mean) / std per RGB channel; input_size [H, W], or None when any size passes through."""
    norm = next((t for t in _flat(transform) if isinstance(t, A.Normalize)), None)
    if norm is None:  # the datasets divide uint8 by 255 when no Normalize is configured
        mean, std, max_value = [0.0] * 3, [1.0] * 3, 255.0
    elif norm.normalization != "standard":
        raise ValueError(f"Normalize(normalization={norm.normalization!r}) cannot be described by mean/std; "
                         "only 'standard' is supported for prediction and export")
    else:
        mean, std, max_value = (_triple(norm.mean), _triple(norm.std), float(norm.max_pixel_value))
    sizes = {tuple(apply(transform, np.zeros((*hw, 3), np.uint8)).shape[-2:]) for hw in PROBES}
    size = list(sizes.pop()) if len(sizes) == 1 else None
    return {"mean": mean, "std": std, "max_pixel_value": max_value, "input_size": size}


def apply(transform, image):
    """(3, H, W) float tensor of one RGB uint8 image, as the datasets produce it."""
    try:
        x = transform(image=image)["image"] if transform is not None else image
    except CropSizeError as e:
        raise DataError(f"the image is {image.shape[1]}x{image.shape[0]} pixels (width x height), too small for "
                        f"this model's preprocessing: {e}") from e
    return image_tensor(x)


def decode_image(data, name="upload", max_pixels=DEFAULT_MAX_PIXELS):
    """RGB uint8 (H, W, 3) from the bytes of an image file (EXIF rotation applied); a DataError
    naming `name` when the bytes are not an image or decode to more than `max_pixels` pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit is checked below
            with Image.open(io.BytesIO(data)) as im:
                if im.width * im.height > max_pixels:
                    raise DataError(f"{name} is {im.width}x{im.height} pixels; images over {max_pixels / 1e6:g} "
                                    "megapixels are refused")
                im = ImageOps.exif_transpose(im)
                return np.asarray(im.convert("RGB"))
    except Image.DecompressionBombError as e:  # past PIL's own hard limit (about 179 megapixels)
        raise DataError(f"{name} is too large to decode: {e}") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{name} is not an image that can be read (PNG, JPEG, BMP, WebP, TIFF, ...): {e}") from e


def _flat(transform):
    for t in getattr(transform, "transforms", []):
        yield t
        yield from _flat(t)


def _triple(value):
    return [float(v) for v in np.broadcast_to(np.asarray(value, dtype=float), (3,))]
