"""The sample task is learnable: a short CPU run clearly beats chance on every head and on the 18 classes."""
import numpy as np

from conftest import REPO
from data_loader.mask_faces import MaskFaceDataset
from samples.mask_faces import generate_mask_dataset
from trainer import run_training
from utils.config import apply_overrides, load_config


def transforms(train):
    """The quick recipe's pipeline for half-size photos: centre crop, 64x48, flips in training."""
    steps = [{"type": "CenterCrop", "args": {"height": 200, "width": 160}},
             {"type": "Resize", "args": {"height": 64, "width": 48}}]
    steps += [{"type": "HorizontalFlip", "args": {"p": 0.5}}] if train else []
    return steps + [{"type": "Normalize"}, {"type": "ToTensorV2"}]


def chance(labels):
    """Best constant guess (accuracy) and guessing by the class frequencies (macro F1 = 1 / classes present)."""
    counts = np.bincount(labels)
    return {"acc": counts.max() / counts.sum(), "f1": 1 / (counts > 0).sum()}


def test_quick_recipe_learns_mask_gender_and_age(tmp_path, one_thread):
    root = generate_mask_dataset(tmp_path / "mask_faces", n_train=60, n_eval=1, seed=5, size=(192, 256))
    cfg = load_config(REPO / "configs/mask_multihead_quick.json")
    cfg["data"]["train"]["transform"], cfg["data"]["val"]["transform"] = transforms(True), transforms(False)
    cfg = apply_overrides(cfg, [
        f"data.dataset.args.root={root}", f"trainer.save_dir={tmp_path}", "device=cpu",
        "model.args.backbone=test_resnet",
        "data.loader.num_workers=0", "trainer.epochs=8", "optimizer.args.lr=0.004", "trainer.progress=none",
        "trainer.tensorboard=false", "trainer.train_metrics=false"])
    trainer, _ = run_training(cfg)
    val = MaskFaceDataset(root, "val", label_fix="label_fix.csv")
    got = {k.split("/")[1]: v for k, v in trainer.last_log.items() if k.startswith("val/")}
    report = {}
    for key, prefix in (("mask", "mask_"), ("gender", "gender_"), ("age", "age_"), ("class", "")):
        base = chance(val.labels(key))
        report[key] = {m: (round(got[prefix + m], 3), round(base[m], 3)) for m in ("acc", "f1")}
    for key, scores in report.items():  # (score, chance): at least halfway from chance to perfect
        for metric, (score, base) in scores.items():
            assert score >= base + 0.5 * (1 - base) - (0.25 if key == "class" else 0), report
