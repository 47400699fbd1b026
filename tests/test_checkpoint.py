"""Checkpoints: plain data, atomic writes, safe loading, clear mismatch errors."""
import os
import subprocess
import sys

import pytest
import torch

from deploy.predictor import Predictor
from trainer import run_test, run_training
from trainer.checkpoints import decision_threshold
from utils.checkpoint import load_checkpoint, load_weights, save_checkpoint
from utils.errors import CheckpointError


@pytest.fixture(scope="module")
def trained(wrinkle_root, tmp_path_factory):
    from conftest import tiny_config

    cfg = tiny_config(wrinkle_root, tmp_path_factory.mktemp("saved"), "trainer.epochs=1",
                      "trainer.limit_train_batches=1", "trainer.amp=fp16", "trainer.ema={decay: 0.5}")
    trainer, _ = run_training(cfg)
    return cfg, trainer.paths.models / "model_best.pth"


def test_checkpoint_is_plain_data_loadable_outside_the_repo(trained, tmp_path):
    _, path = trained
    code = ("import sys, torch; c = torch.load(sys.argv[1], weights_only=True); "
            "print(sorted(c)); print(c['config']['name'], c['epoch'], type(c['scaler']).__name__)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code, str(path)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, check=True).stdout
    for key in ("model", "optimizer", "scheduler", "scaler", "ema", "rng", "config", "monitor", "epoch"):
        assert f"'{key}'" in out
    assert "wrinkle_quick 1 dict" in out


def test_the_decision_is_stored_once_and_files_of_the_previous_version_give_the_same_threshold(trained, tmp_path):
    cfg, path = trained
    ckpt = load_checkpoint(path)
    assert set(ckpt["decisions"]) == {"model", "ema"} and "decisions" not in ckpt["extra"]  # one field
    assert decision_threshold(cfg, ckpt, "ema")[0] == ckpt["decisions"]["ema"]["threshold"]
    # as the previous version wrote it: the decisions at the top and again under extra
    decisions = {"model": {"threshold": 0.37, "source": "tuned"}, "ema": {"threshold": 0.42, "source": "metric"}}
    old = tmp_path / "old.pth"
    save_checkpoint({**ckpt, "decisions": decisions, "extra": {**ckpt["extra"], "decisions": decisions}}, old)
    assert Predictor.from_checkpoint(old, weights="model").threshold == 0.37
    assert Predictor.from_checkpoint(old, weights="ema").threshold == 0.42
    report = run_test(cfg, old, split="val", out_dir=tmp_path / "test", weights="model")
    assert report["threshold"] == 0.37
    assert "stored in the checkpoint (model weights): tuned" in report["threshold_source"]
    trainer, _ = run_training(cfg, resume=old)  # nothing left to train: the resumed run holds the file's decisions
    assert trainer.decisions == decisions


def test_a_crash_while_writing_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "model_last.pth"
    save_checkpoint({"epoch": 1, "w": torch.ones(3)}, path)

    def crash(obj, f, *a, **k):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"epoch": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 1 and torch.equal(ckpt["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["model_last.pth"]  # no temp file left behind


class _Payload:
    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    payload = _Payload()
    payload.marker = str(marker)
    path = tmp_path / "evil.pth"
    torch.save({"model": {}, "x": payload}, path)
    with pytest.raises(CheckpointError, match=r"evil.pth: refused to load"):
        load_checkpoint(path)
    assert not marker.exists()


def test_truncated_or_missing_files_are_named(tmp_path):
    path = tmp_path / "cut.pth"
    save_checkpoint({"w": torch.ones(1000)}, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError, match=r"cut.pth: not a readable checkpoint"):
        load_checkpoint(path)
    for text in ("not a checkpoint", "abc", "hello world\n", ""):  # torch.load fails on each differently
        (tmp_path / "notes.pth").write_text(text)
        with pytest.raises(CheckpointError, match=r"notes.pth: not a readable checkpoint"):
            load_checkpoint(tmp_path / "notes.pth")
    with pytest.raises(CheckpointError, match=r"checkpoint not found: .*nope.pth"):
        load_checkpoint(tmp_path / "nope.pth")


def test_weights_from_another_model_give_a_mismatch_error_listing_keys(trained, tmp_path):
    cfg, path = trained
    other = {**cfg, "model": {"type": "SegmentationModel", "args": {
        **cfg["model"]["args"], "decoder_channels": [16, 8, 8]}}}
    with pytest.raises(CheckpointError) as e:
        run_test(other, path, split="val", out_dir=tmp_path / "out")
    msg = str(e.value)
    assert "does not fit this model" in msg and "shape differs" in msg
    assert "decoder.blocks.2.conv1.0.weight (4, 8, 3, 3) vs (8, 8, 3, 3)" in msg  # checkpoint vs model
    assert "(11 in all)" in msg


def test_load_weights_strips_ddp_and_compile_prefixes():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    state = {f"module._orig_mod.{k}": v + 1 for k, v in model.state_dict().items()}
    report = load_weights(model, state)
    assert report == {"missing": [], "unexpected": [], "shape_mismatch": [], "widened": []}
    assert torch.equal(model[0].bias, state["module._orig_mod.0.bias"])


def test_load_weights_widens_a_convolution_to_more_input_channels_only_when_asked():
    rgb, rgbt = torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 4, 3)  # an RGB stage's stem, an RGB + texture model's
    with pytest.raises(CheckpointError, match=r"weight \(4, 3, 3, 3\) vs \(4, 4, 3, 3\)"):
        load_weights(rgbt, rgb.state_dict())
    report = load_weights(rgbt, rgb.state_dict(), widen=True)
    assert report["widened"] == ["weight"] and report["shape_mismatch"] == []
    assert torch.equal(rgbt.weight[:, :3], rgb.weight) and not rgbt.weight[:, 3].any()  # the new channel from zero
    x = torch.randn(1, 3, 8, 8)
    assert torch.allclose(rgbt(torch.cat([x, torch.randn(1, 1, 8, 8)], 1)), rgb(x), atol=1e-6)
