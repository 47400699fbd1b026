"""The 18-class score decoded from heads, class-balanced sampling, and mixup / cutmix on head targets."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from data_loader.batch_mix import CutMix, Mixup
from data_loader.sample_weights import ClassBalanced
from data_loader.seeded_sampler import DataSampler
from model.metrics.face_attributes import FaceAttributeMetrics
from utils.builder import build
from utils.errors import ConfigError
from utils.registry import BATCH_TRANSFORMS

SIZES = {"mask": 3, "gender": 2, "age": 3}


def heads(n, seed):
    g = torch.Generator().manual_seed(seed)
    logits = {h: torch.randn(n, k, generator=g) for h, k in SIZES.items()}
    target = {h: torch.randint(0, k, (n,), generator=g) for h, k in SIZES.items()}
    return logits, target


def combined(d):
    return d["mask"] * 6 + d["gender"] * 3 + d["age"]


def test_the_18_class_score_of_a_three_head_model_matches_sklearn():
    logits, target = heads(300, 0)
    metric = FaceAttributeMetrics()
    for i in range(0, 300, 64):  # accumulated over batches, computed once
        metric.update({h: v[i:i + 64] for h, v in logits.items()}, {h: v[i:i + 64] for h, v in target.items()})
    pred = combined({h: v.argmax(1) for h, v in logits.items()}).numpy()
    truth = combined(target).numpy()
    got = metric.compute()
    assert got["f1"] == pytest.approx(f1_score(truth, pred, average="macro"))
    assert got["acc"] == pytest.approx(accuracy_score(truth, pred))
    matrix, names = metric.artifacts()["confusion_matrix"]
    assert np.array_equal(matrix, confusion_matrix(truth, pred, labels=range(18)))
    assert names[0] == "wear/male/young" and names[17] == "not wear/female/old"


def test_an_18_way_model_gets_per_head_scores_and_soft_targets_count_by_argmax():
    g = torch.Generator().manual_seed(1)
    logits, labels = torch.randn(200, 18, generator=g), torch.randint(0, 18, (200,), generator=g)
    soft = 0.7 * F.one_hot(labels, 18).float() + 0.3 / 18  # e.g. after cutmix
    metric = FaceAttributeMetrics(heads=True)
    metric.update(logits, soft)
    got = metric.compute()
    pred = logits.argmax(1).numpy()
    assert set(got) == set(metric.names())
    assert got["f1"] == pytest.approx(f1_score(labels, pred, average="macro"))
    for head, decode in (("mask", lambda c: c // 6), ("gender", lambda c: c // 3 % 2), ("age", lambda c: c % 3)):
        assert got[f"{head}_f1"] == pytest.approx(f1_score(decode(labels.numpy()), decode(pred), average="macro"))
        assert got[f"{head}_acc"] == pytest.approx(accuracy_score(decode(labels.numpy()), decode(pred)))
        matrix, _ = metric.artifacts()[f"{head}_confusion_matrix"]
        assert np.array_equal(matrix, confusion_matrix(decode(labels.numpy()), decode(pred), labels=range(SIZES[head])))


class Labelled:
    def __init__(self, labels):
        self.values = np.asarray(labels)

    def __len__(self):
        return len(self.values)

    def labels(self, key=None):
        return self.values


def test_class_balanced_sampling_draws_rare_classes_as_often_as_common_ones():
    data = Labelled([0] * 700 + [1] * 250 + [2] * 50)
    weights = ClassBalanced(data)
    assert weights[0] == pytest.approx(1 / 700) and weights[-1] == pytest.approx(1 / 50)
    sampler = DataSampler(len(data), seed=0, train=True, weights=weights)
    drawn = data.values[[i for i, _ in sampler]]
    assert np.allclose(np.bincount(drawn) / len(drawn), 1 / 3, atol=0.05)
    half = np.asarray(ClassBalanced(data, power=0.5))
    assert half[0] / half[-1] == pytest.approx(np.sqrt(50 / 700))


def constant_batch(n=6, h=8, w=10):
    """Image i is filled with the value i, so a pixel tells which image it came from."""
    return torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, h, w).clone()


def test_mixup_mixes_images_and_every_head_in_the_same_proportion():
    torch.manual_seed(0)
    x = constant_batch()
    labels = torch.arange(6)
    out, targets = Mixup(alpha=0.4, num_classes={"mask": 6, "gender": 6, "age": 6})(x, {h: labels for h in SIZES})
    for head in SIZES:
        t = targets[head]
        assert torch.allclose(t.sum(1), torch.ones(6))
        # each mixed image is the label-weighted mean of the images it came from
        assert torch.allclose(out.mean((1, 2, 3)), (t * torch.arange(6.0)).sum(1), atol=1e-5)
    assert torch.equal(targets["mask"], targets["age"])


@pytest.mark.parametrize("mode", ["box", "vertical", "horizontal"])
def test_cutmix_targets_are_the_pasted_areas(mode):
    torch.manual_seed(1)
    x, labels = constant_batch(), torch.arange(6)
    out, t = CutMix(alpha=1.0, mode=mode, num_classes=6)(x, labels)
    for i in range(6):
        assert t[i, i].item() == pytest.approx((out[i] == i).float().mean().item(), abs=1e-6)
        if mode == "vertical":  # whole columns pasted at the left or right edge
            pasted = (out[i, 0] != i).any(0)
            cols = torch.nonzero(pasted).flatten().tolist()
            assert not cols or cols[0] == 0 or cols[-1] == 9
            assert (out[i, 0] != i).all(0)[pasted].all()


def test_batch_mixing_is_reproducible_from_the_torch_seed_and_needs_class_counts():
    block = {"type": "CutMix", "args": {"prob": 0.5, "num_classes": 6}}
    mix = build(BATCH_TRANSFORMS, block, "data.train.batch_transform")
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        runs.append([mix(constant_batch(), torch.arange(6)) for _ in range(8)])
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(*runs))
    assert any(not o[1].is_floating_point() for o in runs[0]) and any(o[1].is_floating_point() for o in runs[0])
    with pytest.raises(ValueError, match="give num_classes"):
        Mixup()(constant_batch(), torch.arange(6))
    with pytest.raises(ConfigError, match=r"data.train.batch_transform.args.mode: expected one of"):
        build(BATCH_TRANSFORMS, {"type": "CutMix", "args": {"mode": "diagonal"}}, "data.train.batch_transform")
