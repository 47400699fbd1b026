"""The shipped quick configs, end to end on both action sample sets.

Stick figures: a small 3D model learns every class, walking left vs right included, which a
single-frame 2D model cannot tell apart (no frame shows the direction); test.py then writes
per-clip predictions that agree with its metrics.
Real footage (a camera panning and tilting over real photographs, val clips over unseen photos):
only motion tells the classes apart, so the 3D recipe must learn it and the 2D one stays near chance."""
import csv
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

from commands import test_cli
from conftest import REPO
from samples.action_clips import CLASSES
from samples.action_footage import SAMPLE_ROOT as FOOTAGE
from trainer import run_training
from trainer.build import build_data, build_inferer
from trainer.checkpoints import load_model
from utils.config import apply_overrides, load_config


def train(name, save_dir, *overrides):
    """Train a shipped config as it is; returns (resolved config, best model, summary)."""
    cfg = apply_overrides(load_config(REPO / "configs" / name), [
        f"trainer.save_dir={save_dir}", "device=cpu", "trainer.progress=none", "trainer.tensorboard=false",
        "trainer.train_metrics=false", "data.loader.num_workers=0", *overrides])
    trainer, summary = run_training(cfg)
    best, checkpoint, _ = load_model(trainer.paths.models / "model_best.pth")
    return checkpoint["config"], best, summary  # the config as resolved for the data (class ids, count)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)  # the shipped sample location, generated on first use
        save = tmp_path_factory.mktemp("action_runs")
        yield {"3d": train("action_quick.json", save), "2d": train("action_frame2d_quick.json", save)}


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        save, root = tmp_path_factory.mktemp("footage_runs"), f"data.dataset.args.root={FOOTAGE}/videos"
        yield {"3d": train("action_quick.json", save, root), "2d": train("action_frame2d_quick.json", save, root)}


def pair_confusion(cfg, model):
    """2x2 confusion (true x predicted) of the walk_left / walk_right clips of val and test, each
    clip decided between the two classes only, as the config evaluates (views, frames)."""
    classes = cfg["data"]["dataset"]["args"]["classes"]  # the run's class ids (folder names, sorted)
    pair = [classes.index("walk_left"), classes.index("walk_right")]
    inferer, device = build_inferer(cfg), torch.device("cpu")
    matrix = np.zeros((2, 2), int)
    model.eval()
    for split in ("val", "test"):
        _, loader = build_data(cfg, split, device)
        for batch in loader:
            keep = torch.isin(batch["target"], torch.tensor(pair))
            if keep.any():
                with torch.no_grad():
                    logits = inferer(model, batch["input"][keep])
                truth = (batch["target"][keep] == pair[1]).long()
                pred = logits[:, pair].argmax(1)
                np.add.at(matrix, (truth.numpy(), pred.numpy()), 1)
    return matrix


def test_a_small_3d_model_learns_every_class_and_the_direction_of_walking(runs):
    cfg, model, summary = runs["3d"]
    assert summary["monitor"] == "val/acc" and summary["best"] >= 0.9, summary
    matrix = pair_confusion(cfg, model)
    assert matrix.sum() == 32 and np.trace(matrix) / matrix.sum() >= 0.9, matrix


def test_a_single_frame_2d_model_cannot_tell_left_from_right(runs):
    cfg, model, summary = runs["2d"]
    matrix = pair_confusion(cfg, model)
    assert matrix.sum() == 32 and np.trace(matrix) / matrix.sum() <= 0.75, matrix  # chance is 0.5
    assert summary["best"] >= 0.3, summary  # yet it learned what single frames show (chance: 0.2)
    assert summary["best"] <= runs["3d"][2]["best"] - 0.3


def test_test_py_writes_per_clip_predictions_that_agree_with_its_metrics(runs, tmp_path):
    out = tmp_path / "pred"
    checkpoint = f"{runs['3d'][2]['run_dir']}/model_best.pth"
    assert test_cli.main(["--checkpoint", checkpoint, "--out", str(out)]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["split"] == "test" and report["samples"] == 8 * len(CLASSES)
    with open(out / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == report["samples"]
    truth = [r["label"] for r in rows]
    assert truth == [r["clip"].split("/")[0] for r in rows]  # class folder = true class
    pred = [r["prediction"] for r in rows]
    assert report["metrics"]["acc"] == pytest.approx(accuracy_score(truth, pred))
    assert report["metrics"]["f1"] == pytest.approx(f1_score(truth, pred, average="macro"))
    classes = runs["3d"][0]["data"]["dataset"]["args"]["classes"]
    assert sorted(classes) == sorted(CLASSES)
    for r in rows:  # the probabilities averaged over 3 clips x 3 crops
        probs = [float(r[f"prob_{c}"]) for c in classes]
        assert sum(probs) == pytest.approx(1, abs=1e-4) and classes[int(np.argmax(probs))] == r["prediction"]
    assert json.loads((out / "predictions.json").read_text()) == {r["clip"]: r["prediction"] for r in rows}
    with open(out / "confusion_matrix.csv") as f:
        assert sum(int(v) for row in list(csv.reader(f))[1:] for v in row[1:]) == len(rows)


def test_on_real_footage_the_3d_recipe_learns_the_camera_motion_and_the_2d_one_cannot(footage):
    (_, _, s3d), (_, _, s2d) = footage["3d"], footage["2d"]
    assert s3d["monitor"] == "val/acc" and s3d["best"] >= 0.8, s3d  # chance: 0.25
    assert s2d["best"] <= s3d["best"] - 0.3, (s2d, s3d)  # every frame could belong to any class
