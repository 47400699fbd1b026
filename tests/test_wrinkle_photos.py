"""The real-photo wrinkle sample set: generated on first use at its sample location, in the layout
WrinkleDataset reads, and as sparse and thin as the issue's real data (thin curves, at most 0.3% of
pixels, some images without any, 0/255 masks, odd sizes, validation on photos training never sees)."""
import cv2
import numpy as np
import pytest

from data_loader.wrinkle import WrinkleDataset
from samples.photos import PHOTOS, SPLIT_PHOTOS, load_photo
from samples.wrinkle_photos import MAX_POSITIVE


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The sample location generated through the dataset, as `-o data.dataset.args.root=...` does."""
    cwd = tmp_path_factory.mktemp("cwd")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        datasets = {split: WrinkleDataset("data/samples/wrinkle_photos", split) for split in ("train", "val")}
        yield cwd / "data/samples/wrinkle_photos", datasets


def masks(root):
    return {p: cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(root.glob("*/masks/*.png"))}


def test_the_sample_location_is_generated_on_first_use_in_the_wrinkle_layout(generated):
    root, datasets = generated
    assert len(datasets["train"]) == 48 and len(datasets["val"]) == 12
    assert len(list(root.glob("test/images/*"))) == 12
    image, mask = datasets["val"].read(0)
    assert image.shape[:2] == mask.shape and image.dtype == np.uint8


def test_wrinkles_are_sparse_thin_and_absent_from_some_images(generated):
    root, _ = generated
    found = masks(root)
    fractions = np.array([(m > 0).mean() for m in found.values()])
    assert all(m.dtype == np.uint8 and m.ndim == 2 and set(np.unique(m)) <= {0, 255} for m in found.values())
    assert fractions.max() <= MAX_POSITIVE and 0.0005 < fractions.mean() < 0.0025, fractions
    assert 0.1 < (fractions == 0).mean() < 0.4
    union = np.concatenate([(m > 0).ravel() for m in found.values()])
    # 1-2 px curves: a 4x4 opening removes them (a blob or a thick band would survive)
    opened = sum(int(cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((4, 4), np.uint8)).astype(bool).sum())
                 for m in found.values())
    assert opened < 0.01 * union.sum()


def test_images_are_real_photos_at_odd_sizes_and_validation_photos_are_held_out(generated):
    root, _ = generated
    sizes = [cv2.imread(str(p)).shape[:2] for p in sorted(root.glob("*/images/*"))]
    assert len(set(sizes)) > 30 and all(h % 32 and w % 32 for h, w in sizes)
    assert all(280 <= min(s) and max(s) < 700 for s in sizes)
    assert not set(SPLIT_PHOTOS["train"]) & set(SPLIT_PHOTOS["val"])
    assert len(PHOTOS) >= 8 and all(load_photo(name).std() > 20 for name in PHOTOS)  # textured photographs
