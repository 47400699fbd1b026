"""What a user does: train.py, then test.py on the best checkpoint, then look at the logs."""
import csv
import json
import logging

import cv2
import numpy as np
import pytest
from sklearn.metrics import f1_score

import train
from commands import test_cli
from conftest import tiny_config
from logger.progress import Progress


@pytest.fixture(scope="module")
def run(wrinkle_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    cfg = tiny_config(wrinkle_root, tmp / "saved", "trainer.epochs=2", "trainer.tensorboard=true",
                      "trainer.save_top_k=1")
    (tmp / "cfg.json").write_text(json.dumps(cfg))
    assert train.main(["--config", str(tmp / "cfg.json")]) == 0
    (run_dir,) = (tmp / "saved/models/wrinkle_quick").iterdir()
    return tmp, run_dir


def test_a_run_writes_checkpoints_config_and_logs(run):
    tmp, run_dir = run
    names = {p.name for p in run_dir.iterdir()}
    assert {"model_best.pth", "model_last.pth", "config.json"} <= names
    log_dir = tmp / "saved/log/wrinkle_quick" / run_dir.name
    with open(log_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"train/loss", "val/loss", "val/f1", "val/iou", "val/precision", "val/recall", "lr", "step"} <= set(rows[0])
    assert "epoch 2" in (log_dir / "train.log").read_text()

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir)).Reload()
    train_steps = [e.step for e in events.Scalars("train/loss")]
    val_steps = [e.step for e in events.Scalars("val/f1")]
    assert train_steps == val_steps == [int(r["step"]) for r in rows]  # one x-axis for train and val
    assert events.Scalars("val/f1")[-1].value == pytest.approx(float(rows[-1]["val/f1"]), rel=1e-4)


def test_test_py_writes_metrics_and_predictions_that_agree(run, wrinkle_root):
    tmp, run_dir = run
    out = tmp / "pred"
    # the command of earlier versions: --resume is --checkpoint's alias
    assert test_cli.main(["--resume", str(run_dir / "model_best.pth"), "--out", str(out)]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["split"] == "test" and report["samples"] == 4
    images = sorted((wrinkle_root / "test/images").iterdir())
    preds, truths = [], []
    for image in images:
        h, w = cv2.imread(str(image)).shape[:2]
        prob = np.load(out / "npy" / f"{image.stem}.npy")
        mask = cv2.imread(str(out / "png" / f"{image.stem}.png"), cv2.IMREAD_GRAYSCALE)
        assert prob.shape == mask.shape == (h, w)  # original pixels, padding cropped away
        assert set(np.unique(mask)) <= {0, 255}
        assert np.array_equal(mask > 0, prob >= 0.5)
        assert (out / "overlay" / f"{image.stem}_overlay.png").is_file()
        preds.append((mask > 0).ravel())
        truths.append((cv2.imread(str(wrinkle_root / "test/masks" / f"{image.stem}.png"), 0) > 0).ravel())
    # The reported F1 is the F1 of the written masks against the ground truth.
    ref = f1_score(np.concatenate(truths), np.concatenate(preds))
    assert report["metrics"]["f1"] == pytest.approx(ref, rel=1e-9)


def test_test_py_can_point_at_another_data_folder_and_split(run, wrinkle_root, tmp_path):
    import shutil

    _, run_dir = run
    other = shutil.copytree(wrinkle_root, tmp_path / "other")
    shutil.rmtree(other / "test")
    code = test_cli.main(["--checkpoint", str(run_dir / "model_best.pth"), "-o", f"data.dataset.args.root={other}",
                          "--split", "val", "--out", str(tmp_path / "o"), "--tune-threshold"])
    assert code == 0
    report = json.loads((tmp_path / "o/metrics.json").read_text())
    assert report["split"] == "val" and 0.05 <= report["threshold"] <= 0.95


def test_test_py_reports_a_missing_checkpoint_clearly(tmp_path, capsys):
    assert test_cli.main(["--checkpoint", str(tmp_path / "missing.pth")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_wandb_logs_offline(wrinkle_root, tmp_path, monkeypatch):
    from trainer import run_training

    monkeypatch.setenv("WANDB_MODE", "offline")
    trainer, _ = run_training(tiny_config(wrinkle_root, tmp_path, "trainer.epochs=1", "trainer.limit_train_batches=1",
                                          "trainer.wandb={project: tests}"))
    runs = list((trainer.paths.log / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


def test_progress_falls_back_to_log_lines_without_a_terminal(caplog):
    caplog.set_level(logging.INFO, logger="facetrain")
    bar = Progress(5, "epoch 1/3", mode="log", log_every=2)
    for _ in range(5):
        bar.update(loss=0.5)
    bar.close()
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(" loss")[0] for line in lines] == ["epoch 1/3 [2/5]", "epoch 1/3 [4/5]", "epoch 1/3 [5/5]"]
