"""Segmentation losses against torch references; padding ignored; pos_weight estimated once."""
import pytest
import torch
import torch.nn.functional as F

from model.losses.segmentation import SoftF1Loss, WeightedBCE
from trainer.build import build_criterion


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 1, 8, 9, generator=g)
    target = (torch.rand(3, 8, 9, generator=g) < 0.3).float()
    return logits, target


def test_weighted_bce_equals_torch_on_valid_pixels_and_ignores_padding():
    logits, target = _batch()
    loss = WeightedBCE(pos_weight=7.0)
    ref = F.binary_cross_entropy_with_logits(logits.squeeze(1), target, pos_weight=torch.tensor(7.0))
    assert loss(logits, target) == pytest.approx(ref.item(), rel=1e-6)
    padded_logits = F.pad(logits, (0, 5, 0, 4), value=30.0)  # confident nonsense in the padding
    padded_target = F.pad(target, (0, 5, 0, 4), value=255.0)
    assert loss(padded_logits, padded_target) == pytest.approx(ref.item(), rel=1e-6)


def test_auto_pos_weight_is_negatives_over_positives_capped(wrinkle_root):
    from data_loader.wrinkle import WrinkleDataset

    ds = WrinkleDataset(wrinkle_root, "train")
    pos, total = ds.pixel_counts()
    loss = WeightedBCE(pos_weight="auto", max_pos_weight=1e6)
    loss.prepare(ds)
    assert loss.pos_weight.item() == pytest.approx((total - pos) / pos)
    capped = WeightedBCE(pos_weight="auto", max_pos_weight=5.0)
    capped.prepare(ds)
    assert capped.pos_weight.item() == 5.0
    assert "pos_weight" in capped.state_dict()  # travels in checkpoints; test.py does not re-estimate


def test_soft_f1_is_one_minus_soft_dice():
    logits, target = _batch(1)
    p = torch.sigmoid(logits.squeeze(1))
    tp, fp, fn = (p * target).sum(), (p * (1 - target)).sum(), ((1 - p) * target).sum()
    ref = 1 - (2 * tp + 1.0) / (2 * tp + fp + fn + 1.0)
    assert SoftF1Loss(smooth=1.0)(logits, target) == pytest.approx(ref.item(), rel=1e-6)


def test_soft_f1_still_punishes_false_positives_on_a_batch_without_wrinkles():
    logits = torch.zeros(2, 1, 8, 8, requires_grad=True)
    loss = SoftF1Loss()(logits, torch.zeros(2, 8, 8))
    loss.backward()
    assert loss.item() > 0.9 and (logits.grad > 0).all()  # gradient pushes predictions down


def test_weighted_sum_reports_each_weighted_term(config):
    cfg = config()
    cfg["loss"] = {"type": "WeightedSum", "args": {"terms": [
        {"type": "WeightedBCE", "args": {"pos_weight": 3.0}, "weight": 1.0, "name": "bce"},
        {"type": "SoftF1Loss", "weight": 0.5}]}}
    loss = build_criterion(cfg)
    logits, target = _batch(2)
    out = loss(logits, target)
    assert set(out) == {"loss_bce", "loss_softf1loss"} == set(loss.names())
    assert out["loss_bce"] == pytest.approx(WeightedBCE(3.0)(logits, target).item())
    assert out["loss_softf1loss"] == pytest.approx(0.5 * SoftF1Loss()(logits, target).item())
