"""torchrun with 2 CPU processes (gloo) gives the same run as 1 process with the same global batch (every shipped
quick recipe under torchrun: tests/test_recipe_matrix.py)."""
import csv
import json

import pytest
import torch

from commands import test_cli
from conftest import tiny_config, torchrun
from trainer import run_training
from utils.checkpoint import load_checkpoint

# Float summation order differs between one batch of 4 and two all-reduced batches of 2; with SGD at lr 0.5
# that noise grows to ~3e-5 over 6 steps. A real error (gradients summed instead of averaged, a process
# training on the other's shard) moves weights by ~1e-2.
TOLERANCE = 1e-4
# Validation runs one image per batch: the epoch's loss is a sample-weighted mean of batch losses, so
# padded batches of mixed sizes composed differently would change it slightly (metrics are exact counts).


def _config(root, save_dir, *overrides):
    cfg = tiny_config(root, save_dir, "lr_scheduler=null", "trainer.clip_grad_norm=null", "trainer.epochs=2",
                      "data.train.loader.drop_last=false", "data.val.loader.batch_size=1", *overrides)
    cfg["imports"] = ["tests.components"]
    cfg["model"] = {"type": "NoNormNet"}  # no BatchNorm: splitting a batch across processes changes nothing
    cfg["optimizer"] = {"type": "SGD", "args": {"lr": 0.5}}
    return cfg


def _rows(log_dir):
    with open(log_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def _one_val_image(root, tmp):
    """The sample's training split and one validation image: a split smaller than the processes."""
    one = tmp / "one_val"
    (one / "val/images").mkdir(parents=True)
    (one / "val/masks").mkdir()
    (one / "train").symlink_to(root / "train")
    image = sorted((root / "val/images").iterdir())[0]
    (one / "val/images" / image.name).symlink_to(image)
    (mask,) = (root / "val/masks").glob(image.stem + ".*")
    (one / "val/masks" / mask.name).symlink_to(mask)
    return one


@pytest.fixture(scope="module")
def runs(wrinkle_root, tmp_path_factory):
    """One torchrun launch: a 2-epoch run, a 1-epoch run resumed to 2 epochs, and a run whose one
    validation image leaves the second process's shard empty."""
    tmp = tmp_path_factory.mktemp("ddp")
    single, _ = run_training(_config(wrinkle_root, tmp / "saved", "name=single", "data.loader.batch_size=4"))
    one_val = _one_val_image(wrinkle_root, tmp)
    for name, root, epochs in (("ddp", wrinkle_root, 2), ("ddp_resumed", wrinkle_root, 1), ("one_val", one_val, 1)):
        cfg = _config(root, tmp / "saved", f"name={name}", "data.loader.batch_size=2", f"trainer.epochs={epochs}")
        (tmp / f"{name}.json").write_text(json.dumps(cfg))
    codes, output = torchrun([
        {"name": "ddp", "argv": ["--config", str(tmp / "ddp.json")]},
        {"name": "ddp_resumed", "argv": ["--config", str(tmp / "ddp_resumed.json")]},
        {"name": "resume", "argv": ["--config", str(tmp / "ddp_resumed.json"), "--resume",
                                    f"@last:{tmp / 'saved/models/ddp_resumed'}", "-o", "trainer.epochs=2"]},
        {"name": "one_val", "argv": ["--config", str(tmp / "one_val.json")]}], tmp)
    assert codes == {"ddp": 0, "ddp_resumed": 0, "resume": 0, "one_val": 0}, output
    return tmp, single


def test_two_processes_write_one_run_and_match_a_single_process(runs):
    tmp, single = runs
    (model_dir,) = (tmp / "saved/models/ddp").iterdir()
    (log_dir,) = (tmp / "saved/log/ddp").iterdir()
    assert model_dir.name == log_dir.name
    ddp_rows, single_rows = _rows(log_dir), _rows(single.paths.log)
    assert len(ddp_rows) == len(single_rows) == 2
    for a, b in zip(ddp_rows, single_rows):
        assert a["step"] == b["step"]  # 3 optimizer steps per epoch in both
        for key in ("train/loss", "val/loss", "val/f1", "val/iou", "val/accuracy"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-4, abs=1e-6), key
    ddp = load_checkpoint(model_dir / "model_last.pth")
    for k, v in single.model.state_dict().items():
        assert torch.allclose(ddp["model"][k], v, atol=TOLERANCE), k
    assert len(ddp["rng"]) == 2  # each process's random state, for an exact resume


def test_ddp_resume_continues_the_run(runs):
    tmp, single = runs
    (model_dir,) = (tmp / "saved/models/ddp_resumed").iterdir()  # continued in the same run directory
    resumed = load_checkpoint(model_dir / "model_last.pth")
    assert resumed["epoch"] == 2
    for k, v in single.model.state_dict().items():  # 1 epoch + resume = 2 epochs in one go
        assert torch.allclose(resumed["model"][k], v, atol=TOLERANCE), k


def test_a_validation_split_smaller_than_the_processes_is_scored_whole(runs):
    """The process with no validation image joins the sums (it used to wait forever for the other)."""
    tmp, _ = runs
    (model_dir,) = (tmp / "saved/models/one_val").iterdir()
    (log_dir,) = (tmp / "saved/log/one_val").iterdir()
    (row,) = _rows(log_dir)
    assert test_cli.main(["--checkpoint", str(model_dir / "model_last.pth"), "--split", "val",
                          "--out", str(tmp / "one_val_scores")]) == 0
    scores = json.loads((tmp / "one_val_scores/metrics.json").read_text())["metrics"]
    for key in ("val/loss", "val/f1", "val/iou"):
        assert float(row[key]) == pytest.approx(scores[key[4:]], rel=1e-5, abs=1e-6), key
