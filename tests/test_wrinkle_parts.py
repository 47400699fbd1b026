"""WrinklePartDataset: a part's sample is exactly its crop of the image and mask, padding ignored."""
import numpy as np
import pytest
import torch

from data_loader.face_regions import FaceRegions
from data_loader.pad_to_multiple import PadToMultiple
from data_loader.wrinkle import WrinkleDataset, read_image, read_mask
from data_loader.wrinkle_parts import WrinklePartDataset
from utils.errors import ConfigError

REGIONS = {"parts": {"forehead": [0.27, 0.14, 0.73, 0.33], "corner": [0.85, 0.85, 1.2, 1.1]}, "margin": 0.25}


def test_a_part_sample_is_the_crop_of_its_image_and_mask(wrinkle_root):
    ds = WrinklePartDataset(wrinkle_root, REGIONS, part="forehead", split="val")
    regions = FaceRegions.from_spec(REGIONS)
    for i in range(len(ds)):
        sample = ds[i]
        image_path, mask_path = ds.items[i]
        image, mask = read_image(image_path), read_mask(mask_path)
        x0, y0, x1, y1 = regions.locate(size=image.shape[:2])["forehead"].crop_box(0.25)
        assert sample["meta"]["crop_box"].tolist() == [x0, y0, x1, y1]
        assert 0 <= x0 and x1 <= image.shape[1] and 0 <= y0  # the forehead lies inside the sample faces
        expected = torch.as_tensor(image[y0:y1, x0:x1]).permute(2, 0, 1).float() / 255
        assert torch.equal(sample["input"], expected)
        assert torch.equal(sample["target"], torch.as_tensor(mask[y0:y1, x0:x1]).float())
        assert sample["meta"]["part"] == "forehead" and sample["meta"]["name"] == f"{image_path.stem}_forehead"


def test_a_crop_past_the_border_is_padded_with_the_ignore_value(wrinkle_root):
    ds = WrinklePartDataset(wrinkle_root, REGIONS, part="corner", split="val")
    sample = ds[0]
    image = read_image(ds.items[0][0])
    h, w = image.shape[:2]
    x0, y0, x1, y1 = sample["meta"]["crop_box"].tolist()
    assert x1 > w and y1 > h
    target = sample["target"]
    assert (target[h - y0:] == 255).all() and (target[:, w - x0:] == 255).all()
    assert set(target[:h - y0, :w - x0].unique().tolist()) <= {0.0, 1.0}
    # the image repeats its border pixels there
    assert torch.equal(sample["input"][:, -1, : w - x0], sample["input"][:, h - y0 - 1, : w - x0])


def test_pixel_counts_are_those_of_the_crops(wrinkle_root):
    ds = WrinklePartDataset(wrinkle_root, REGIONS, part="corner", split="val")
    targets = [ds[i]["target"] for i in range(len(ds))]
    pos = sum(int((t == 1).sum()) for t in targets)
    labelled = sum(int((t != 255).sum()) for t in targets)
    assert ds.pixel_counts() == (pos, labelled)


def test_no_part_means_whole_images_like_the_wrinkle_dataset(wrinkle_root):
    parts = WrinklePartDataset(wrinkle_root, REGIONS, part=None, split="test")
    whole = WrinkleDataset(wrinkle_root, split="test")
    assert len(parts) == len(whole)
    a, b = parts[1], whole[1]
    assert torch.equal(a["input"], b["input"]) and torch.equal(a["target"], b["target"])
    assert parts.pixel_counts() == whole.pixel_counts()


def test_an_unknown_part_names_the_regions(wrinkle_root):
    from conftest import REPO
    from trainer import build as B
    from utils.config import apply_overrides, load_config

    cfg = apply_overrides(load_config(REPO / "configs/wrinkle_partitioned.json"),
                          [f"data.dataset.args.root={wrinkle_root}", "data.dataset.args.part=chin"])
    with pytest.raises(ConfigError, match=r"data.train.dataset.*'chin' is not a region.*forehead"):
        B.build_dataset(cfg, "train")


def test_pad_to_multiple_pads_bottom_right_with_ignored_mask():
    pad = PadToMultiple(divisor=32)
    image = np.arange(50 * 70 * 3, dtype=np.uint8).reshape(50, 70, 3)
    out = pad(image=image, mask=np.ones((50, 70), np.uint8))
    assert out["image"].shape == (64, 96, 3) and out["mask"].shape == (64, 96)
    assert np.array_equal(out["image"][:50, :70], image)
    assert (out["image"][50:, :70] == image[-1:, :]).all()  # border repeated
    assert (out["mask"][50:] == 255).all() and (out["mask"][:, 70:] == 255).all() and (out["mask"][:50, :70] == 1).all()
