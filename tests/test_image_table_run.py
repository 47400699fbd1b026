"""The image-table recipe end to end on the real face-crop sample: a short CPU run learns both heads
well above chance, and test.py writes predictions.csv whose probabilities are the model's own (the
checkpoint run by hand on one image, with the recipe's zoom TTA)."""
import json

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from commands import test_cli
from conftest import REPO
from logger.class_predictions import ClassPredictionWriter
from samples.face_crops import generate_face_crops
from tools import find_label_errors
from trainer import run_training
from trainer.checkpoints import load_model
from utils.config import apply_overrides, load_config

MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])  # albumentations' Normalize


@pytest.fixture(scope="module")
def run(tmp_path_factory, one_thread):
    """The quick recipe on a fresh copy of the sample, with timm's small test ResNet and 8 epochs,
    then test.py on its best checkpoint; returns (test.py's folder, checkpoint, run paths, data root)."""
    tmp = tmp_path_factory.mktemp("image_table")
    root = generate_face_crops(tmp / "face_crops")
    cfg = apply_overrides(load_config(REPO / "configs/image_multihead_quick.json"), [
        f"data.dataset.args.root={root}", f"trainer.save_dir={tmp / 'saved'}", "device=cpu",
        "model.args.backbone=test_resnet", "trainer.epochs=8", "trainer.progress=none", "trainer.tensorboard=false",
        "trainer.train_metrics=false", "data.train.loader.sampler={type: ClassBalanced, args: {key: angle}}"])
    trainer, _ = run_training(cfg)
    best = trainer.paths.models / "model_best.pth"
    assert test_cli.main(["--checkpoint", str(best), "--out", str(tmp / "test")]) == 0
    return tmp / "test", best, trainer.paths, root


def test_quick_recipe_learns_both_heads_and_reports(run):
    out, _, paths, _ = run
    scores = json.loads((out / "metrics.json").read_text())["metrics"]
    # Chance: 0.5 for content (balanced), 0.25 for angle (four balanced orientations).
    assert scores["content_acc"] >= 0.85 and scores["angle_acc"] >= 0.55, scores
    table = pd.read_csv(out / "predictions.csv")
    faces = table[table["content_label"] == "face"]
    assert (faces["angle_prediction"] == faces["angle_label"]).mean() >= 0.7  # a face's top is easy to find
    assert (table["angle_prediction"] == table["angle_label"]).mean() == pytest.approx(scores["angle_acc"])
    assert {"curves.png", "val_content_confusion_matrix.png", "samples.png"} <= {p.name for p in
                                                                             (paths.log / "report").iterdir()}


def test_predictions_csv_holds_the_models_probabilities(run):
    out, best, _, root = run
    table = pd.read_csv(out / "predictions.csv")
    assert len(table) == 160 and table["group"].str.startswith("crop").all()  # the test split: 40 crops x 4
    row = table.iloc[5]
    model, _, _ = load_model(best)
    rgb = cv2.cvtColor(cv2.imread(str(root / row["path"])), cv2.COLOR_BGR2RGB)
    x = (cv2.resize(rgb, (32, 32), interpolation=cv2.INTER_LINEAR) / 255.0 - MEAN) / STD
    x = torch.tensor(x, dtype=torch.float32).permute(2, 0, 1)[None]
    zoom = F.interpolate(x[..., 1:30, 1:30], size=(32, 32), mode="bilinear", align_corners=False)  # zoom1.1: 29 px
    with torch.no_grad():
        views = [model.eval()(v) for v in (x, zoom)]
    for head, names in (("content", ["background", "face"]), ("angle", ["up", "left", "down", "right"])):
        probs = sum(v[head].softmax(-1)[0] for v in views).numpy() / 2
        assert np.allclose(row[[f"{head}_prob_{n}" for n in names]].to_numpy(float), probs, atol=1e-5)
        assert row[f"{head}_prediction"] == names[int(probs.argmax())]
        assert row[f"{head}_confidence"] == pytest.approx(probs.max(), abs=1e-5)


def test_writer_one_label_and_unlabelled(tmp_path):
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 0.5]])
    batch = {"meta": {"path": ["a.png", "b.png"], "group": ["", ""]}, "target": torch.tensor([0, 2])}
    writer = ClassPredictionWriter(tmp_path, class_names=["cat", "dog", "owl"])
    writer.write(batch, logits)
    writer.write({"meta": {"path": ["c.png"], "group": [""]}}, logits[:1])  # no labels
    assert writer.close()["written"] == 3
    table = pd.read_csv(tmp_path / "predictions.csv", keep_default_na=False)
    assert list(table.columns) == ["path", "label", "prediction", "confidence", "prob_cat", "prob_dog", "prob_owl"]
    assert table["label"].tolist() == ["cat", "owl", ""] and table["prediction"].tolist() == ["cat", "dog", "cat"]
    assert np.allclose(table[["prob_cat", "prob_dog", "prob_owl"]], torch.softmax(logits[[0, 1, 0]], -1), atol=1e-6)
    with pytest.raises(ValueError, match="3 class names"):
        ClassPredictionWriter(tmp_path, class_names=["cat", "dog", "owl"]).write(batch, logits[:, :2])


def test_kfold_in_two_calls_predicts_every_image_once_and_ensembles_the_test_split(tmp_path, one_thread):
    from tools.ensemble import main as ensemble_main
    from tools.kfold import run_kfold

    root = generate_face_crops(tmp_path / "face_crops")
    cfg = apply_overrides(load_config(REPO / "configs/image_multihead_quick.json"), [
        f"data.dataset.args.root={root}", f"trainer.save_dir={tmp_path / 'saved'}", "device=cpu",
        "model.args.backbone=test_resnet", "trainer.epochs=1", "trainer.limit_train_batches=3", "trainer.report=false",
        "trainer.progress=none", "trainer.tensorboard=false", "trainer.train_metrics=false"])
    run_kfold(cfg, folds=[0], out_dir=tmp_path / "kfold", n_folds=2)
    summary = run_kfold(cfg, folds=[1], out_dir=tmp_path / "kfold", n_folds=2)  # a later call adds fold 1
    oof = pd.read_csv(tmp_path / "kfold" / "oof_predictions.csv")
    labels = pd.read_csv(root / "labels.csv")
    assert sorted(oof["path"]) == sorted(labels["path"][labels["split"] == "train"])  # every image once
    assert oof.groupby("group")["fold"].nunique().max() == 1  # a crop's images are held out together
    folds = pd.read_csv(root / "labels_folds_by_group_k2_seed0.csv").set_index("group")["fold"]
    assert (oof["fold"] == folds.loc[oof["group"]].to_numpy()).all()
    assert set(summary["oof"]) == {"content_acc", "content_f1", "angle_acc", "angle_f1", "f1"}
    assert all(str(root / p) == f for p, f in zip(oof["path"], oof["file"]))  # the image, for review grids
    # tools/find_label_errors.py reads it and names the classes as the folds were trained on them
    assert find_label_errors.main([str(tmp_path / "kfold"), "--review", "4"]) == 0
    issues = pd.read_csv(tmp_path / "kfold" / "label_errors" / "issues.csv")
    assert set(issues["given"]) <= {"background", "face", "up", "left", "down", "right"}
    # The fold ensemble of the test split is the mean of the folds' predictions, as tools/ensemble.py makes it.
    tests = [tmp_path / "kfold" / f"fold{k}" / "test" / "predictions.csv" for k in (0, 1)]
    ens = pd.read_csv(tmp_path / "kfold" / "ensemble" / "predictions.csv")
    each = [pd.read_csv(p).set_index("path").loc[ens["path"]] for p in tests]
    cols = [f"angle_prob_{n}" for n in ("up", "left", "down", "right")]
    mean = (each[0][cols].to_numpy() + each[1][cols].to_numpy()) / 2
    assert np.allclose(ens[cols], mean, atol=1e-5)
    assert ens["angle_prediction"].tolist() == [n.split("_prob_")[1] for n in np.array(cols)[mean.argmax(1)]]
    assert ensemble_main([*map(str, tests), "--out", str(tmp_path / "cli")]) == 0
    assert pd.read_csv(tmp_path / "cli" / "predictions.csv").equals(ens)


def test_imagefolder_recipe_runs_on_other_classes_with_only_the_root_overridden(tmp_path, one_thread):
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        for k, name in enumerate(("happy", "sad", "angry")):
            (tmp_path / "faces" / split / name).mkdir(parents=True)
            for i in range(4):
                cv2.imwrite(str(tmp_path / "faces" / split / name / f"{i}.png"),
                            rng.integers(0, 256, (20, 24, 3), dtype=np.uint8) // (k + 1))
    cfg = apply_overrides(load_config(REPO / "configs/image_folder_quick.json"), [
        f"data.dataset.args.root={tmp_path / 'faces'}", f"trainer.save_dir={tmp_path / 'saved'}", "device=cpu",
        "model.args.backbone=test_resnet", "trainer.epochs=1", "trainer.report=false", "trainer.progress=none",
        "trainer.tensorboard=false", "data.loader.batch_size=4"])
    trainer, _ = run_training(cfg)
    out = tmp_path / "test"
    assert test_cli.main(["--checkpoint", str(trainer.paths.models / "model_best.pth"), "--out", str(out)]) == 0
    table = pd.read_csv(out / "predictions.csv")
    assert list(table.columns) == ["path", "label", "prediction", "confidence", "prob_angry", "prob_happy", "prob_sad"]
    assert table["label"].tolist() == [p.split("/")[1] for p in table["path"]] and len(table) == 12
