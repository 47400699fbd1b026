"""tools/tune.py as a user runs it: a study over the learning rate of a quick config whose default is
poor, killed mid-trial and started again; pruning of a hopeless trial; clear errors for a bad space."""
import json
import math
import os
import signal
import subprocess
import sys
import time

import optuna
import pandas as pd
import pytest

from conftest import REPO
from samples.mask_faces import generate_mask_dataset
from tools import tune
from trainer import tuning
from utils.config import apply_overrides, load_config

pytestmark = pytest.mark.usefixtures("one_thread")
POOR_LR = 1e-6
SPACE = "optimizer.args.lr: {type: float, low: 1.0e-6, high: 3.0e-2, log: true}\n"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The mask quick recipe on 24 half-size persons: a tiny backbone, 48x36 inputs, 3 epochs, a poor lr."""
    tmp = tmp_path_factory.mktemp("tune")
    root = generate_mask_dataset(tmp / "mask", n_train=24, n_eval=1, seed=4, size=(192, 256))
    cfg = load_config(REPO / "configs/mask_multihead_quick.json")
    for split in ("train", "val"):
        cfg["data"][split]["transform"][:2] = [{"type": "CenterCrop", "args": {"height": 200, "width": 160}},
                                               {"type": "Resize", "args": {"height": 48, "width": 36}}]
    cfg = apply_overrides(cfg, [
        f"data.dataset.args.root={root}", f"trainer.save_dir={tmp / 'saved'}", "device=cpu",
        "model.args.backbone=test_resnet", "data.loader.num_workers=0", "inference.args.views=[identity]",
        "trainer.epochs=3", f"optimizer.args.lr={POOR_LR}", "trainer.progress=none", "trainer.tensorboard=false",
        "trainer.report=false", "trainer.train_metrics=false", "trainer.save_top_k=0"])
    (tmp / "cfg.json").write_text(json.dumps(cfg))
    (tmp / "space.yaml").write_text(SPACE)
    return tmp, cfg


def study_of(tmp, name):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp / 'saved/tune' / name / 'study.db'}")


@pytest.fixture(scope="module")
def resumed(quick):
    """A 4-trial study killed (SIGKILL) during its third trial, then the same command run again."""
    tmp, _ = quick
    args = ["--config", str(tmp / "cfg.json"), "--space", str(tmp / "space.yaml"), "--trials", "4", "--study", "lr",
            "--seed", "0", "--pruner", "none", "--heartbeat", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "tools/tune.py", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.3)
        if not (tmp / "saved/tune/lr/study.db").is_file():
            continue
        try:
            trials = study_of(tmp, "lr").trials
        except KeyError:  # the study is not created yet
            continue
        if any(t.number == 2 and t.state == optuna.trial.TrialState.RUNNING for t in trials):
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = study_of(tmp, "lr").trials
    time.sleep(2.5)  # the killed trial's heartbeat goes stale (twice --heartbeat)
    assert tune.main(args) == 0
    return before, study_of(tmp, "lr")


def test_a_killed_study_continues_where_it_stopped(resumed):
    before, study = resumed
    states = [t.state.name for t in before]
    assert states == ["COMPLETE", "COMPLETE", "RUNNING"], states  # killed during trial 2
    after = study.trials
    assert [(t.params, t.value) for t in after[:2]] == [(t.params, t.value) for t in before[:2]]  # kept, not rerun
    assert after[2].state == optuna.trial.TrialState.FAIL  # the killed trial, found stale
    retried = [t for t in after if t.system_attrs.get("failed_trial") == 2]
    assert len(retried) == 1 and retried[0].params == after[2].params and retried[0].state.name == "COMPLETE"
    assert sum(t.state.name == "COMPLETE" for t in after) == 4


def test_the_study_finds_a_better_learning_rate_than_the_poor_default(resumed, quick):
    tmp, cfg = quick
    _, study = resumed
    baseline = study.trials[0]
    assert baseline.params == {"optimizer.args.lr": POOR_LR}  # the config as it is, tried first
    best = study.best_trial
    assert best.params["optimizer.args.lr"] > 1e-4 and best.value > baseline.value + 0.02, (best, baseline)
    out = tmp / "saved/tune/lr"
    best_cfg = load_config(out / "best_config.json")
    assert best_cfg["optimizer"]["args"]["lr"] == best.params["optimizer.args.lr"]
    assert {k: v for k, v in best_cfg.items() if k not in ("optimizer", "description")} == \
        {k: v for k, v in cfg.items() if k not in ("optimizer", "description")}
    table = pd.read_csv(out / "trials.csv")
    assert list(table["number"]) == [t.number for t in study.trials]
    assert {"optimizer.args.lr", "value", "state", "run_dir"} <= set(table.columns)
    for t in study.trials:
        if t.state.name == "COMPLETE":  # every trial is a normal run
            run = out / "models" / cfg["name"] / f"trial{t.number:04d}"
            assert (run / "model_best.pth").is_file() and t.user_attrs["run_dir"] == str(run)
            assert len(pd.read_csv(out / "log" / cfg["name"] / run.name / "metrics.csv")) == 3
    assert {p.name for p in (out / "plots").iterdir()} >= {"optimization_history.png", "param_importances.png"}


def test_a_hopeless_trial_is_pruned_before_its_last_epoch(quick):
    tmp, cfg = quick
    cfg = apply_overrides(cfg, ["optimizer.args.lr=0.01", "trainer.monitor=min val/loss"])
    space = tuning.check_space({"optimizer.args.lr": {"low": 1e-8, "high": 0.1, "log": True}}, cfg)
    pruner = tuning.make_pruner("median", startup_trials=1, warmup_epochs=0)
    storage = tmp / "prune.db"
    tuning.run_study(cfg, space, 1, study_name="prune", storage=storage, pruner=pruner, progress=False)
    study = optuna.load_study(study_name="prune", storage=f"sqlite:///{storage}")
    study.enqueue_trial({"optimizer.args.lr": 1e-8})
    tuning.run_study(cfg, space, 2, study_name="prune", storage=storage, pruner=pruner, progress=False)
    good, hopeless = optuna.load_study(study_name="prune", storage=f"sqlite:///{storage}").trials
    assert good.state.name == "COMPLETE" and len(good.intermediate_values) == 3
    assert hopeless.state.name == "PRUNED" and hopeless.user_attrs["epochs"] < 3, hopeless
    log = pd.read_csv(tmp / "saved/tune/prune/log" / cfg["name"] / "trial0001/metrics.csv")
    assert len(log) == hopeless.user_attrs["epochs"]  # it stopped there, cleanly


@pytest.mark.parametrize("space, message", [
    ("optimizer.args.lrr: {low: 1.0e-5, high: 1.0e-1}\n", "did you mean 'optimizer.args.lr'"),
    ("optimizer.args.lr: {low: 1.0e-1, high: 1.0e-5}\n", "bad range: low (0.1) must be below high (1e-05)"),
    ("optimizer.args.lr: {low: 0, high: 0.1, log: true}\n", "a log scale needs low > 0"),
    ("optimizer.args.lr: {low: 1.0e-5, high: 0.1, log: no}\n", "log must be true or false, got 'no'"),
    ("model.args.backbone: {choices: []}\n", "choices must be a non-empty list"),
    ("model.args.backbone: {choices: [[a, b]]}\n", "Optuna stores no lists or mappings"),
    ("trainer.epochs: {type: int, low: 2, high: 8, stepp: 2}\n", "unknown field(s) ['stepp']"),
])
def test_a_bad_space_is_an_error_naming_the_key_before_any_trial(quick, tmp_path, capsys, space, message):
    tmp, _ = quick
    (tmp_path / "space.yaml").write_text(space)
    assert tune.main(["--config", str(tmp / "cfg.json"), "--space", str(tmp_path / "space.yaml"), "--trials", "2",
                      "--study", "bad"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(tmp_path / "space.yaml") in err, err
    assert not (tmp / "saved/tune/bad").exists()  # nothing started


def test_a_missing_space_file_is_named(quick, tmp_path, capsys):
    tmp, _ = quick
    assert tune.main(["--config", str(tmp / "cfg.json"), "--space", str(tmp_path / "none.yaml"), "--trials", "2"]) == 2
    assert f"--space: file {tmp_path / 'none.yaml'} not found" in capsys.readouterr().err


@pytest.fixture
def no_training(monkeypatch):
    """Trials without training (the study is under test, not the trainer): a run's best score is a smooth
    function of its learning rate, highest at 1e-3."""
    import trainer.training

    def run(cfg, run_id=None, callbacks=()):
        lr = cfg["optimizer"]["args"]["lr"]
        return None, {"best": -abs(math.log10(lr) + 3), "run_dir": run_id, "last_epoch": 1, "stop_reason": None}

    monkeypatch.setattr(trainer.training, "run_training", run)


def test_a_resumed_seeded_study_draws_what_an_uninterrupted_one_would(quick, no_training):
    tmp, cfg = quick
    space = tuning.check_space({"optimizer.args.lr": {"low": 1e-6, "high": 3e-2, "log": True}}, cfg)

    def drawn(name, *trials):
        for n in trials:  # each call a fresh start of the same command, as after a kill or with more --trials
            study = tuning.run_study(cfg, space, n, study_name=name, seed=0, progress=False)
        return [t.params["optimizer.args.lr"] for t in study.trials]

    resumed = drawn("resumed", 3, 6)
    assert resumed == drawn("straight", 6)  # not the start of its stream again
    assert len(set(resumed)) == 6 and resumed[0] == POOR_LR


@pytest.mark.parametrize("monitor", ["min val/loss", "max val/acc"])
def test_a_resume_that_changes_the_monitor_is_refused(quick, no_training, tmp_path, capsys, monitor):
    tmp, _ = quick
    argv = ["--config", str(tmp / "cfg.json"), "--space", str(tmp / "space.yaml"), "--trials", "2", "--study",
            f"measure-{monitor[:3]}"]
    assert tune.main([*argv[:5], "1", *argv[6:]]) == 0  # 1 trial by the config's max val/f1
    out = tmp / "saved/tune" / argv[-1]
    before = (out / "best_config.json").read_bytes()
    assert tune.main([*argv, "-o", f"trainer.monitor={monitor}"]) == 2
    err = capsys.readouterr().err
    assert f"measures its trials by 'max val/f1', this config by '{monitor}'" in err and "Traceback" not in err
    assert (out / "best_config.json").read_bytes() == before and len(study_of(tmp, argv[-1]).trials) == 1


@pytest.mark.parametrize("storage,message", [("folder", "is a folder"), ("foo://db", "cannot open foo://db")])
def test_a_bad_storage_is_named(quick, tmp_path, capsys, storage, message):
    tmp, _ = quick
    spec = str(tmp_path) if storage == "folder" else storage
    assert tune.main(["--config", str(tmp / "cfg.json"), "--space", str(tmp / "space.yaml"), "--trials", "1",
                      "--study", "nowhere", "--storage", spec]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp / "saved/tune/nowhere").exists()
