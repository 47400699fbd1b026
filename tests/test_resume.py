"""Exact resume, monitor/best/top-k checkpoints, early stopping, non-finite loss."""
import csv
from pathlib import Path

import pytest
import torch

from conftest import die_at_epoch
from trainer import Trainer, run_training
from utils.checkpoint import load_checkpoint
from utils.errors import NonFiniteLossError


def _rows(path):
    with open(path) as f:
        return [{k: v for k, v in r.items() if k != "time"} for r in csv.DictReader(f)]


def test_resume_gives_identical_weights_to_an_uninterrupted_run(config, monkeypatch):
    common = ["deterministic=true", "trainer.epochs=4", "trainer.ema={decay: 0.9}", "trainer.limit_train_batches=2",
              "trainer.swa={start_epoch: 2, lr: 0.002}"]
    straight, _ = run_training(config(*common, "name=straight"))

    # Same run with 2 data workers, killed at the start of epoch 3, then resumed.
    cfg = config(*common, "name=interrupted", "data.loader.num_workers=2")
    with monkeypatch.context() as m:
        die_at_epoch(m, 3)
        with pytest.raises(KeyboardInterrupt):
            run_training(cfg)
    run_dir = next((straight.paths.save_dir / "models" / "interrupted").iterdir())
    assert load_checkpoint(run_dir / "model_last.pth")["epoch"] == 2
    resumed, summary = run_training(cfg, resume=run_dir / "model_last.pth")

    assert resumed.paths.models == run_dir  # continues in the same run directory
    assert summary["last_epoch"] == 4
    a = load_checkpoint(straight.paths.models / "model_last.pth")
    b = load_checkpoint(run_dir / "model_last.pth")
    for part in ("model", "ema"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs after resume"
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a["scheduler"] == b["scheduler"] and a["global_step"] == b["global_step"]
    assert a["monitor"] == b["monitor"] and a["top_k"] == b["top_k"]
    swa_a = load_checkpoint(straight.paths.models / "model_swa.pth")["model"]
    swa_b = load_checkpoint(run_dir / "model_swa.pth")["model"]
    assert all(torch.equal(swa_a[k], swa_b[k]) for k in swa_a)
    # The resumed run's metrics.csv reads as one run: the same rows as the uninterrupted one.
    assert _rows(straight.paths.log / "metrics.csv") == _rows(resumed.paths.log / "metrics.csv")


def _scripted_scores(monkeypatch, scores):
    def valid_epoch(self, epoch):
        return {"val/loss": 1.0, "val/f1": scores[epoch - 1]}

    monkeypatch.setattr(Trainer, "valid_epoch", valid_epoch)


def test_best_topk_and_early_stopping_follow_the_monitor(config, monkeypatch):
    scores = [0.5, 0.6, 0.55, 0.58, 0.59, 0.9, 0.9, 0.9]
    _scripted_scores(monkeypatch, scores)
    trainer, summary = run_training(config("trainer.epochs=8", "trainer.early_stop=3", "trainer.save_top_k=2",
                                           "trainer.limit_train_batches=1"))
    # best 0.6 at epoch 2; epochs 3, 4, 5 do not beat it -> stop after epoch 5
    assert summary == {**summary, "best": 0.6, "best_epoch": 2, "last_epoch": 5, "stopped_early": True}
    models = trainer.paths.models
    assert load_checkpoint(models / "model_best.pth")["epoch"] == 2
    assert load_checkpoint(models / "model_last.pth")["epoch"] == 5
    kept = sorted(p.name for p in models.glob("checkpoint-epoch*.pth"))
    assert kept == ["checkpoint-epoch002.pth", "checkpoint-epoch005.pth"]  # 0.6 and 0.59
    assert len(_rows(trainer.paths.log / "metrics.csv")) == 5


def test_min_mode_and_save_period(config, monkeypatch):
    _scripted_scores(monkeypatch, [3.0, 2.0, 2.5, 1.0])
    trainer, summary = run_training(config("trainer.epochs=4", "trainer.monitor=min val/f1",
                                           "trainer.save_period=2", "trainer.limit_train_batches=1"))
    assert (summary["best"], summary["best_epoch"]) == (1.0, 4)
    assert sorted(p.name for p in trainer.paths.models.glob("checkpoint-epoch*.pth")) == \
        ["checkpoint-epoch002.pth", "checkpoint-epoch004.pth"]


def test_non_finite_loss_stops_without_touching_the_best_checkpoint(config, monkeypatch):
    from model.losses.segmentation import WeightedBCE

    cfg = config("trainer.epochs=3", "trainer.limit_train_batches=2")
    real = WeightedBCE.forward
    calls = {"n": 0}

    def forward(self, logits, target):
        calls["n"] += 1 if self.training else 0
        loss = real(self, logits, target)
        return loss * float("nan") if calls["n"] > 2 else loss  # NaN from the first batch of epoch 2

    monkeypatch.setattr(WeightedBCE, "forward", forward)
    with pytest.raises(NonFiniteLossError, match=r"training loss is nan at epoch 2, batch 0") as e:
        run_training(cfg)
    assert "model_last.pth" in str(e.value) and "learning rate" in str(e.value)
    run_dir = next((Path(cfg["trainer"]["save_dir"]) / "models" / cfg["name"]).iterdir())
    best = load_checkpoint(run_dir / "model_best.pth")
    assert best["epoch"] == 1 and all(torch.isfinite(v).all() for v in best["model"].values() if v.is_floating_point())
    assert load_checkpoint(run_dir / "model_last.pth")["epoch"] == 1
