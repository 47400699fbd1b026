"""Each trainer option does what its config key says."""
import csv

import pytest
import torch
import torch.nn as nn

from trainer import Trainer, run_test, run_training
from trainer.optim import LRSchedule
from utils.checkpoint import load_checkpoint
from utils.registry import MODELS


def _csv(trainer):
    with open(trainer.paths.log / "metrics.csv") as f:
        return list(csv.DictReader(f))


def _watch_forward(model_cls, monkeypatch):
    """Record the input memory format and output dtype of every training forward."""
    seen = []
    real = Trainer.train_epoch

    def train_epoch(self, epoch):
        hook = self.model.register_forward_hook(lambda m, i, o: seen.append(
            (i[0].is_contiguous(memory_format=torch.channels_last), o.dtype)))
        try:
            return real(self, epoch)
        finally:
            hook.remove()

    monkeypatch.setattr(Trainer, "train_epoch", train_epoch)
    return seen


@pytest.mark.parametrize("amp, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_amp_runs_the_forward_in_low_precision(config, monkeypatch, amp, dtype):
    seen = _watch_forward(Trainer, monkeypatch)
    trainer, _ = run_training(config(f"trainer.amp={amp}", "trainer.epochs=1", "trainer.limit_train_batches=2",
                                     "trainer.limit_val_batches=1"))
    assert {d for _, d in seen} == {dtype}
    row = _csv(trainer)[0]
    assert float(row["train/loss"]) == pytest.approx(float(row["train/loss"]))  # finite, logged
    ckpt = load_checkpoint(trainer.paths.models / "model_last.pth")
    assert (ckpt["scaler"] is not None) == (amp == "fp16")  # fp16 keeps its GradScaler state


def test_channels_last_feeds_the_model_channels_last_inputs(config, monkeypatch):
    seen = _watch_forward(Trainer, monkeypatch)
    run_training(config("trainer.channels_last=true", "trainer.epochs=1", "trainer.limit_train_batches=1"))
    assert seen and all(cl for cl, _ in seen)


def test_compiled_training_saves_plain_weights(config):
    cfg = config("trainer.compile={backend: aot_eager}", "trainer.epochs=1", "trainer.limit_train_batches=2")
    trainer, _ = run_training(cfg)
    assert trainer.train_model is not trainer.model
    keys = load_checkpoint(trainer.paths.models / "model_last.pth")["model"].keys()
    assert not any(k.startswith("_orig_mod.") for k in keys)


def _no_norm(config, *overrides):
    cfg = config("trainer.epochs=1", "lr_scheduler=null", "trainer.train_metrics=false",
                 "trainer.clip_grad_norm=null", "data.train.loader.drop_last=false", *overrides)
    cfg["imports"] = ["tests.components"]
    cfg["model"] = {"type": "NoNormNet"}
    cfg["optimizer"] = {"type": "SGD", "args": {"lr": 0.5}}
    return cfg


def test_gradient_accumulation_matches_the_large_batch(config):
    big, _ = run_training(_no_norm(config, "name=big", "data.loader.batch_size=4"))
    small, _ = run_training(_no_norm(config, "name=accum", "data.loader.batch_size=2", "trainer.grad_accum_steps=2"))
    assert big.global_step == small.global_step == 3
    for a, b in zip(big.model.parameters(), small.model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    plain, _ = run_training(_no_norm(config, "name=plain", "data.loader.batch_size=2"))
    assert not torch.allclose(plain.model.net[0].weight, big.model.net[0].weight, atol=1e-4)


def test_gradient_clipping_bounds_the_update(config):
    cfg = _no_norm(config, "trainer.clip_grad_norm=0.001", "trainer.limit_train_batches=1")
    cfg["optimizer"] = {"type": "SGD", "args": {"lr": 1.0}}
    trainer, _ = run_training(cfg)
    torch.manual_seed(cfg["seed"])  # the initial weights, as the run built them
    fresh = MODELS.get("NoNormNet")()
    step = torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(trainer.model.parameters(), fresh.parameters())))
    assert step.item() == pytest.approx(0.001, rel=1e-3)  # one SGD step of lr 1 on a gradient of norm 0.001


def test_ema_is_validated_checkpointed_and_used_by_test(config, tmp_path):
    trainer, _ = run_training(config("trainer.ema={decay: 0.8}", "trainer.monitor=max val_ema/f1", "trainer.epochs=1"))
    row = _csv(trainer)[0]
    assert "val_ema/f1" in row and "val/f1" in row
    ckpt = load_checkpoint(trainer.paths.models / "model_best.pth")
    ema = {k[len("module."):]: v for k, v in ckpt["ema"].items() if k.startswith("module.")}
    assert any(not torch.equal(ema[k], v) for k, v in ckpt["model"].items() if v.is_floating_point())
    report = run_test(trainer.config, trainer.paths.models / "model_best.pth", split="val", out_dir=tmp_path)
    assert report["weights"] == "ema"
    assert report["metrics"]["f1"] == pytest.approx(float(row["val_ema/f1"]), rel=1e-5)


def test_reduce_on_plateau_is_fed_the_monitored_metric(config, monkeypatch):
    monkeypatch.setattr(Trainer, "valid_epoch", lambda self, epoch: {"val/loss": 1.0, "val/f1": 0.5})
    cfg = config("trainer.epochs=4", "trainer.limit_train_batches=1")
    cfg["lr_scheduler"] = {"type": "ReduceLROnPlateau", "args": {"patience": 0, "factor": 0.5}}
    trainer, _ = run_training(cfg)
    lrs = [float(r["lr"]) for r in _csv(trainer)]
    assert lrs == pytest.approx([0.003, 0.003, 0.0015, 0.00075])
    assert trainer.scheduler.main.mode == "max"  # taken from the monitor 'max val/f1'


def test_per_epoch_schedule_after_warmup(config):
    cfg = config("trainer.epochs=4", "trainer.limit_train_batches=2")
    cfg["lr_scheduler"] = {"type": "StepLR", "args": {"step_size": 1, "gamma": 0.5}, "interval": "epoch",
                           "warmup": {"steps": 2, "start_factor": 0.1}}
    trainer, _ = run_training(cfg)
    assert [float(r["lr"]) for r in _csv(trainer)] == pytest.approx([0.0003, 0.003, 0.0015, 0.00075])


def test_warmup_then_per_step_cosine_matches_torch_sequential_lr():
    def opt():
        return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)

    mine = opt()
    schedule = LRSchedule(mine, torch.optim.lr_scheduler.CosineAnnealingLR(mine, T_max=6), "step", 4, 0.1)
    ref = opt()
    seq = torch.optim.lr_scheduler.SequentialLR(ref, [torch.optim.lr_scheduler.LinearLR(ref, 0.1, 1.0, 4),
                                                      torch.optim.lr_scheduler.CosineAnnealingLR(ref, T_max=6)], [4])
    for _ in range(10):
        assert mine.param_groups[0]["lr"] == pytest.approx(ref.param_groups[0]["lr"])
        mine.step(), ref.step(), schedule.step_iter(), seq.step()


def test_swa_averages_epoch_weights_recomputes_batchnorm_and_saves_a_checkpoint(config, monkeypatch, tmp_path):
    snapshots = []
    real = Trainer.end_epoch

    def end_epoch(self, epoch, score):
        real(self, epoch, score)
        snapshots.append({k: v.detach().clone() for k, v in self.model.named_parameters()})

    monkeypatch.setattr(Trainer, "end_epoch", end_epoch)
    cfg = config("trainer.epochs=3", "trainer.limit_train_batches=2", "trainer.swa={start_epoch: 2, lr: 0.001}")
    trainer, _ = run_training(cfg)
    swa = load_checkpoint(trainer.paths.models / "model_swa.pth")
    for name, value in snapshots[-1].items():  # the mean of epochs 2 and 3
        assert torch.allclose(swa["model"][name], (snapshots[1][name] + snapshots[2][name]) / 2, atol=1e-6)
    bn = "encoder.bn1.running_mean"
    assert not torch.equal(swa["model"][bn], trainer.model.state_dict()[bn])  # recomputed for the average
    lrs = [float(r["lr"]) for r in _csv(trainer)]
    assert lrs[0] != 0.001 and lrs[2] == pytest.approx(0.001)  # SWALR reached swa lr (1 anneal epoch)
    rows = _csv(trainer)
    assert len(rows) == 4 and rows[-1]["val_swa/f1"] != ""  # a final row with the SWA validation
    report = run_test(trainer.config, trainer.paths.models / "model_swa.pth", split="val", out_dir=tmp_path)
    assert report["metrics"]["f1"] == pytest.approx(float(rows[-1]["val_swa/f1"]), rel=1e-5)
