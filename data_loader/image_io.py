"""Reading images and masks from disk: one place for every dataset, each failure a DataError naming the file.

- Images come back RGB uint8 with the file's EXIF orientation applied (as OpenCV, PIL's
  exif_transpose and the web demo all show a photo). A JPEG without its end-of-image marker
  or a PNG without its IEND chunk (a truncated download or copy) is refused: libjpeg would fill the
  missing part with grey and only print a warning that names no file. Datasets run the same check
  over their files before training (`check_complete`).
- Masks are read at their true bit depth (8- or 16-bit, palette indices, any channel count;
  an alpha channel is ignored): any non-zero value in any channel is positive. Reading them as
  8-bit grayscale, as cv2.IMREAD_GRAYSCALE does, turns 16-bit 0/1 masks and one-channel labels
  of colour masks into empty ones.
- A mask is drawn over the image file's stored pixels (annotation tools and numpy see those);
  when the image carries an EXIF rotation, `orient_like` turns the mask the same way.
"""
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from utils.errors import DataError

JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"
PNG_START, PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
# PIL's transpose that undoes each EXIF orientation (tag 0x0112), as ImageOps.exif_transpose applies it.
ORIENTATION = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
               5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
               8: Image.Transpose.ROTATE_90}


def check_complete(path):
    """A DataError when a JPEG stops before its end-of-image marker or a PNG before its IEND chunk
    (trailing padding is allowed). Reads a few KB of the file's end: cheap enough to run on every
    file before training, where a truncated copy would otherwise stop a DataLoader worker mid-epoch."""
    with open(path, "rb") as f:
        head = f.read(8)
        if head[:2] == JPEG_START:
            end, kind = JPEG_END, "JPEG (no end-of-image marker)"
        elif head == PNG_START:
            end, kind = PNG_END, "PNG (no IEND chunk)"
        else:
            return
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 4096))
        tail = f.read().rstrip(b"\x00\r\n ")
    if end not in tail[-1024:]:
        raise DataError(f"{path} is a truncated {kind}: part of the image is missing; copy or download it again")


def read_image(path, what="image", context=""):
    """RGB uint8 (H, W, 3), EXIF orientation applied. `context` (e.g. "info.csv line 7") joins the error."""
    where = f" ({context})" if context else ""
    if not Path(path).is_file():
        raise DataError(f"cannot read {what} {path}{where}: file not found")
    check_complete(path)
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"cannot read {what} {path}{where}: corrupt or not an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_mask(path):
    """0/1 uint8 (H, W) in the file's stored pixel order: non-zero in any colour channel = 1."""
    try:
        with Image.open(path) as im:
            mode = im.mode
            mask = np.asarray(im)
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError(f"cannot read mask {path} (missing, corrupt or not an image): {e}") from e
    if mask.ndim == 3:
        if mode in ("RGBA", "LA", "PA", "La"):
            mask = mask[..., :-1]  # alpha says where the mask is opaque, not where the label is
        mask = mask.any(axis=-1)
    return (mask > 0).astype(np.uint8)


def stored_size(path):
    """(width, height) of the stored pixels and the EXIF orientation (1 = none), from the header.
    Orientation is read from JPEGs only: theirs sits in the header, while reaching a PNG's would
    decode the whole file."""
    try:
        with Image.open(path) as im:
            orientation = int(im.getexif().get(0x0112, 1) or 1) if im.format in ("JPEG", "MPO") else 1
            return im.size, orientation
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError(f"cannot read {path} (corrupt or not an image): {e}") from e


def shown_size(size, orientation):
    """(width, height) after the EXIF orientation is applied (5-8 swap the sides)."""
    return size[::-1] if orientation in (5, 6, 7, 8) else size


def orient_like(mask, orientation, stored):
    """`mask` turned as the image is by its EXIF orientation, when the mask has the stored pixels' size
    `stored` (width, height); a mask already of the shown size (a non-square image turned by 90
    degrees, annotated as shown) stays as it is."""
    if orientation not in ORIENTATION or (mask.shape[1], mask.shape[0]) != tuple(stored):
        return mask
    return np.asarray(Image.fromarray(mask).transpose(ORIENTATION[orientation]))


def image_problem(path):
    """Why the header of `path` cannot be read or the file is truncated (None when neither): cheap,
    run for every photo before training."""
    try:
        with Image.open(path) as im:
            im.size
        check_complete(path)
    except (OSError, ValueError) as e:
        return f"cannot read image {path}: {e}"
    except DataError as e:
        return str(e)
    return None
