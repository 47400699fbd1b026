"""Every shipped config resolves, builds and runs one training and one validation batch on data of its
family with only the data root overridden (the quick recipes in every mode: test_recipe_matrix.py); the action
recipes on a user's clips of other classes (another count, other names), whose classes the run takes from the
data alone."""
import pytest
import torch

from conftest import OTHER_ACTIONS
from recipes import CONFIGS, FULL_SIZE, QUICK, on_sample_data
from trainer import run_training
from utils.checkpoint import load_checkpoint


def test_the_recipes_are_shipped():
    assert {"wrinkle_wbce.json", "wrinkle_wbce_pure.json", "wrinkle_f1.json", "wrinkle_quick.json"} <= set(CONFIGS)


def _on_sample_data(name, request, tmp_path):
    return on_sample_data(name, request, tmp_path, "trainer.tensorboard=true", "trainer.report=true")


@pytest.mark.parametrize("name", CONFIGS)
def test_config_builds_on_data_of_its_family(name, request, tmp_path):
    """Everything a run builds before its first step: datasets, classes from the data, model, loss,
    metrics, inferer, optimizer and the monitored key."""
    from base.base_trainer import parse_monitor
    from trainer import build as B
    from trainer.classes import resolve_classes
    from trainer.optim import build_optimizer
    from trainer.options import TrainerOptions

    cfg = _on_sample_data(name, request, tmp_path)
    B.validate(cfg)
    cfg = resolve_classes(cfg, B.build_dataset(cfg, "train"))
    B.build_dataset(cfg, "val")
    model, criterion, metrics = B.build_model(cfg), B.build_criterion(cfg), B.build_metrics(cfg)
    B.build_inferer(cfg)
    build_optimizer(cfg["optimizer"], model)
    options = TrainerOptions.from_config(cfg.get("trainer"))
    B.check_monitor(parse_monitor(options.monitor)[1], metrics, criterion, options.ema)


# The quick recipes run in every mode in tests/test_recipe_matrix.py.
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in FULL_SIZE else n
                                  for n in CONFIGS if n not in QUICK])
def test_config_runs_one_batch(name, request, tmp_path):
    cfg = _on_sample_data(name, request, tmp_path)
    trainer, summary = run_training(cfg)
    assert summary["last_epoch"] == 1
    assert (trainer.paths.models / "model_last.pth").is_file()
    assert "val/loss" in trainer.last_log
    if cfg.get("metrics"):  # a pretraining stage on soft labels is judged by its loss alone
        assert any(k.startswith("val/") and k.endswith("f1") for k in trainer.last_log)
    if cfg["data"]["dataset"]["type"] == "VideoDataset":  # the data's classes, named nowhere in the recipe
        ckpt = load_checkpoint(trainer.paths.models / "model_last.pth")
        assert ckpt["labels"] == {"classes": sorted(OTHER_ACTIONS.values())}
        assert ckpt["config"]["data"]["dataset"]["args"]["classes"] == sorted(OTHER_ACTIONS.values())


def _small(x, mode="bilinear"):
    """A training batch shrunk to at most 128 pixels a side (full-size recipes take 1344x1248 crops):
    which parameters a forward pass reaches does not depend on the input size."""
    import torch.nn.functional as F

    if max(x.shape[-2:]) <= 128:
        return x
    if x.dim() == 3:  # (N, H, W) masks
        return _small(x[:, None].float(), "nearest")[:, 0]
    if x.dim() == 5:  # (N, C, T, H, W) or (N, T, C, H, W): keep the first two axes
        return _small(x.flatten(0, 1), mode).unflatten(0, x.shape[:2])
    return F.interpolate(x, size=(128, 128), mode=mode)


@pytest.mark.parametrize("name", CONFIGS)
def test_every_trainable_parameter_gets_a_gradient(name, request, tmp_path):
    """No dead weight: one forward/backward of a training batch of the recipe's family reaches every
    parameter the optimizer would update (an unused stage would fill checkpoints and break DDP)."""
    from trainer import build as B
    from trainer.batch import total_loss
    from trainer.classes import resolve_classes

    cfg = _on_sample_data(name, request, tmp_path)
    train_set, loader = B.build_data(cfg, "train", torch.device("cpu"), train=True)
    cfg = resolve_classes(cfg, train_set)
    model, criterion = B.build_model(cfg).train(), B.build_criterion(cfg)
    if hasattr(criterion, "prepare"):
        criterion.prepare(train_set)
    batch = next(iter(loader))
    target = batch["target"]
    target = target if isinstance(target, dict) or target.dim() < 3 else _small(target)
    loss, _ = total_loss(criterion(model(_small(batch["input"])), target))
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert dead == []
    assert all(p.requires_grad for p in model.parameters())  # no shipped recipe freezes anything


def test_frozen_parameters_are_reported_as_frozen(request, tmp_path, capsys):
    """A fine-tuning run that freezes early stages says so in its first line; they get no gradient
    and that is not an error."""
    cfg = on_sample_data("action_frame2d_quick.json", request, tmp_path, "model.args.freeze_until=layer1",
                         "data.loader.batch_size=2")
    trainer, _ = run_training(cfg)
    frozen = sum(p.numel() for p in trainer.model.parameters() if not p.requires_grad)
    train = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    assert frozen > 0
    assert f"{train / 1e6:.2f}M parameters train, {frozen / 1e6:.2f}M frozen" in capsys.readouterr().out
