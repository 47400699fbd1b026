"""Every shipped config resolves, builds and runs one training and one validation batch on data of its
family with only the data root overridden; the action recipes on a user's clips of other classes
(another count, other names), whose classes the run takes from the data alone."""
import pytest

from conftest import OTHER_ACTIONS, REPO
from trainer import run_training
from utils.checkpoint import load_checkpoint
from utils.config import apply_overrides, load_config

CONFIGS = sorted(p.name for p in (REPO / "configs").glob("*.json"))


def test_the_recipes_are_shipped():
    assert {"wrinkle_wbce.json", "wrinkle_wbce_pure.json", "wrinkle_f1.json", "wrinkle_quick.json"} <= set(CONFIGS)


# The sample data each dataset type runs on: a session fixture of conftest.py.
# A public dataset's recipe runs on a miniature of its published layout (tests/public_layouts.py).
ROOT_FIXTURES = {"WrinkleDataset": "wrinkle_root", "MaskFaceDataset": "mask_root",
                 "VideoDataset": "other_action_videos", "ImageTableDataset": "face_crops_root",
                 "WrinklePartDataset": "wrinkle_root", "FFHQWrinkleDataset": "ffhq_wrinkle_root",
                 "FFHQCropWrinkleDataset": "ffhq_crops_root", "UCF101Dataset": "ucf101_root",
                 "HMDB51Dataset": "hmdb51_root", "KineticsDataset": "kinetics_root"}


# Seed recipes at their real input sizes (U-Net crops of 1344x1248, EfficientNet-B3 at 300x240, ...):
# one CPU batch takes tens of seconds. The suite builds them (below) and runs their quick variants,
# which inherit everything but the sizes; `make test-full` (pytest -m slow) also runs one batch of each.
FULL_SIZE = {"wrinkle_wbce.json", "wrinkle_wbce_pure.json", "wrinkle_f1.json", "wrinkle_pretrained.json",
             "mask_multihead_effnet.json", "mask_multihead_pretrained.json", "mask_age.json", "mask_single18.json",
             "image_multihead.json", "action_resnext3d.json", "action_r3d18.json", "action_r2plus1d.json",
             # the public datasets' recipes: their own tests train them on the miniatures at tiny sizes
             "wrinkle_ffhq_pretrain.json", "wrinkle_ffhq_finetune.json", "wrinkle_ffhq_crops.json",
             "action_ucf101_r2plus1d.json", "action_hmdb51_r2plus1d.json", "action_kinetics_r2plus1d.json"}


def _on_sample_data(name, request, tmp_path):
    cfg = load_config(REPO / "configs" / name)
    kind = cfg["data"]["dataset"]["type"]
    root = request.getfixturevalue(ROOT_FIXTURES[kind])
    if "folder" in str(cfg["data"]["dataset"]["args"].get("root", "")):
        root = root / "folder"  # the ImageFolder form of the same sample
    if cfg.get("load_from"):  # a second stage starts from a first stage's run (tests/test_public_wrinkle_data.py)
        cfg["load_from"] = None
    return apply_overrides(cfg, [
        f"data.dataset.args.root={root}", f"trainer.save_dir={tmp_path}", "device=cpu",
        "trainer.epochs=1", "trainer.limit_train_batches=1", "trainer.limit_val_batches=1",
        # two images a batch: BatchNorm after a 1x1 feature map needs more than one value in training
        f"data.loader.batch_size={2 if kind == 'ImageTableDataset' else 1}", "data.loader.num_workers=0",
        "trainer.progress=none"])


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


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in FULL_SIZE else n for n in CONFIGS])
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
