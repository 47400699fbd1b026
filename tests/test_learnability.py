"""The quick wrinkle recipe learns from scratch: short CPU runs beat the untrained model by a wide
margin, on the drawn faces and on thin, sparse wrinkles drawn on real photographs (validated on photos
training never saw). Scores are F1 at the best threshold, the recipe's monitor; model_best.pth keeps
that threshold and test.py uses it. The numbers are docs/wrinkle_segmentation.md's."""
import csv
import json

import torch

from commands import test_cli
from conftest import REPO
from trainer import run_training
from trainer.build import build_data, build_inferer, build_metrics, build_model
from trainer.evaluator import evaluate
from utils.config import apply_overrides, load_config
from utils.seed import seed_everything

QUIET = ["device=cpu", "data.loader.num_workers=0", "trainer.progress=none", "trainer.tensorboard=false",
         "trainer.report=false", "trainer.train_metrics=false"]


def untrained_and_trained(tmp_path, *overrides):
    """(val F1 of the recipe's initial weights, the trainer, its summary): the shipped quick recipe at
    its sample location (generated on first use), with `overrides`."""
    cfg = apply_overrides(load_config(REPO / "configs/wrinkle_quick.json"),
                          [f"trainer.save_dir={tmp_path}", *QUIET, *overrides])
    seed_everything(cfg["seed"])
    untrained = build_model(cfg)  # the same initial weights as the run below
    _, val_loader = build_data(cfg, "val", torch.device("cpu"))
    before = evaluate(untrained, val_loader, torch.device("cpu"), inferer=build_inferer(cfg),
                      metrics=build_metrics(cfg), progress="none")["val/f1_best"]
    trainer, summary = run_training(cfg)
    assert summary["monitor"] == "val/f1_best"
    return before, trainer, summary


def test_quick_recipe_learns_the_sample_wrinkles(tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(REPO)
    before, _, summary = untrained_and_trained(tmp_path, "trainer.epochs=12")
    assert before < 0.1
    assert summary["best"] > 0.6, f"val F1 {summary['best']:.3f} after 12 epochs (untrained: {before:.3f})"


def test_quick_recipe_learns_thin_wrinkles_on_real_photos_and_keeps_its_threshold(tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(REPO)
    before, trainer, summary = untrained_and_trained(tmp_path, "data.dataset.args.root=data/samples/wrinkle_photos",
                                                     "trainer.val_every=2")
    assert before < 0.02
    assert summary["best"] > 0.45, f"val F1 {summary['best']:.3f} on unseen photos (untrained: {before:.3f})"
    # the best epoch's threshold is stored with its weights, and test.py scores them at it
    rows = {int(r["epoch"]): r for r in csv.DictReader(open(trainer.paths.log / "metrics.csv"))}
    threshold = float(rows[summary["best_epoch"]]["val/threshold_best"])
    assert test_cli.main(["--checkpoint", str(trainer.paths.models / "model_best.pth"), "--split", "val",
                          "--out", str(tmp_path / "test")]) == 0
    report = json.loads((tmp_path / "test/metrics.json").read_text())
    assert report["threshold"] == threshold and "stored in the checkpoint" in report["threshold_source"]
    assert abs(report["metrics"]["f1"] - summary["best"]) < 1e-6
