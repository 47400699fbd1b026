"""The 18-way and age-only recipes predict through test.py and join an ensemble; SWA and EMA on the heads."""
import json

import numpy as np
import pandas as pd
import pytest

from commands import test_cli
from conftest import REPO
from data_loader.mask_faces import MaskFaceDataset
from tools import ensemble
from trainer import run_training
from utils.config import apply_overrides, load_config

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["device=cpu", "model.args.backbone=test_resnet", "data.loader.num_workers=0", "data.loader.batch_size=8",
        "trainer.progress=none", "trainer.tensorboard=false", "trainer.train_metrics=false"]
SMALL = [{"type": "CenterCrop", "args": {"height": 400, "width": 320}},
         {"type": "Resize", "args": {"height": 80, "width": 64}}, {"type": "Normalize"}, {"type": "ToTensorV2"}]


def recipe(name, root, save_dir, *overrides):
    """A shipped recipe as it is (losses, sampler, mixing, TTA, writer), with a tiny backbone on small inputs."""
    cfg = load_config(REPO / "configs" / name)
    cfg["data"]["train"]["transform"] = [SMALL[0], SMALL[1], {"type": "HorizontalFlip", "args": {"p": 0.5}},
                                         *SMALL[2:]]
    cfg["data"]["val"]["transform"] = SMALL
    return apply_overrides(cfg, [f"data.dataset.args.root={root}", f"trainer.save_dir={save_dir}", *TINY,
                                 *overrides])


def predict(checkpoint, out, *args):
    assert test_cli.main(["--checkpoint", str(checkpoint), "--out", str(out), *args]) == 0
    return pd.read_csv(out / "predictions.csv", dtype={"path": str})


def columns(table, head):
    """The probability columns of `head` in a predictions.csv."""
    return [c for c in table.columns if c.startswith(f"{head}_prob_")]


@pytest.fixture(scope="module")
def single18(mask_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("single18")
    cfg = recipe("mask_single18.json", mask_root, tmp, "trainer.epochs=1", "trainer.limit_train_batches=4")
    assert cfg["data"]["train"]["batch_transform"]["type"] == "CutMix"  # soft 18-class targets in training
    trainer, _ = run_training(cfg)
    return trainer.paths.models / "model_best.pth", tmp


def test_the_18_way_recipe_writes_a_submission_with_per_head_probabilities(single18, mask_root):
    checkpoint, tmp = single18
    probs = predict(checkpoint, tmp / "eval")
    info = pd.read_csv(mask_root / "eval/info.csv", dtype=str)
    sub = pd.read_csv(tmp / "eval/submission.csv", dtype={"ImageID": str})
    assert sub["ImageID"].tolist() == info["ImageID"].tolist() == probs["path"].tolist()
    assert len(columns(probs, "class")) == 18
    p = probs[columns(probs, "class")].to_numpy().reshape(-1, 3, 2, 3)
    assert np.array_equal(sub["ans"].to_numpy(), p.reshape(-1, 18).argmax(1))
    for head, axes in (("mask", (2, 3)), ("gender", (1, 3)), ("age", (1, 2))):
        assert np.allclose(probs[columns(probs, head)].to_numpy(), p.sum(axes), atol=1e-4)  # heads sum the classes


def test_the_age_recipe_uses_its_thresholds_and_joins_the_18_way_model_by_heads(single18, mask_root, tmp_path):
    cfg = recipe("mask_age.json", mask_root, tmp_path, "trainer.epochs=1", "trainer.limit_train_batches=4")
    assert cfg["data"]["dataset"]["args"]["age_bins"] == [30, 58]
    trainer, _ = run_training(cfg)
    checkpoint = trainer.paths.models / "model_best.pth"
    age = predict(checkpoint, tmp_path / "eval")
    names = ["young", "middle", "old"]  # an age model writes age only
    assert [c for c in age.columns if c.startswith("age_") or "prob" in c] == [
        "age_prediction", "age_confidence", *[f"age_prob_{n}" for n in names]]
    assert not (tmp_path / "eval/submission.csv").exists()
    # On the labelled split its targets are the 58-threshold bins of the held-out persons.
    table = predict(checkpoint, tmp_path / "val", "--split", "val")
    val = MaskFaceDataset(mask_root, "val", target="age", age_bins=[30, 58])  # the recipe fixes no labels
    assert table["path"].tolist() == val.image_ids
    assert table["age_label"].tolist() == [names[i] for i in val.labels()]
    # Its age probabilities replace half of the 18-way model's age head.
    full = predict(single18[0], tmp_path / "full")
    assert ensemble.main([str(tmp_path / "full/predictions.csv"), str(tmp_path / "eval/predictions.csv"),
                          "--by", "heads", "--template", str(mask_root / "eval/info.csv"),
                          "--out", str(tmp_path / "ens")]) == 0
    sub = pd.read_csv(tmp_path / "ens/submission.csv", dtype={"ImageID": str})
    a, b = full.set_index("path"), age.set_index("path")
    ages = (a[columns(a, "age")].to_numpy() + b.loc[a.index, columns(b, "age")].to_numpy()) / 2
    expected = (a[columns(a, "mask")].to_numpy().argmax(1) * 6 + a[columns(a, "gender")].to_numpy().argmax(1) * 3
                + ages.argmax(1))
    assert np.array_equal(sub.set_index("ImageID").loc[a.index, "ans"].to_numpy(), expected)


def test_swa_and_ema_of_the_multi_head_model_are_validated_and_tested_alike(mask_root, tmp_path):
    cfg = recipe("mask_multihead_quick.json", mask_root, tmp_path, "trainer.epochs=1", "trainer.limit_train_batches=3",
                 "trainer.swa={start_epoch: 1}", "trainer.ema={decay: 0.9}")
    trainer, _ = run_training(cfg)
    rows = pd.read_csv(trainer.paths.log / "metrics.csv")
    ema_f1, swa_f1 = rows["val_ema/f1"].dropna().iloc[-1], rows["val_swa/f1"].dropna().iloc[-1]
    models = trainer.paths.models
    swa = predict(models / "model_swa.pth", tmp_path / "swa", "--split", "val")
    ema = predict(models / "model_last.pth", tmp_path / "ema", "--split", "val", "--weights", "ema")
    for out, f1 in ((tmp_path / "swa", swa_f1), (tmp_path / "ema", ema_f1)):
        assert json.loads((out / "metrics.json").read_text())["metrics"]["f1"] == pytest.approx(f1, rel=1e-5)
    assert not np.allclose(swa[columns(swa, "class")], ema[columns(ema, "class")])  # two different averages
