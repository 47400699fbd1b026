"""The sample task is learnable: a short CPU run beats the untrained model by a wide margin."""
import torch

from conftest import REPO
from trainer import run_training
from trainer.build import build_data, build_inferer, build_metrics, build_model
from trainer.evaluator import evaluate
from utils.config import apply_overrides, load_config
from utils.seed import seed_everything


def test_quick_recipe_learns_the_sample_wrinkles(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # the shipped config's sample location, generated on first use
    cfg = apply_overrides(load_config(REPO / "configs/wrinkle_quick.json"), [
        "trainer.epochs=12", f"trainer.save_dir={tmp_path}", "device=cpu", "trainer.progress=none",
        "trainer.tensorboard=false", "trainer.train_metrics=false"])
    seed_everything(cfg["seed"])
    untrained = build_model(cfg)  # the same initial weights as the run below
    _, val_loader = build_data(cfg, "val", torch.device("cpu"))
    before = evaluate(untrained, val_loader, torch.device("cpu"), inferer=build_inferer(cfg),
                      metrics=build_metrics(cfg), progress="none")["val/f1"]

    _, summary = run_training(cfg)
    assert summary["monitor"] == "val/f1"
    assert before < 0.1
    assert summary["best"] > 0.4, f"val F1 {summary['best']:.3f} after 12 epochs (untrained: {before:.3f})"
