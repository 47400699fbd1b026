"""Injected faults lose nothing: a killed run resumes exactly, bad files and bad checkpoints are named.
(Crash during a checkpoint write and code-carrying pickles: tests/test_checkpoint.py.)"""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys

import torch

import train
from conftest import REPO, tiny_config
from trainer import run_training
from utils.checkpoint import load_checkpoint


def _rows(log_dir):
    with open(log_dir / "metrics.csv") as f:
        return [{k: v for k, v in r.items() if k != "time"} for r in csv.DictReader(f)]


def test_sigkill_mid_epoch_then_resume_continues_exactly(wrinkle_root, tmp_path):
    common = ["deterministic=true", "trainer.epochs=3", "trainer.progress=log", "trainer.log_every=1",
              "trainer.save_top_k=1"]
    cfg = tiny_config(wrinkle_root, tmp_path / "saved", *common, "name=killed")
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    proc = subprocess.Popen([sys.executable, "train.py", "--config", str(tmp_path / "cfg.json")], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in proc.stdout:  # kill -9 right after the first step of epoch 2
        seen.append(line)
        if line.startswith("epoch 2/3 [1/"):
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen[-20:])
    (run_dir,) = (tmp_path / "saved/models/killed").iterdir()
    assert load_checkpoint(run_dir / "model_last.pth")["epoch"] == 1

    resumed, _ = run_training(cfg, resume=run_dir / "model_last.pth")
    assert resumed.start_epoch == 2
    straight, _ = run_training(tiny_config(wrinkle_root, tmp_path / "saved", *common, "name=straight"))
    assert _rows(resumed.paths.log) == _rows(straight.paths.log)  # same epochs, LR, losses and metrics
    assert (resumed.best, resumed.best_epoch) == (straight.best, straight.best_epoch)
    a, b = load_checkpoint(run_dir / "model_last.pth"), load_checkpoint(straight.paths.models / "model_last.pth")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_a_truncated_image_stops_the_run_before_training(wrinkle_root, tmp_path, capsys):
    root = shutil.copytree(wrinkle_root, tmp_path / "data")
    victim = sorted((root / "train/images").glob("*.png"))[-1]
    victim.write_bytes(victim.read_bytes()[:120])  # the header (and size) survive, the pixels do not
    cfg = tiny_config(root, tmp_path / "saved", "data.loader.num_workers=2", "trainer.epochs=1")
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    assert train.main(["--config", str(tmp_path / "cfg.json")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {victim} is a truncated PNG (no IEND chunk): part of the image is missing; " \
                          "copy or download it again"
    assert not (tmp_path / "saved").exists()  # found while the datasets were built: no run was started


def test_a_worker_meeting_a_corrupt_file_names_it_in_one_line(wrinkle_root, tmp_path, capfd):
    """Damage the scan cannot see (a complete file with garbage pixels) is met by a DataLoader worker
    mid-epoch; the user gets the error's own line, not the worker's traceback."""
    root = shutil.copytree(wrinkle_root, tmp_path / "data")
    victim = sorted((root / "train/images").glob("*.png"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2:len(data) // 2 + 200] = bytes(200)  # header and IEND intact
    victim.write_bytes(bytes(data))
    cfg = tiny_config(root, tmp_path / "saved", "data.loader.num_workers=2", "trainer.epochs=1")
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    assert train.main(["--config", str(tmp_path / "cfg.json")]) == 2
    err = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error:") or "Trace" in line]
    assert err == [f"error: cannot read image {victim}: corrupt or not an image"]


def test_resuming_into_a_different_model_lists_the_differing_keys(wrinkle_root, tmp_path, capsys):
    cfg = tiny_config(wrinkle_root, tmp_path / "saved", "trainer.epochs=1", "trainer.limit_train_batches=1")
    trainer, _ = run_training(cfg)
    code = train.main(["--resume", str(trainer.paths.models / "model_last.pth"), "-o",
                       "model.args.decoder_channels=[16, 8, 8]", "trainer.epochs=2"])
    assert code == 2
    err = capsys.readouterr().err
    assert "does not fit this model" in err and "decoder.blocks.2.conv1.0.weight (4, 8, 3, 3) vs (8, 8, 3, 3)" in err
