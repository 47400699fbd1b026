"""Every shipped quick recipe, on sample data of its family, in every mode the README names: one
process; torchrun with 2 gloo processes; the memory options stacked as the README shows them (bf16
autocast, channels_last, activation checkpointing, micro-batches) with gradient accumulation; EMA and
SWA; --resume after the process died; test.py and the ONNX export of the result. Each cell takes two
to four steps; a mode that cannot run here is refused before training with the key named.
`make test-full` (pytest -m slow) runs every full-size recipe through the same cells, on one tiny batch
an epoch at its configured input size.

Each recipe keeps its model, loss, metrics, sampler and transforms; only the data root and the size
of the run are overridden (batch 4 and two batches an epoch for a quick recipe, batch 2 and one batch
for a full-size one; CPU, no workers)."""
import csv
import json
import math

import pytest
import torch

import train
from commands import test_cli
from conftest import die_at_epoch, torchrun
from recipes import CONFIGS, QUICK, on_sample_data
from tools import export
from trainer import run_training
from utils.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")
RUN = ["trainer.epochs=2", "trainer.limit_train_batches=2", "trainer.limit_val_batches=null"]
BATCH = 4  # the global batch: 2 per process under torchrun
# Full-size recipes (make test-full): one tiny batch an epoch, 1 image per process under torchrun; an
# image table's classifier keeps 2 (its BatchNorm after pooling needs more than one value per channel).
FULL = [n for n in CONFIGS if n not in QUICK]
RECIPES = QUICK + [pytest.param(n, marks=pytest.mark.slow) for n in FULL]


def _rows(log_dir):
    with open(log_dir / "metrics.csv") as f:
        return [{k: v for k, v in r.items() if k != "time"} for r in csv.DictReader(f)]


def _finite(rows):
    return all(math.isfinite(float(v)) for r in rows for k, v in r.items() if v not in ("", None))


# Counts a wrinkle metric takes at its fixed threshold. A recipe that tunes the threshold is used at
# the best one (stored in the checkpoint), where test.py's f1 is the logged f1_best.
AT_THRESHOLD = {"precision", "recall", "f1", "iou", "accuracy", "f1_per_image", "iou_per_image"}


def _same_scores(scores, row):
    """test.py's scores on the val split equal the val/* scores a run logged for the same weights."""
    tuned = "val/threshold_best" in row
    for key, value in row.items():
        if key.startswith("val/") and not (tuned and key[4:] in AT_THRESHOLD):
            assert scores[key[4:]] == pytest.approx(float(value), rel=1e-5, abs=1e-6), key
    if tuned:
        assert scores["f1"] == pytest.approx(float(row["val/f1_best"]), rel=1e-5, abs=1e-6)


def _batch(name):
    return BATCH if name in QUICK or "image_" in name else 2


def _config(name, request, tmp, *overrides, processes=1):
    tiny = [] if name in QUICK else ["trainer.limit_train_batches=1"]
    return on_sample_data(name, request, tmp / "saved", *RUN, *tiny, *overrides,
                          batch_size=_batch(name) // processes)


@pytest.fixture(scope="module")
def reference(request, tmp_path_factory):
    """One process, 2 epochs of 2 batches, whole validation split: run once per recipe, shared."""
    runs = {}

    def get(name):
        if name not in runs:
            tmp = tmp_path_factory.mktemp(name.removesuffix(".json"))
            runs[name] = run_training(_config(name, request, tmp, "deterministic=true"))[0]
        return runs[name]
    return get


@pytest.mark.parametrize("name", RECIPES)
def test_one_process(name, reference):
    trainer = reference(name)
    rows = _rows(trainer.paths.log)
    # the action sample has 6 training clips: one batch of 4
    steps = min(trainer.options.limit_train_batches, len(trainer.train_loader))
    assert [int(r["epoch"]) for r in rows] == [1, 2] and [int(r["step"]) for r in rows] == [steps, 2 * steps]
    assert _finite(rows)
    assert {"model_last.pth", "model_best.pth", "config.json"} <= {p.name for p in trainer.paths.models.iterdir()}


@pytest.mark.parametrize("name", RECIPES)
def test_test_py_scores_what_validation_logged_and_the_export_runs(name, reference, tmp_path):
    trainer = reference(name)
    best = trainer.paths.models / "model_best.pth"
    assert test_cli.main(["--checkpoint", str(best), "--split", "val", "--out", str(tmp_path / "val")]) == 0
    (row,) = [r for r in _rows(trainer.paths.log) if int(r["epoch"]) == trainer.best_epoch]
    _same_scores(json.loads((tmp_path / "val/metrics.json").read_text())["metrics"], row)
    # The exported file is run at another batch size and checked against PyTorch by the command itself.
    assert export.main(["--checkpoint", str(best), "--format", "onnx", "--out", str(tmp_path / "model.onnx")]) == 0


@pytest.mark.parametrize("name", RECIPES)
def test_resume_after_the_process_died(name, request, reference, tmp_path, monkeypatch):
    cfg = _config(name, request, tmp_path, "deterministic=true")
    with monkeypatch.context() as m:
        die_at_epoch(m, 2)
        with pytest.raises(KeyboardInterrupt):
            run_training(cfg)
    (run_dir,) = (tmp_path / "saved/models" / cfg["name"]).iterdir()
    assert train.main(["--resume", str(run_dir / "model_last.pth")]) == 0
    straight, resumed = load_checkpoint(reference(name).paths.models / "model_last.pth"), \
        load_checkpoint(run_dir / "model_last.pth")
    assert resumed["epoch"] == 2 and resumed["global_step"] == straight["global_step"]
    for k, v in straight["model"].items():
        assert torch.equal(v, resumed["model"][k]), k
    (log_dir,) = (tmp_path / "saved/log" / cfg["name"]).iterdir()
    assert _rows(log_dir) == _rows(reference(name).paths.log)


# ---------------------------------------------------------------------------- modes of one process
MODES = {
    # The README's Memory stack, which users combine: AMP, channels-last, recomputed blocks, micro-batches
    # (of half the batch), plus accumulation over 2 batches.
    "memory": ["trainer.amp=bf16", "trainer.channels_last=true", "trainer.activation_checkpointing=true",
               "trainer.grad_accum_steps=2"],
    "ema_and_swa": ["trainer.ema={decay: 0.9}", "trainer.swa={start_epoch: 1}"],
    "sync_batchnorm": ["trainer.sync_batchnorm=true"],
}
# Combinations that cannot run here: refused before training, naming the key.
REFUSED = {"sync_batchnorm": "trainer.sync_batchnorm: SyncBatchNorm runs on CUDA only"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", RECIPES)
def test_mode(name, mode, request, tmp_path, capsys):
    # One epoch (of two batches, one for a full-size recipe) and one validation batch: what differs between
    # modes is the training step.
    micro = [f"trainer.micro_batch_size={_batch(name) // 2}"] if mode == "memory" else []
    cfg = _config(name, request, tmp_path, *MODES[mode], *micro, "trainer.epochs=1", "trainer.limit_val_batches=1")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    code = train.main(["--config", str(path)])
    if mode in REFUSED:
        assert code == 2 and REFUSED[mode] in capsys.readouterr().err
        assert not (tmp_path / "saved").exists()  # refused before anything was created
        return
    assert code == 0, capsys.readouterr().err
    (log_dir,) = (tmp_path / "saved/log" / cfg["name"]).iterdir()
    rows = _rows(log_dir)
    assert _finite(rows)
    models = log_dir.parents[2] / "models" / cfg["name"] / log_dir.name
    ckpt = load_checkpoint(models / "model_last.pth")
    if mode == "memory":
        assert ckpt["global_step"] == 1  # one update: accumulated over the epoch's batches
    if mode == "ema_and_swa":
        assert ckpt["ema"] and any(k.startswith("val_ema/") for k in rows[0])
        assert any(r.get("val_swa/loss") for r in rows)
        assert test_cli.main(["--checkpoint", str(models / "model_swa.pth"), "--split", "val",
                              "--out", str(tmp_path / "swa")]) == 0


# ---------------------------------------------------------------------------- torchrun
@pytest.fixture(scope="module")
def torchrun_recipes(request, tmp_path_factory):
    """Recipes in torchrun launches of 2 CPU processes (gloo), each through train.py's main, at the same
    global batch as the one-process runs: all quick recipes in one launch, a full-size one alone."""
    launches = {}

    def get(name):
        group = QUICK if name in QUICK else [name]
        if group[0] not in launches:
            tmp = tmp_path_factory.mktemp("torchrun")
            for n in group:
                (tmp / n).write_text(json.dumps(_config(n, request, tmp, "deterministic=true", processes=2)))
            launches[group[0]] = (tmp, *torchrun([{"name": n, "argv": ["--config", str(tmp / n)]} for n in group],
                                                 tmp))
        return launches[group[0]]
    return get


@pytest.mark.parametrize("name", RECIPES)
def test_torchrun_two_processes(name, torchrun_recipes, reference, tmp_path):
    tmp, codes, output = torchrun_recipes(name)
    assert codes.get(name) == 0, output
    cfg = json.loads((tmp / name).read_text())
    (model_dir,) = (tmp / "saved/models" / cfg["name"]).iterdir()  # one run directory for both processes
    (log_dir,) = (tmp / "saved/log" / cfg["name"]).iterdir()
    assert model_dir.name == log_dir.name
    rows, single = _rows(log_dir), _rows(reference(name).paths.log)
    assert [r.keys() for r in rows] == [r.keys() for r in single]
    assert [r["step"] for r in rows] == [r["step"] for r in single]  # the same updates per epoch
    assert _finite(rows)
    # Validation is sharded across the processes and its metric states summed: the logged scores are
    # those of the whole validation split, as one process computes them from the same weights.
    assert test_cli.main(["--checkpoint", str(model_dir / "model_last.pth"), "--split", "val",
                          "--out", str(tmp_path / "val")]) == 0
    _same_scores(json.loads((tmp_path / "val/metrics.json").read_text())["metrics"], rows[-1])
