"""What a competitor does: train.py, test.py on eval and on val, ensemble, score, k-fold; every mask config runs."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

import train
from commands import test_cli
from conftest import REPO
from data_loader.mask_faces import MaskFaceDataset
from data_loader.mask_labels import class_names
from tools import ensemble, kfold, score_submission
from utils.config import apply_overrides, load_config

pytestmark = pytest.mark.usefixtures("one_thread")

CLASS = [f"class_prob_{name}" for name in class_names()]
MASK = [f"mask_prob_{name}" for name in ("wear", "incorrect", "not wear")]
TINY = ["device=cpu", "model.args.backbone=test_resnet", "data.loader.num_workers=0", "data.loader.batch_size=8",
        "trainer.progress=none"]


def quick(root, save_dir, *overrides):
    """The quick recipe on the test data with a tiny backbone."""
    return apply_overrides(load_config(REPO / "configs/mask_multihead_quick.json"), [
        f"data.dataset.args.root={root}", f"trainer.save_dir={save_dir}", *TINY, *overrides])


@pytest.fixture(scope="module")
def run(mask_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mask_e2e")
    cfg = quick(mask_root, tmp / "saved", "trainer.epochs=2", "trainer.tensorboard=true")
    (tmp / "cfg.json").write_text(json.dumps(cfg))
    assert train.main(["--config", str(tmp / "cfg.json")]) == 0
    (run_dir,) = (tmp / "saved/models/mask_multihead_quick").iterdir()
    return tmp, run_dir


def test_a_run_logs_every_head_and_saves_confusion_matrices(run, mask_root):
    tmp, run_dir = run
    log_dir = tmp / "saved/log/mask_multihead_quick" / run_dir.name
    rows = pd.read_csv(log_dir / "metrics.csv")
    for head in ("mask", "gender", "age"):
        assert {f"val/{head}_f1", f"val/{head}_acc", f"val/loss_{head}", f"train/loss_{head}"} <= set(rows.columns)
    assert {"val/f1", "val/acc"} <= set(rows.columns) and len(rows) == 2
    matrix = pd.read_csv(log_dir / "artifacts/val_confusion_matrix_epoch002.csv", index_col=0)
    assert matrix.shape == (18, 18) and matrix.to_numpy().sum() == len(MaskFaceDataset(mask_root, "val"))
    assert (log_dir / "artifacts/val_age_confusion_matrix_epoch002.csv").is_file()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir)).Reload()
    assert "val/confusion_matrix" in events.Tags()["images"]


def test_test_py_writes_the_submission_in_info_csv_order(run, mask_root):
    tmp, run_dir = run
    out = tmp / "eval_pred"
    assert test_cli.main(["--checkpoint", str(run_dir / "model_best.pth"), "--out", str(out)]) == 0
    info = pd.read_csv(mask_root / "eval/info.csv", dtype=str)
    sub = pd.read_csv(out / "submission.csv", dtype={"ImageID": str})
    assert (out / "submission.csv").read_text().splitlines()[0] == "ImageID,ans"  # no index column
    assert sub["ImageID"].tolist() == info["ImageID"].tolist()
    assert sub["ans"].dtype.kind == "i" and sub["ans"].between(0, 17).all()
    probs = pd.read_csv(out / "predictions.csv", dtype={"path": str})
    assert probs["path"].tolist() == info["ImageID"].tolist()
    p = probs[CLASS].to_numpy()
    assert np.allclose(p.sum(1), 1, atol=1e-4) and np.array_equal(p.argmax(1), sub["ans"].to_numpy())
    mask = probs[MASK].to_numpy()
    assert np.allclose(mask, p.reshape(-1, 3, 6).sum(2), atol=1e-4)  # heads and classes agree
    report = json.loads((out / "metrics.json").read_text())
    assert report["split"] == "test" and report["outputs"][0]["submission"] == str(out / "submission.csv")


def test_test_py_on_the_labelled_split_reports_what_sklearn_computes(run, mask_root):
    tmp, run_dir = run
    out = tmp / "val_pred"
    assert test_cli.main(["--checkpoint", str(run_dir / "model_best.pth"), "--split", "val", "--out", str(out)]) == 0
    report = json.loads((out / "metrics.json").read_text())
    pred = pd.read_csv(out / "predictions.csv", dtype={"path": str})
    val = MaskFaceDataset(mask_root, "val", label_fix="label_fix.csv")  # targets are the true (fixed) labels
    truth = dict(zip(val.image_ids, val.labels("class")))
    assert pred["class_label"].tolist() == [class_names()[truth[i]] for i in pred["path"]]
    assert report["metrics"]["f1"] == pytest.approx(f1_score(pred["class_label"], pred["class_prediction"],
                                                             average="macro"))
    assert {"confusion_matrix.csv", "confusion_matrix.png", "predictions.csv"} <= {p.name for p in out.iterdir()}
    assert {"class_label", "mask_label", "gender_label", "age_label", "group"} <= set(pred.columns)


def test_skipped_eval_images_keep_their_row_and_are_counted(run, mask_root, tmp_path):
    _, run_dir = run
    root = shutil.copytree(mask_root, tmp_path / "copy")
    info = pd.read_csv(root / "eval/info.csv", dtype=str)
    (root / "eval/images" / info["ImageID"][2]).unlink()
    args = ["--checkpoint", str(run_dir / "model_best.pth"), "--out", str(tmp_path / "o"), "-o",
            f"data.dataset.args.root={root}"]
    assert test_cli.main(args) == 2  # a missing file is an error by default
    assert test_cli.main(args + ["data.dataset.args.on_error=skip"]) == 0
    report = json.loads((tmp_path / "o/metrics.json").read_text())
    assert report["outputs"][0]["missing"] == 1 and report["samples"] == len(info) - 1
    assert len(pd.read_csv(tmp_path / "o/submission.csv")) == len(info)


def test_ensemble_averages_probability_files_and_score_matches_sklearn(run, mask_root, tmp_path):
    _, run_dir = run
    files = []
    for i, views in enumerate(("[identity, hflip]", "[identity]")):
        out = tmp_path / f"m{i}"
        assert test_cli.main(["--checkpoint", str(run_dir / "model_best.pth"), "--out", str(out),
                              "-o", f"inference.args.views={views}"]) == 0
        files.append(out / "predictions.csv")
    info = mask_root / "eval/info.csv"
    assert ensemble.main([*map(str, files), "--weights", "2", "1", "--template", str(info),
                          "--out", str(tmp_path / "ens")]) == 0
    a, b = (pd.read_csv(f, dtype={"path": str}).set_index("path") for f in files)
    sub = pd.read_csv(tmp_path / "ens/submission.csv", dtype={"ImageID": str})
    assert sub["ImageID"].tolist() == pd.read_csv(info, dtype=str)["ImageID"].tolist()
    expected = (2 * a[CLASS] + b.loc[a.index, CLASS]).to_numpy().argmax(1)
    assert np.array_equal(sub.set_index("ImageID").loc[a.index, "ans"].to_numpy(), expected)
    # An age-only model joins by heads: age from both files, mask and gender from the first alone.
    age = [f"age_prob_{name}" for name in ("young", "middle", "old")]
    b[["age_prediction", "age_confidence", *age]].reset_index().to_csv(tmp_path / "age_only.csv", index=False)
    assert ensemble.main([str(files[0]), str(tmp_path / "age_only.csv"), "--by", "heads",
                          "--out", str(tmp_path / "heads")]) == 0
    by_heads = pd.read_csv(tmp_path / "heads/submission.csv", dtype={"ImageID": str}).set_index("ImageID")
    expected = (a[MASK].to_numpy().argmax(1) * 6
                + a[["gender_prob_male", "gender_prob_female"]].to_numpy().argmax(1) * 3
                + ((a[age] + b.loc[a.index, age]) / 2).to_numpy().argmax(1))
    assert np.array_equal(by_heads.loc[a.index, "ans"].to_numpy(), expected)

    truth = pd.read_csv(mask_root / "eval/answers.csv", dtype={"ImageID": str})
    assert score_submission.main([str(tmp_path / "ens/submission.csv"), str(mask_root / "eval/answers.csv"),
                                  "--json", str(tmp_path / "score.json")]) == 0
    merged = truth.merge(sub, on="ImageID", suffixes=("_true", "_pred"))
    scores = json.loads((tmp_path / "score.json").read_text())
    assert scores["f1"] == pytest.approx(f1_score(merged["ans_true"], merged["ans_pred"], average="macro"))
    bad = sub.copy()
    bad.loc[3, "ans"] = 18
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert score_submission.main([str(tmp_path / "bad.csv"), str(mask_root / "eval/answers.csv")]) == 2


def test_kfold_trains_every_fold_and_writes_out_of_fold_predictions(mask_root, tmp_path):
    cfg = quick(mask_root, tmp_path / "saved", "data.dataset.args.n_folds=2",
                f"data.dataset.args.folds_file={tmp_path / 'folds.csv'}", "trainer.epochs=1",
                "trainer.tensorboard=false", "inference.args.views=[identity]", "trainer.limit_train_batches=3")
    summary = kfold.run_kfold(cfg, out_dir=tmp_path / "kfold")
    oof = pd.read_csv(tmp_path / "kfold/oof_predictions.csv", dtype={"path": str})
    everyone = MaskFaceDataset(mask_root, "all", label_fix="label_fix.csv")
    assert sorted(oof["path"]) == sorted(everyone.image_ids)  # every training photo exactly once
    truth = dict(zip(everyone.image_ids, everyone.labels("class")))  # targets are the true (fixed) labels
    assert oof["class_label"].tolist() == [class_names()[truth[i]] for i in oof["path"]]
    assert summary["oof"]["f1"] == pytest.approx(f1_score(oof["class_label"], oof["class_prediction"],
                                                          average="macro"))
    assert all(str(mask_root / "train/images" / p) == f for p, f in zip(oof["path"], oof["file"]))
    assert sorted(summary["folds"]) == [0, 1]
    sub = pd.read_csv(summary["ensemble"]["submission"], dtype={"ImageID": str})
    assert sub["ImageID"].tolist() == pd.read_csv(mask_root / "eval/info.csv", dtype=str)["ImageID"].tolist()


def test_train_py_on_the_shipped_config_generates_the_sample_data(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["--config", str(REPO / "configs/mask_multihead_quick.json"), "-o", *TINY,
            f"trainer.save_dir={tmp_path / 'saved'}", "trainer.epochs=1", "trainer.limit_train_batches=1",
            "trainer.limit_val_batches=1"]
    assert train.main(args) == 0
    assert "generating it at data/samples/mask_faces" in capsys.readouterr().out
    assert (tmp_path / "data/samples/mask_faces/eval/info.csv").is_file()
