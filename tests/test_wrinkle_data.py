"""The wrinkle dataset on the real layout: pairing, splits, errors that name the file, seeding."""
import shutil

import cv2
import numpy as np
import pytest
import torch

from data_loader.wrinkle import WrinkleDataset
from trainer.build import build_data
from utils.errors import DataError


@pytest.fixture
def root(wrinkle_root, tmp_path):
    """A private copy the test may damage."""
    return shutil.copytree(wrinkle_root, tmp_path / "wrinkle")


def test_images_pair_with_masks_by_stem_and_junk_is_ignored(root):
    (root / "train/images/._face.jpg").write_bytes(b"\x00\x01 macOS resource fork")
    (root / "train/images/.DS_Store").write_bytes(b"junk")
    ds = WrinkleDataset(root, "test")
    stems = sorted(p.stem for p in (root / "test/images").iterdir())
    assert [img.stem for img, _ in ds.items] == stems
    assert all(img.stem == mask.stem for img, mask in ds.items)
    sample = ds[0]
    h, w = cv2.imread(str(ds.items[0][0])).shape[:2]
    assert sample["input"].shape == (3, h, w) and sample["target"].shape == (h, w)
    assert set(sample["target"].unique().tolist()) <= {0.0, 1.0}
    assert tuple(sample["meta"]["size"].tolist()) == (h, w)


def test_masks_with_0_1_and_0_255_values_read_the_same(root):
    ds = WrinkleDataset(root, "test")
    before = ds[1]["target"].clone()
    mask_path = ds.items[1][1]
    cv2.imwrite(str(mask_path), (cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE) > 0).astype(np.uint8))
    assert torch.equal(WrinkleDataset(root, "test")[1]["target"], before)


def test_an_image_without_a_mask_is_named(root):
    victim = sorted((root / "train/masks").iterdir())[3]
    victim.unlink()
    with pytest.raises(DataError, match=rf"1 image\(s\) have no mask in .*masks .*{victim.stem}\."):
        WrinkleDataset(root, "train")


def test_a_mask_of_another_size_is_named(root):
    mask = sorted((root / "val/masks").iterdir())[0]
    cv2.imwrite(str(mask), np.zeros((10, 12), np.uint8))
    with pytest.raises(DataError, match=rf"mask .*{mask.name} is 12x10 but image .* is \d+x\d+"):
        WrinkleDataset(root, "val")


def test_a_corrupt_image_is_named(root):
    image = sorted((root / "val/images").iterdir())[1]
    image.write_bytes(b"not a jpeg at all")
    with pytest.raises(DataError, match=rf"cannot read .*{image.name}"):
        WrinkleDataset(root, "val")


def test_a_missing_root_describes_the_expected_layout(tmp_path):
    with pytest.raises(DataError, match=r"does not exist; expected layout:\n.*/train/images/<name>.jpg"):
        WrinkleDataset(tmp_path / "nowhere", "train")


def test_without_a_val_folder_a_seeded_fraction_of_train_is_held_out(root):
    shutil.rmtree(root / "val")
    train = WrinkleDataset(root, "train", val_fraction=0.25, split_seed=3)
    val = WrinkleDataset(root, "val", val_fraction=0.25, split_seed=3)
    train_stems = {p.stem for p, _ in train.items}
    val_stems = {p.stem for p, _ in val.items}
    assert len(val_stems) == 3 and len(train_stems) == 9 and not train_stems & val_stems
    again = WrinkleDataset(root, "val", val_fraction=0.25, split_seed=3)
    assert {p.stem for p, _ in again.items} == val_stems
    other = WrinkleDataset(root, "val", val_fraction=0.25, split_seed=4)
    assert {p.stem for p, _ in other.items} != val_stems


def test_the_sample_location_is_generated_on_first_use(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ds = WrinkleDataset("data/samples/wrinkle", "val")
    assert len(ds) > 0 and (tmp_path / "data/samples/wrinkle/train/masks").is_dir()


def test_augmentation_depends_only_on_seed_and_position_not_on_workers(config):
    cfg = config("data.train.loader.shuffle=true")
    batches = {}
    for workers in (0, 2):
        _, loader = build_data(cfg | {"data": {**cfg["data"], "loader": {**cfg["data"]["loader"],
                                                                          "num_workers": workers}}},
                               "train", torch.device("cpu"), train=True)
        loader.sampler.set_epoch(3)
        batches[workers] = [b["input"] for b in loader]
    assert all(torch.equal(a, b) for a, b in zip(batches[0], batches[2]))
    loader.sampler.set_epoch(4)
    assert not torch.equal(next(iter(loader))["input"], batches[2][0])  # a new epoch, new crops


def test_validation_batches_of_mixed_sizes_are_padded_and_marked_ignored(config):
    _, loader = build_data(config("data.val.loader.batch_size=4"), "val", torch.device("cpu"))
    batch = next(iter(loader))
    sizes = batch["meta"]["size"]
    assert len({tuple(s.tolist()) for s in sizes}) > 1  # the sample images differ in size
    for i, (h, w) in enumerate(sizes.tolist()):
        assert (batch["target"][i, h:, :] == 255).all() and (batch["target"][i, :, w:] == 255).all()
        assert (batch["target"][i, :h, :w] != 255).all()
