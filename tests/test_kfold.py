"""tools/kfold.py as a user runs it on an ImageFolder with only train/ and val/: every fold runs and writes
the out-of-fold files, folds run in separate calls into one folder add up, a call that could not be
combined with the kept folds is refused, and find_label_errors names the classes as trained."""
import json
import logging

import cv2
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from conftest import REPO
from tools import find_label_errors, kfold
from trainer.build import build_dataset
from utils.config import apply_overrides, load_config

pytestmark = pytest.mark.usefixtures("one_thread")
CLASSES = ["cat", "dog", "owl"]
QUICK = ["model.args.backbone=test_resnet", "trainer.epochs=1", "trainer.report=false", "trainer.progress=none",
         "trainer.tensorboard=false", "trainer.train_metrics=false", "data.loader.batch_size=4", "device=cpu"]


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """An ImageFolder with train/ and val/ only (the guide's first layout): 3 classes, 6 images each."""
    root = tmp_path_factory.mktemp("data") / "faces"
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("val", 2)):
        for k, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                image = rng.integers(0, 256, (20, 24, 3), np.uint8) // (k + 1)
                cv2.imwrite(str(root / split / name / f"{i}.png"), image)
    return root


def args(faces, tmp, *extra):
    return ["--config", str(REPO / "configs/image_folder_quick.json"), "--n-folds", "2", "--out", str(tmp / "out"),
            "-o", f"data.dataset.args.root={faces}", f"trainer.save_dir={tmp / 'saved'}", *QUICK, *extra]


def files(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_folds_of_a_train_val_imagefolder_run_in_separate_calls_add_up(faces, tmp_path, capsys):
    reordered = "data.dataset.args.classes=[owl, dog, cat]"
    assert kfold.main(args(faces, tmp_path, reordered, "--folds", "0")) == 0
    log = capsys.readouterr().out  # known before the fold trains
    assert log.index("no images for split 'test'") < log.index("=== fold 0") and "k-fold skips the test split" in log
    assert "folds [1] are not run yet" in log
    out = tmp_path / "out"
    before = files(out)
    # Fold 1 of another config cannot be combined with fold 0: refused, nothing written.
    assert kfold.main(args(faces, tmp_path, "--folds", "1")) == 2
    err = capsys.readouterr().err
    assert "holds fold(s) [0] of another k-fold run (config.data.dataset.args.classes was" in err
    assert "Traceback" not in err and files(out) == before
    assert kfold.main(args(faces, tmp_path, reordered, "--folds", "1")) == 0
    oof = pd.read_csv(out / "oof_predictions.csv")
    images = sorted(str(p.relative_to(faces)) for p in faces.rglob("*.png"))
    assert sorted(oof["path"]) == images and set(oof["fold"]) == {0, 1}  # every train and val image once
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["folds"]) == ["0", "1"] and not (out / "ensemble").exists()
    assert summary["oof"]["f1"] == pytest.approx(f1_score(oof["label"], oof["prediction"], average="macro"))
    assert json.loads((out / "labels.json").read_text()) == {"classes": ["owl", "dog", "cat"]}
    # find_label_errors names the classes (one label: the head is named after the column)
    assert find_label_errors.main([str(out), "--review", "2"]) == 0
    issues = pd.read_csv(out / "label_errors/issues.csv")
    assert set(issues["given"]) == set(CLASSES) and set(issues["suggested"]) <= set(CLASSES)
    # A labels.json that does not name the prediction columns' classes is refused, not trusted.
    ranked = files(out / "label_errors")
    (out / "labels.json").write_text(json.dumps({"classes": ["dog", "owl", "cat"]}))
    assert find_label_errors.main([str(out)]) == 2
    err = capsys.readouterr().err
    assert "labels.json names the classes ['dog', 'owl', 'cat']" in err and "['owl', 'dog', 'cat']" in err
    assert files(out / "label_errors") == ranked
    # Every fold run again with the default class order replaces the folds, and labels.json with them.
    assert kfold.main(args(faces, tmp_path)) == 0
    assert json.loads((out / "labels.json").read_text()) == {"classes": CLASSES}


def test_the_fold_seed_seeds_an_image_tables_folds(faces, tmp_path, caplog):
    cfg = apply_overrides(load_config(REPO / "configs/image_folder_quick.json"), [f"data.dataset.args.root={faces}"])
    caplog.set_level(logging.INFO, logger="facetrain")
    held = {}
    for seed in (7, 8):
        held[seed] = build_dataset(kfold.fold_config(cfg, 0, n_folds=2, seed=seed), "val").paths
        assert (faces / f"folds_by_path_k2_seed{seed}.csv").is_file() and f"(seed {seed})" in caplog.text
    assert held[7] != held[8]


def test_help_shows_each_default_once(capsys):
    with pytest.raises(SystemExit):
        kfold.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "folds to run (default: all)" in out and "(default: None)" not in out
