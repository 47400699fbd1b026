"""Multi-class metrics and cross entropy against scikit-learn and torch."""
import csv

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from logger.tracking import Tracker
from model.losses.classification import CrossEntropy
from model.metrics.classification import ClassificationMetrics


def test_accuracy_macro_f1_and_confusion_match_sklearn_over_batches():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 6, generator=g)
    target = torch.randint(0, 5, (200,), generator=g)  # class 5 never occurs (but may be predicted)
    metric = ClassificationMetrics(num_classes=6)
    for i in range(0, 200, 64):
        metric.update(logits[i:i + 64], target[i:i + 64])
    got = metric.compute()
    pred = logits.argmax(1).numpy()
    assert got["acc"] == pytest.approx(accuracy_score(target, pred))
    assert got["f1"] == pytest.approx(f1_score(target, pred, average="macro", zero_division=0))
    matrix, names = metric.artifacts()["confusion_matrix"]
    assert np.array_equal(matrix, confusion_matrix(target, pred, labels=range(6)))
    assert names == [str(i) for i in range(6)]


def test_a_head_of_a_dict_output_and_soft_targets():
    g = torch.Generator().manual_seed(1)
    logits = {"mask": torch.randn(50, 3, generator=g), "age": torch.randn(50, 3, generator=g)}
    hard = torch.randint(0, 3, (50,), generator=g)
    soft = 0.8 * F.one_hot(hard, 3).float() + 0.2 / 3  # e.g. after mixup: argmax is the label
    metric = ClassificationMetrics(num_classes=3, key="mask", class_names=["wear", "incorrect", "not wear"])
    metric.update(logits, {"mask": soft, "age": hard})
    got = metric.compute()
    assert set(got) == {"mask_acc", "mask_f1"} == set(metric.names())
    assert got["mask_f1"] == pytest.approx(f1_score(hard, logits["mask"].argmax(1), average="macro"))
    assert metric.artifacts()["mask_confusion_matrix"][1] == ["wear", "incorrect", "not wear"]


def test_cross_entropy_with_class_weights_and_smoothing_equals_torch():
    g = torch.Generator().manual_seed(2)
    logits, target = torch.randn(20, 4, generator=g), torch.randint(0, 4, (20,), generator=g)
    loss = CrossEntropy(weight=[1.0, 2.0, 0.5, 1.0], label_smoothing=0.1)
    ref = F.cross_entropy(logits, target, weight=torch.tensor([1.0, 2.0, 0.5, 1.0]), label_smoothing=0.1)
    assert loss(logits, target).item() == pytest.approx(ref.item())
    soft = F.one_hot(target, 4).float()
    assert CrossEntropy()(logits, soft).item() == pytest.approx(F.cross_entropy(logits, target).item(), rel=1e-6)


def test_confusion_matrices_are_saved_per_validation(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tracker = Tracker(tmp_path, tensorboard=True)
    tracker.log_artifacts("val", {"confusion_matrix": (np.array([[3, 1], [0, 2]]), ["a", "b"])}, epoch=2, step=10)
    tracker.close()
    with open(tmp_path / "artifacts/val_confusion_matrix_epoch002.csv") as f:
        assert list(csv.reader(f)) == [["true\\pred", "a", "b"], ["a", "3", "1"], ["b", "0", "2"]]
    events = EventAccumulator(str(tmp_path)).Reload()
    assert [e.step for e in events.Images("val/confusion_matrix")] == [10]
