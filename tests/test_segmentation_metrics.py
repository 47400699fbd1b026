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


def test_an_empty_prediction_on_an_empty_mask_counts_as_perfect():
    metric = BinarySegMetrics()
    metric.update(torch.full((1, 1, 4, 4), -9.0), torch.zeros(1, 4, 4))
    assert metric.compute()["f1_per_image"] == 1.0


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
