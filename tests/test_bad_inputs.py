"""Bad input that used to pass silently, end in a traceback, damage outputs or mislead: each is now a
named error (file / key / row), and a run or tool that fails leaves what was written before as it was."""
import json

import numpy as np
import pandas as pd
import pytest

import train
from commands import test_cli
from conftest import tiny_config
from tiny_checkpoints import tiny_checkpoint
from tools import ensemble, export, extract_frames, score_submission

CLASS = [f"class_prob_{i}" for i in range(18)]


def _run_main(main, argv, capsys):
    """(exit code, stderr) of a command line's main(), argparse's exits included."""
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def test_a_misspelled_model_argument_is_named(config, tmp_path, capsys):
    (tmp_path / "c.json").write_text(json.dumps(config("model.args.encoder_nme=resnet18")))
    code, err = _run_main(train.main, ["--config", str(tmp_path / "c.json")], capsys)
    assert code == 2 and "model.args.encoder_nme" in err and "Did you mean 'encoder_name'" in err


@pytest.mark.parametrize("suffix,text", [
    (".json", '{"name": "x", "optimizer": {"args": {"lr": 0.5, "lr": 0.003}}}'),
    (".yaml", "name: x\noptimizer:\n  args:\n    lr: 0.5\n    lr: 0.003\n")])
def test_a_key_given_twice_in_a_config_file_is_refused(tmp_path, capsys, suffix, text):
    (tmp_path / f"c{suffix}").write_text(text)
    code, err = _run_main(train.main, ["--config", str(tmp_path / f"c{suffix}")], capsys)
    assert code == 2 and "'lr'" in err and "twice" in err


@pytest.mark.parametrize("override,message", [
    (["-o", "data.loader.batch_size=eight"], "data.train.loader.batch_size: expected an integer >= 1, got 'eight'"),
    (["--bs", "0"], "data.train.loader.batch_size: expected an integer >= 1, got 0"),
    (["-o", "model.args.decoder_channels=[32,16"], "not valid YAML"),
])
def test_bad_values_are_named_before_training(config, tmp_path, capsys, override, message):
    (tmp_path / "c.json").write_text(json.dumps(config()))
    code, err = _run_main(train.main, ["--config", str(tmp_path / "c.json"), *override], capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "saved").exists()  # nothing was created


def test_a_resume_that_fails_on_bad_data_leaves_the_run_as_it_was(wrinkle_root, tmp_path, capsys):
    import shutil

    root = shutil.copytree(wrinkle_root, tmp_path / "data")
    cfg = tiny_config(root, tmp_path / "saved", "trainer.epochs=1", "trainer.limit_train_batches=1")
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    assert train.main(["--config", str(tmp_path / "c.json")]) == 0
    (run_dir,) = (tmp_path / "saved/models/wrinkle_quick").iterdir()
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    for image in (root / "train/images").glob("*.png"):
        image.write_bytes(image.read_bytes()[:100])  # every training image is now corrupt
    code, err = _run_main(train.main, ["--resume", str(run_dir / "model_last.pth"), "-o", "trainer.epochs=3",
                                       "optimizer.args.lr=0.5"], capsys)
    assert code == 2 and "is a truncated PNG" in err
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before  # config.json included


def test_a_folder_given_as_checkpoint_lists_its_files(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    tiny_checkpoint("wrinkle", tmp_path / "run/model_best.pth")
    code, err = _run_main(test_cli.main, ["--checkpoint", str(tmp_path / "run")], capsys)
    assert code == 2 and "is a folder" in err and "model_best.pth" in err


def _probabilities(path, ids, seed):
    p = np.random.default_rng(seed).dirichlet(np.ones(18), len(ids))
    pd.DataFrame(p, columns=CLASS).assign(path=ids)[["path", *CLASS]].to_csv(path, index=False)


def test_an_empty_probability_cell_is_named_with_file_line_and_column(tmp_path, capsys):
    _probabilities(tmp_path / "p.csv", ["a", "b", "c"], 0)
    df = pd.read_csv(tmp_path / "p.csv", dtype=str)
    df.loc[1, "class_prob_4"] = ""
    df.to_csv(tmp_path / "p.csv", index=False)
    code, err = _run_main(ensemble.main, [str(tmp_path / "p.csv"), "--out", str(tmp_path / "e")], capsys)
    assert code == 2 and "p.csv line 3 (class_prob_4)" in err and not (tmp_path / "e").exists()


def test_a_failed_ensemble_leaves_the_earlier_one_whole(tmp_path, capsys):
    ids = ["a", "b", "c"]
    _probabilities(tmp_path / "p0.csv", ids, 0)
    _probabilities(tmp_path / "p1.csv", ids, 1)
    pd.DataFrame({"ImageID": ids, "ans": 0}).to_csv(tmp_path / "info.csv", index=False)
    out = tmp_path / "ens"
    assert ensemble.main([str(tmp_path / "p0.csv"), "--template", str(tmp_path / "info.csv"), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    pd.DataFrame({"ImageID": ids + ["d"], "ans": 0}).to_csv(tmp_path / "info2.csv", index=False)  # d has no row
    code, err = _run_main(ensemble.main, [str(tmp_path / "p1.csv"), "--template", str(tmp_path / "info2.csv"),
                                          "--out", str(out)], capsys)
    assert code == 2 and "not in the predictions" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # predictions and submission still a pair


def test_score_submission_writes_json_into_a_new_folder(tmp_path):
    pd.DataFrame({"ImageID": ["a", "b"], "ans": [0, 5]}).to_csv(tmp_path / "s.csv", index=False)
    assert score_submission.main([str(tmp_path / "s.csv"), str(tmp_path / "s.csv"),
                                  "--json", str(tmp_path / "new/dir/score.json")]) == 0
    assert json.loads((tmp_path / "new/dir/score.json").read_text())["acc"] == 1.0


def test_extract_frames_refuses_a_negative_size(tmp_path, capsys):
    code, err = _run_main(extract_frames.main, [str(tmp_path), str(tmp_path / "o"), "--short-side", "-5"], capsys)
    assert code == 2 and "--short-side: expected an integer >= 1, got '-5'" in err and "cv2" not in err


def test_export_refuses_an_opset_it_cannot_write_and_writes_nothing(tmp_path, capsys):
    ckpt = tiny_checkpoint("wrinkle", tmp_path / "w.pth")
    code, err = _run_main(export.main, ["--checkpoint", str(ckpt), "--opset", "3", "--out", str(tmp_path / "w.onnx")],
                          capsys)
    assert code == 2 and "--opset 3" in err and "Traceback" not in err
    assert not (tmp_path / "w.onnx").exists()


@pytest.fixture
def tool_files(tmp_path):
    """An annotation file of 4 clips (2 classes), one of a single class, and an OOF file of one label."""
    pd.DataFrame({"path": [f"c{i}.mp4" for i in range(4)], "label": ["run", "walk"] * 2}).to_csv(tmp_path / "a.csv",
                                                                                                index=False)
    pd.DataFrame({"path": ["c0.mp4", "c1.mp4"], "label": ["run", "run"]}).to_csv(tmp_path / "one.csv", index=False)
    probs = np.random.default_rng(0).dirichlet(np.ones(3), 4)
    oof = pd.DataFrame({"path": [f"x{i}.png" for i in range(4)], "label": ["cat", "dog", "owl", "dog"],
                        **{f"prob_{k}": probs[:, i] for i, k in enumerate(("cat", "dog", "owl"))}})
    (tmp_path / "kf").mkdir()
    oof.to_csv(tmp_path / "kf/oof_predictions.csv", index=False)
    return tmp_path


def _oof(tmp, column, value, labels=None):
    df = pd.read_csv(tmp / "kf/oof_predictions.csv", dtype=str)
    df.loc[1, column] = value
    df.to_csv(tmp / "kf/oof_predictions.csv", index=False)
    if labels:
        (tmp / "kf/labels.json").write_text(json.dumps({"classes": labels}))
    return [str(tmp / "kf")]


@pytest.mark.parametrize("tool,argv,message", [
    ("label_noise", lambda t: ["clips", f"{t}/a.csv", f"{t}/o.csv", "--k", "9"], "--k 9: "),
    ("label_noise", lambda t: ["clips", f"{t}/a.csv", f"{t}/o.csv", "--k", "-1"], "expected an integer >= 1, got '-1'"),
    ("label_noise", lambda t: ["clips", f"{t}/one.csv", f"{t}/o.csv", "--k", "1"], "of 1 class(es)"),
    ("label_noise", lambda t: ["clips", f"{t}/none.csv", f"{t}/o.csv"], "none.csv"),
    ("label_noise", lambda t: ["segmentation", f"{t}/a.csv", f"{t}/o"], "is no wrinkle data root"),
    ("label_noise", lambda t: ["mask", f"{t}/a.csv", f"{t}/o"], "train.csv not found"),
    ("label_noise", lambda t: ["score", f"{t}/none.csv", f"{t}/a.csv"], "none.csv"),
    ("label_noise", lambda t: ["score", f"{t}/a.csv", f"{t}/a.csv", "--n", "0"], "expected an integer >= 1, got '0'"),
    ("label_noise", lambda t: ["score", f"{t}/a.csv", f"{t}/one.csv"], "missing column(s) ['head']"),
    ("find_label_errors", lambda t: _oof(t, "prob_dog", ""), "oof_predictions.csv line 3 (prob_dog): '' is not"),
    ("find_label_errors", lambda t: _oof(t, "prob_dog", "0.5", ["cat", "dog"]),
     "labels.json names the classes ['cat', 'dog'], but the predictions"),
    ("find_label_errors", lambda t: _oof(t, "label", "emu"), "line 3 (label): 'emu' is neither a class id"),
    ("find_label_errors", lambda t: [f"{t}/kf", "--review", "-1"], "expected an integer >= 0, got '-1'"),
    ("kfold", lambda t: ["--config", "c.json", "--n-folds", "0"], "--n-folds: expected an integer >= 2, got '0'"),
    ("kfold", lambda t: ["--config", "c.json", "--folds", "-1"], "--folds: expected an integer >= 0, got '-1'"),
])
def test_tool_bad_inputs_are_named_errors_that_write_nothing(tool_files, capsys, tool, argv, message):
    from tools import find_label_errors, kfold, label_noise

    main = {"label_noise": label_noise.main, "find_label_errors": find_label_errors.main, "kfold": kfold.main}[tool]
    argv = argv(tool_files)
    before = {p: p.read_bytes() for p in tool_files.rglob("*") if p.is_file()}
    code, err = _run_main(main, argv, capsys)
    assert code == 2 and message in err and "Traceback" not in err, err
    assert {p: p.read_bytes() for p in tool_files.rglob("*") if p.is_file()} == before  # nothing written


def test_label_noise_keeps_each_outputs_truth(tool_files):
    from tools import label_noise

    for name in ("o1", "o2"):
        assert label_noise.main(["clips", f"{tool_files}/a.csv", f"{tool_files}/out/{name}.csv", "--k", "1"]) == 0
    first = pd.read_csv(tool_files / "out/o1_injected.csv")
    noisy = pd.read_csv(tool_files / "out/o1.csv").set_index("path")["label"]
    assert len(first) == 1 and noisy[first["key"].iloc[0].rsplit("/", 1)[1]] == first["given"].iloc[0]
    assert (tool_files / "out/o2_injected.csv").is_file()
