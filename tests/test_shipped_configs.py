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
    assert {"wrinkle_wbce.json", "wrinkle_f1.json", "wrinkle_quick.json"} <= set(CONFIGS)


# The sample data each dataset type runs on: a session fixture of conftest.py.
ROOT_FIXTURES = {"WrinkleDataset": "wrinkle_root", "MaskFaceDataset": "mask_root",
                 "VideoDataset": "other_action_videos"}


@pytest.mark.parametrize("name", CONFIGS)
def test_config_runs_one_batch(name, request, tmp_path):
    cfg = load_config(REPO / "configs" / name)
    root = request.getfixturevalue(ROOT_FIXTURES.get(cfg["data"]["dataset"]["type"], "wrinkle_root"))
    cfg = apply_overrides(cfg, [
        f"data.dataset.args.root={root}", f"trainer.save_dir={tmp_path}", "device=cpu",
        "trainer.epochs=1", "trainer.limit_train_batches=1", "trainer.limit_val_batches=1",
        "data.loader.batch_size=1", "data.loader.num_workers=0", "trainer.progress=none"])
    trainer, summary = run_training(cfg)
    assert summary["last_epoch"] == 1
    assert (trainer.paths.models / "model_last.pth").is_file()
    assert "val/f1" in trainer.last_log and "val/loss" in trainer.last_log
    if cfg["data"]["dataset"]["type"] == "VideoDataset":  # the data's classes, named nowhere in the recipe
        ckpt = load_checkpoint(trainer.paths.models / "model_last.pth")
        assert ckpt["labels"] == {"classes": sorted(OTHER_ACTIONS.values())}
        assert ckpt["config"]["data"]["dataset"]["args"]["classes"] == sorted(OTHER_ACTIONS.values())
