"""Classification losses of the face-mask family against torch, numpy and scikit-learn references."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score
from sklearn.utils.class_weight import compute_class_weight

from model.losses.classification import CrossEntropy, FocalLoss, SoftMacroF1Loss
from model.losses.multi_head import MultiHeadLoss
from utils.builder import build
from utils.errors import ConfigError
from utils.registry import LOSSES


class Labels:
    """A stand-in training set that only knows its class counts."""

    def __init__(self, labels):
        self.labels = {k: np.asarray(v) for k, v in labels.items()}

    def class_counts(self, key=None):
        return np.bincount(self.labels[key or "class"], minlength={"mask": 3, "gender": 2}.get(key, 3))


def data(n=40, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g) * 2, torch.randint(0, k, (n,), generator=g)


def test_focal_loss_matches_its_formula_and_reduces_to_cross_entropy():
    logits, target = data()
    assert FocalLoss(gamma=0)(logits, target).item() == pytest.approx(F.cross_entropy(logits, target).item(), rel=1e-6)
    alpha = [0.5, 1.0, 2.0]
    p = torch.softmax(logits.double(), 1).numpy()
    pt = p[np.arange(len(target)), target.numpy()]
    ref = np.mean(-np.array(alpha)[target.numpy()] * (1 - pt) ** 2 * np.log(pt))
    assert FocalLoss(gamma=2, alpha=alpha)(logits, target).item() == pytest.approx(ref, rel=1e-5)
    smoothed = F.cross_entropy(logits, target, label_smoothing=0.1)
    assert FocalLoss(gamma=0, label_smoothing=0.1)(logits, target).item() == pytest.approx(smoothed.item(), rel=1e-6)
    soft = torch.softmax(torch.randn(40, 3), 1)  # e.g. mixup targets
    assert FocalLoss(gamma=0)(logits, soft).item() == pytest.approx(F.cross_entropy(logits, soft).item(), rel=1e-6)


def test_soft_macro_f1_of_confident_predictions_is_one_minus_sklearn_macro_f1():
    for k in (3, 2, 18):  # the class count comes from the logits: a 3-class head is not scored as 18 classes
        logits, target = data(n=60, k=k, seed=k)
        pred = logits.argmax(1)
        ref = f1_score(target, pred, labels=list(range(k)), average="macro", zero_division=0)
        assert SoftMacroF1Loss()(logits * 1e4, target).item() == pytest.approx(1 - ref, abs=1e-4)
    logits, target = data()
    logits.requires_grad_(True)
    SoftMacroF1Loss()(logits, target).backward()
    assert logits.grad.abs().sum() > 0


def test_auto_class_weights_are_balanced_and_travel_in_the_state_dict():
    labels = np.array([0] * 30 + [1] * 8 + [2] * 2)
    loss = CrossEntropy(weight="auto")
    loss.prepare(Labels({"class": labels}))
    expected = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    assert np.allclose(loss.weight.numpy(), expected)
    logits, target = data()
    ref = F.cross_entropy(logits, target, weight=torch.tensor(expected, dtype=torch.float32))
    assert loss(logits, target).item() == pytest.approx(ref.item(), rel=1e-6)
    fresh = CrossEntropy(weight="auto")  # as test.py or a resumed run builds it, before any prepare()
    fresh.load_state_dict(loss.state_dict())
    assert torch.equal(fresh.weight, loss.weight)


def test_multi_head_loss_weights_each_head_and_logs_it_on_its_own():
    logits = {h: data(k=k, seed=i)[0] for i, (h, k) in enumerate({"mask": 3, "gender": 2, "age": 3}.items())}
    target = {h: data(k=v.shape[1], seed=10 + i)[1] for i, (h, v) in enumerate(logits.items())}
    loss = build(LOSSES, {"type": "MultiHeadLoss", "args": {"heads": {
        "mask": {"type": "FocalLoss", "args": {"gamma": 2.0, "alpha": "auto"}, "weight": 0.3},
        "gender": {"type": "CrossEntropy", "weight": 0.2},
        "age": [{"type": "CrossEntropy", "args": {"weight": "auto"}, "weight": 0.5},
                {"type": "SoftMacroF1Loss", "weight": 0.25, "name": "f1"}]}}}, "loss")
    assert loss.names() == ["loss_mask", "loss_gender", "loss_age_crossentropy", "loss_age_f1"]
    mask_labels, age_labels = [0] * 10 + [1] * 5 + [2] * 5, [0] * 2 + [1] * 2 + [2] * 16
    loss.prepare(Labels({"mask": mask_labels, "gender": [0, 1], "age": age_labels}))
    terms = loss(logits, target)
    assert list(terms) == loss.names()
    mask_alpha = compute_class_weight("balanced", classes=np.arange(3), y=mask_labels)
    age_weight = torch.tensor(compute_class_weight("balanced", classes=np.arange(3), y=age_labels), dtype=torch.float32)
    assert terms["loss_mask"].item() == pytest.approx(
        0.3 * FocalLoss(gamma=2.0, alpha=mask_alpha.tolist())(logits["mask"], target["mask"]).item(), rel=1e-5)
    gender = F.cross_entropy(logits["gender"], target["gender"])
    assert terms["loss_gender"].item() == pytest.approx(0.2 * gender.item())
    assert terms["loss_age_crossentropy"].item() == pytest.approx(
        0.5 * F.cross_entropy(logits["age"], target["age"], weight=age_weight).item(), rel=1e-6)
    assert terms["loss_age_f1"].item() == pytest.approx(0.25 * SoftMacroF1Loss()(logits["age"], target["age"]).item())


def test_multi_head_loss_errors_name_the_head():
    with pytest.raises(ConfigError, match=r"loss.args.heads.age.args.gama: unknown argument for FocalLoss"):
        build(LOSSES, {"type": "MultiHeadLoss", "args": {"heads": {"age": {"type": "FocalLoss", "args": {"gama": 2}}}}},
              "loss")
    loss = MultiHeadLoss({"mask": {"type": "CrossEntropy"}, "hair": {"type": "CrossEntropy"}})
    logits, target = data()
    with pytest.raises(ConfigError, match=r"heads.hair: not a head of the model's outputs \['mask'\]"):
        loss({"mask": logits}, {"mask": target})
    with pytest.raises(ConfigError, match="needs a model that returns a dict of heads"):
        loss(logits, target)
