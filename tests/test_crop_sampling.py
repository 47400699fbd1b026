"""PositiveAwareCrop: crops hold mask pixels with the configured probability, padding never counts
as a positive, and it is built by name from a config like any albumentations transform."""
import random

import numpy as np
import pytest

from data_loader.transforms import build_transform

H, W, CROP = 120, 200, 32


def crops(positive_prob, mask, n=2000, seed=0):
    t = build_transform([{"type": "PositiveAwareCrop",
                          "args": {"height": CROP, "width": CROP, "positive_prob": positive_prob}}], "transform")
    t.set_random_state(np.random.default_rng(seed), random.Random(seed))
    image = np.zeros((*mask.shape, 3), np.uint8)
    out = [t(image=image, mask=mask)["mask"] for _ in range(n)]
    assert all(m.shape == (CROP, CROP) for m in out)
    return out


def crops_with_a_positive(positive_prob, mask, n=2000):
    return np.mean([(m == 1).any() for m in crops(positive_prob, mask, n)])


def one_positive_pixel():
    mask = np.zeros((H, W), np.uint8)
    mask[100, 170] = 1
    mask[:, :8] = 255  # padding (ignored), as PadIfNeeded(fill_mask=255) leaves it
    return mask


def uniform_crop_hit_rate():
    """Exact chance that a uniformly placed crop holds the pixel at (100, 170)."""
    ys, xs = np.arange(H - CROP + 1), np.arange(W - CROP + 1)
    hits = ((ys <= 100) & (100 < ys + CROP)).sum() * ((xs <= 170) & (170 < xs + CROP)).sum()
    return hits / (len(ys) * len(xs))


@pytest.mark.parametrize("positive_prob", [0.0, 0.3, 0.7, 1.0])
def test_a_crop_holds_a_positive_pixel_with_the_configured_probability(positive_prob):
    q = uniform_crop_hit_rate()
    expected = positive_prob + (1 - positive_prob) * q
    rate = crops_with_a_positive(positive_prob, one_positive_pixel())
    assert rate == pytest.approx(expected, abs=4 * np.sqrt(expected * (1 - expected) / 2000) + 1e-9)


def test_padding_is_not_a_positive_and_an_image_without_positives_crops_uniformly():
    mask = np.zeros((H, W), np.uint8)
    mask[:, :8] = 255
    touching = np.mean([(m == 255).any() for m in crops(1.0, mask, n=1000)])
    assert touching == pytest.approx(8 / (W - CROP + 1), abs=0.03)  # uniform crops; all would if 255 counted


def test_a_bad_probability_or_a_crop_larger_than_the_image_is_a_clear_error():
    with pytest.raises(ValueError, match="positive_prob must be in"):
        build_transform([{"type": "PositiveAwareCrop", "args": {"height": 8, "width": 8, "positive_prob": 1.5}}], "t")
    t = build_transform([{"type": "PositiveAwareCrop", "args": {"height": 64, "width": 64, "positive_prob": 0}}], "t")
    with pytest.raises(ValueError, match="larger than the image.*PadIfNeeded"):
        t(image=np.zeros((32, 32, 3), np.uint8), mask=np.zeros((32, 32), np.uint8))
