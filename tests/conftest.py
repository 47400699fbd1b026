"""Shared fixtures: a small generated wrinkle dataset and tiny, fast configs over it."""
import copy
import logging
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

from utils.config import apply_overrides, load_config  # noqa: E402
from utils.registry import import_builtins  # noqa: E402

import_builtins()

if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):  # pytest -n N (make test): the workers share the cores
    import torch

    threads = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    torch.set_num_threads(threads)
    # train.py / torchrun runs started by a test compute with as many threads as the test's own runs,
    # so their floats sum in the same order (tests compare them exactly).
    os.environ["OMP_NUM_THREADS"] = str(threads)

# The files that take a minute or more on 2 cores, longest first. `make test` hands files to its workers
# in collection order (pytest-xdist --dist loadfile --no-loadscope-reorder), so these start first and
# the workers finish together instead of one running a long file alone at the end.
LONG_FILES = ["test_recipe_matrix.py", "test_action_learnability.py", "test_learnability.py",
              "test_pretrained_transfer.py", "test_shipped_configs.py", "test_consistency.py",
              "test_distributed.py", "test_label_errors.py", "test_faults.py", "test_checkpoint.py",
              "test_tune.py", "test_train_parts.py", "test_export.py", "test_mask_learnability.py"]


def pytest_collection_modifyitems(items):
    first = {name: i for i, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: first.get(item.path.name, len(first)))  # stable: the rest keep their order


TINY_MODEL = {"type": "SegmentationModel",
              "args": {"arch": "Unet", "encoder_name": "resnet18", "encoder_weights": None, "classes": 1,
                       "encoder_depth": 3, "decoder_channels": [16, 8, 4]}}


@pytest.fixture(scope="session")
def wrinkle_root(tmp_path_factory):
    """A small dataset in the real layout: 12 train / 4 val / 4 test images."""
    from samples.wrinkle import generate_wrinkle_dataset

    root = tmp_path_factory.mktemp("data") / "wrinkle"
    generate_wrinkle_dataset(root, n_train=12, n_val=4, n_test=4, seed=1, progress=False)
    return root


@pytest.fixture(scope="session")
def mask_root(tmp_path_factory):
    """A small face-mask dataset in the real layout (384x512 photos): 24 train persons, 3 eval persons."""
    from samples.mask_faces import generate_mask_dataset

    return generate_mask_dataset(tmp_path_factory.mktemp("data") / "mask_faces", n_train=24, n_eval=3, seed=1)


@pytest.fixture(scope="session")
def action_root(tmp_path_factory):
    """Small action clips in all three forms (videos/, frames/, annotations/): 2 train, 1 val, 1 test per class."""
    from samples.action_clips import generate_action_dataset

    return generate_action_dataset(tmp_path_factory.mktemp("data") / "action", n_train=2, n_val=1, n_test=1,
                                   seed=1, progress=False)


@pytest.fixture(scope="session")
def action_videos(action_root):
    """The video-file layout of action_root (the root the shipped action configs read)."""
    return action_root / "videos"


@pytest.fixture(scope="session")
def face_crops_root(tmp_path_factory):
    """The real face-crop sample (a CSV with heads and groups, and the same images as an ImageFolder)."""
    from samples.face_crops import generate_face_crops

    return generate_face_crops(tmp_path_factory.mktemp("data") / "face_crops")


@pytest.fixture(scope="session")
def public_layouts(tmp_path_factory):
    """Miniatures of the public datasets in their published layouts (tests/public_layouts.py), each built
    on first use: public_layouts("ucf101") -> its root. Tests that damage one copy it first."""
    import public_layouts as layouts

    base, built = tmp_path_factory.mktemp("public"), {}

    def root(name):
        if name not in built:
            built[name] = getattr(layouts, name)(base / name)
        return built[name]
    return root


def _public_root(name):
    @pytest.fixture(scope="session", name=f"{name}_root")
    def root(public_layouts):
        return public_layouts(name)
    return root


# ffhq_wrinkle_root, ffhq_crops_root, ucf101_root, hmdb51_root, kinetics_root: one fixture per layout
for _name in ("ffhq_wrinkle", "ffhq_crops", "ucf101", "hmdb51", "kinetics"):
    globals()[f"{_name}_root"] = _public_root(_name)


OTHER_ACTIONS = {"fall": "trip", "walk_left": "stroll", "stand": "wait"}  # 3 classes of other names


@pytest.fixture(scope="session")
def other_action_videos(action_root, tmp_path_factory):
    """A user's clips: three of the sample's classes under other names, in the video layout."""
    import shutil

    root = tmp_path_factory.mktemp("data") / "my_clips"
    for split in ("train", "val", "test"):
        for old, new in OTHER_ACTIONS.items():
            shutil.copytree(action_root / "videos" / split / old, root / split / new)
    return root


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: tiny models gain nothing from a second, and on a busy machine its spinning costs."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config(root, save_dir, *overrides, base="configs/wrinkle_quick.json"):
    """The quick recipe shrunk for tests: tiny U-Net, 64px crops, CPU, no workers, 2 epochs, no run
    report (its figures cost a second per run; tests/test_report.py turns it on)."""
    cfg = load_config(REPO / base)
    cfg["model"] = copy.deepcopy(TINY_MODEL)
    # As the framework's tests were calibrated: a per-pixel loss, whose gradient over micro-batches or
    # DDP processes equals the whole batch's (the recipes' soft F1 is one number per batch), uniform crops
    # (around wrinkles those comparisons drift past their 1e-6 tolerance) and one fixed threshold. The
    # recipe as shipped is tested in test_learnability.py, test_consistency.py, test_shipped_configs.py.
    cfg["loss"] = {"type": "WeightedBCE", "args": {"pos_weight": "auto", "max_pos_weight": 10}}
    cfg["data"]["train"]["transform"][1]["args"]["positive_prob"] = 0.0
    cfg["metrics"][0]["args"]["tune_threshold"] = False
    cfg["trainer"]["monitor"] = "max val/f1"
    cfg["data"]["train"]["transform"][0]["args"].update(min_height=64, min_width=64)
    cfg["data"]["train"]["transform"][1]["args"].update(height=64, width=64)
    return apply_overrides(cfg, [
        f"data.dataset.args.root={root}", f"trainer.save_dir={save_dir}", "device=cpu",
        "data.loader.num_workers=0", "data.loader.batch_size=4", "trainer.epochs=2", "trainer.progress=none",
        "trainer.tensorboard=false", "trainer.report=false", *overrides])


@pytest.fixture
def config(wrinkle_root, tmp_path):
    """tiny_config(...) bound to this test's save dir: config("trainer.epochs=3", ...)."""
    return lambda *o, base="configs/wrinkle_quick.json": tiny_config(wrinkle_root, tmp_path / "saved", *o, base=base)


@pytest.fixture(autouse=True)
def _quiet_logging():
    yield
    logger = logging.getLogger("facetrain")
    for h in list(logger.handlers):  # close run log files between tests
        logger.removeHandler(h)
        h.close()


def torchrun(runs, tmp, processes=2):
    """train.py runs in one torchrun launch of `processes` CPU processes (gloo): tests/torchrun_runs.py.
    Returns ({run name: exit code}, the launch's output tail)."""
    import json
    import subprocess

    (tmp / "runs.json").write_text(json.dumps(runs))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
           str(REPO / "tests/torchrun_runs.py"), str(tmp / "codes.json"), str(tmp / "runs.json")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    codes = json.loads((tmp / "codes.json").read_text()) if (tmp / "codes.json").is_file() else {}
    return codes, proc.stdout[-4000:] + proc.stderr[-4000:]


def die_at_epoch(monkeypatch, epoch):
    """The training process dies (KeyboardInterrupt) as epoch `epoch` starts: on disk, what a kill
    during that epoch leaves (model_last.pth of the epoch before)."""
    from trainer import Trainer

    real = Trainer.train_epoch

    def train_epoch(self, e):
        if e == epoch:
            raise KeyboardInterrupt
        return real(self, e)
    monkeypatch.setattr(Trainer, "train_epoch", train_epoch)
