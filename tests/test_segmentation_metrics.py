"""Pixel metrics equal scikit-learn's, accumulated over batches, with padding ignored."""
import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, jaccard_score, precision_score, recall_score

from model.metrics.segmentation import BinarySegMetrics


def _data(seed=0, n=6, h=17, w=23):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 1, h, w, generator=g) * 2
    target = (torch.rand(n, h, w, generator=g) < 0.2).float()
    target[:, -3:, :] = 255  # padding rows, ignored
    return logits, target


def _sklearn(pred, truth):
    return {"precision": precision_score(truth, pred), "recall": recall_score(truth, pred),
            "f1": f1_score(truth, pred), "iou": jaccard_score(truth, pred), "accuracy": accuracy_score(truth, pred)}


def test_micro_metrics_match_sklearn_over_an_epoch_of_batches():
    logits, target = _data()
    metric = BinarySegMetrics(threshold=0.5)
    for i in range(0, len(logits), 4):  # uneven batches: 4 + 2
        metric.update(logits[i:i + 4], target[i:i + 4])
    got = metric.compute()
    valid = target != 255
    pred = (torch.sigmoid(logits.squeeze(1)) >= 0.5)[valid].numpy().astype(int)
    truth = target[valid].numpy().astype(int)
    for key, ref in _sklearn(pred, truth).items():
        assert got[key] == pytest.approx(ref, abs=1e-12), key


def test_per_image_metrics_are_the_mean_of_each_images_scores():
    logits, target = _data(seed=1)
    metric = BinarySegMetrics(threshold=0.3)
    metric.update(logits, target)
    got = metric.compute()
    f1s, ious = [], []
    for lg, t in zip(logits, target):
        valid = t != 255
        pred = (torch.sigmoid(lg[0]) >= 0.3)[valid].numpy().astype(int)
        truth = t[valid].numpy().astype(int)
        f1s.append(f1_score(truth, pred))
        ious.append(jaccard_score(truth, pred))
    assert got["f1_per_image"] == pytest.approx(np.mean(f1s))
    assert got["iou_per_image"] == pytest.approx(np.mean(ious))
    assert got["f1_per_image"] != pytest.approx(got["f1"])  # a different quantity from micro F1


def test_no_convention_rewards_predicting_nothing():
    """scikit-learn's zero_division=0: an all-negative model scores 0 everywhere, also on images
    whose truth is empty, so a monitor can never pick it over a model that finds wrinkles."""
    logits, target = _data(seed=3, n=4)
    target[:2] = 0  # two images without any wrinkle
    nothing = BinarySegMetrics()
    nothing.update(torch.full_like(logits, -9.0), target)
    got = nothing.compute()
    valid = target != 255
    truth = target[valid].numpy().astype(int)
    none = np.zeros_like(truth)
    assert got["precision"] == precision_score(truth, none, zero_division=0) == 0
    assert got["f1"] == got["iou"] == got["recall"] == 0
    empty = [f1_score(t[v].numpy().astype(int), np.zeros(int(v.sum()), int), zero_division=0)
             for t, v in zip(target, valid)]
    assert got["f1_per_image"] == pytest.approx(np.mean(empty)) == 0
    model = BinarySegMetrics()
    model.update(logits, target)  # a (random) model that predicts something scores above it
    assert model.compute()["f1_per_image"] > got["f1_per_image"]


def test_tuning_logs_the_best_threshold_and_decides_by_it():
    logits, target = _data(seed=4)
    metric = BinarySegMetrics(threshold=0.5, tune_threshold=True)
    assert metric.names()[-2:] == ["f1_best", "threshold_best"]
    metric.update(logits, target)
    got = metric.compute()
    valid = target != 255
    prob = torch.sigmoid(logits.squeeze(1))[valid].numpy()
    truth = target[valid].numpy().astype(int)
    grid = [0.01, 0.02] + [round(0.05 * i, 2) for i in range(1, 20)] + [0.97, 0.98, 0.99]  # as documented
    ref = [f1_score(truth, (prob >= t).astype(int)) for t in grid]
    assert got["f1_best"] == pytest.approx(max(ref)) and got["threshold_best"] == grid[int(np.argmax(ref))]
    assert metric.decision()["threshold"] == got["threshold_best"] != 0.5
    assert BinarySegMetrics(threshold=0.3).decision()["threshold"] == 0.3  # without tuning: the configured one


def test_best_threshold_is_the_argmax_of_sklearn_f1():
    logits, target = _data(seed=2)
    grid = [0.1, 0.3, 0.5, 0.7, 0.9]
    metric = BinarySegMetrics(thresholds=grid)
    metric.update(logits, target)
    valid = target != 255
    prob = torch.sigmoid(logits.squeeze(1))[valid].numpy()
    truth = target[valid].numpy().astype(int)
    ref = [f1_score(truth, (prob >= t).astype(int)) for t in grid]
    best, f1 = metric.best_threshold()
    assert best == grid[int(np.argmax(ref))] and f1 == pytest.approx(max(ref))
    metric.set_threshold(best)
    metric.update(logits, target)
    assert metric.compute()["f1"] == pytest.approx(max(ref))
