"""Images and masks as they come: any mask bit depth or channel layout, EXIF-rotated photos whose
masks match the stored pixels, and truncated JPEGs refused with their name."""
import io

import cv2
import numpy as np
import pytest
from PIL import Image

from data_loader.image_io import read_image, read_mask
from data_loader.wrinkle import WrinkleDataset
from utils.errors import DataError

LABEL = np.zeros((37, 53), bool)
LABEL[5:9, 10:40] = True  # a wrinkle stripe
LABEL[20:30, 3] = True


def _write_pair(root, stem, image, mask_file_writer, split="train"):
    (root / split / "images").mkdir(parents=True, exist_ok=True)
    (root / split / "masks").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / split / "images" / f"{stem}.png"), image[..., ::-1])
    mask_file_writer(root / split / "masks" / f"{stem}.png")


@pytest.mark.parametrize("kind", ["16bit_01", "16bit_0_65535", "rgb_one_channel_1", "rgba_opaque", "palette",
                                  "8bit_0_255", "8bit_01"])
def test_masks_are_read_at_their_true_bit_depth(tmp_path, kind):
    path = tmp_path / "m.png"
    if kind == "16bit_01":
        cv2.imwrite(str(path), LABEL.astype(np.uint16))
    elif kind == "16bit_0_65535":
        cv2.imwrite(str(path), LABEL.astype(np.uint16) * 65535)
    elif kind == "rgb_one_channel_1":  # label 1 in the red channel only
        rgb = np.zeros((*LABEL.shape, 3), np.uint8)
        rgb[..., 0] = LABEL
        Image.fromarray(rgb).save(path)
    elif kind == "rgba_opaque":  # alpha 255 everywhere must not make every pixel a wrinkle
        rgba = np.zeros((*LABEL.shape, 4), np.uint8)
        rgba[..., 1], rgba[..., 3] = LABEL * 255, 255
        Image.fromarray(rgba).save(path)
    elif kind == "palette":  # index 1 = wrinkle, whatever colour the palette gives it
        im = Image.fromarray(LABEL.astype(np.uint8), mode="L").convert("P")
        im.putpalette([0, 0, 0, 0, 0, 1] + [0] * 762)
        im.save(path)
    elif kind == "8bit_0_255":
        cv2.imwrite(str(path), LABEL.astype(np.uint8) * 255)
    else:
        cv2.imwrite(str(path), LABEL.astype(np.uint8))
    assert np.array_equal(read_mask(path), LABEL.astype(np.uint8))


def test_a_16bit_mask_set_trains_on_its_wrinkles(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (*LABEL.shape, 3), dtype=np.uint8)
    for i in range(3):
        _write_pair(tmp_path, f"f{i}", image, lambda p: cv2.imwrite(str(p), LABEL.astype(np.uint16)))
    data = WrinkleDataset(tmp_path, "train", val_fraction=0)
    assert data.pixel_counts() == (3 * LABEL.sum(), 3 * LABEL.size)
    assert np.array_equal(data[0]["target"].numpy(), LABEL.astype(np.float32))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_an_exif_rotated_photo_and_its_mask_of_the_stored_pixels_stay_aligned(tmp_path, orientation):
    stored = np.zeros((*LABEL.shape, 3), np.uint8)
    stored[LABEL] = 255  # the wrinkle is bright in the photo as stored
    root = tmp_path / "data"
    (root / "train/images").mkdir(parents=True)
    (root / "train/masks").mkdir(parents=True)
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(root / "train/images/a.jpg", exif=exif, quality=100)
    Image.fromarray(LABEL.astype(np.uint8) * 255).save(root / "train/masks/a.png")
    image, mask = WrinkleDataset(root, "train", val_fraction=0).read(0)
    assert image.shape[:2] != LABEL.shape or orientation == 3  # the photo is shown turned
    assert mask.shape == image.shape[:2]
    assert np.array_equal(mask.astype(bool), image[..., 0] > 127)  # the mask follows the turned pixels


def test_a_truncated_jpeg_is_named_not_trained_on_grey(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])
    assert cv2.imread(str(path)) is not None  # OpenCV decodes it (grey fill, a warning without the file name)
    with pytest.raises(DataError, match=r"cut\.jpg is a truncated JPEG"):
        read_image(path)
    whole = tmp_path / "whole.jpg"
    whole.write_bytes(buf.getvalue() + b"\x00" * 16)  # trailing padding after the end marker is fine
    assert read_image(whole).shape == (64, 64, 3)
