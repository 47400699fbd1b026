"""The run report: after training and in test.py, figures appear as PNGs and in TensorBoard, the
curves are metrics.csv, and the sample grid shows what the model actually predicts."""
import json

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import REPO, tiny_config
from logger.curves import curves_figure, read_metrics_csv
from logger.figures import figure_to_array
from logger.report import sample_grid
from logger.sample_grid import find_normalize, picture, to_uint8
from trainer import run_training
from trainer.build import build_dataset, build_inferer, build_metrics, build_model
from trainer.options import TrainerOptions
from trainer.testing import run_test
from utils.checkpoint import load_checkpoint
from utils.config import apply_overrides, load_config
from utils.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")
COMMON = ["device=cpu", "data.loader.num_workers=0", "trainer.progress=none", "trainer.epochs=2",
          "trainer.tensorboard=true", "trainer.report=true", "trainer.report_samples=4"]


def _train(cfg):
    trainer, summary = run_training(cfg)
    resolved = load_checkpoint(trainer.paths.models / "model_last.pth")["config"]  # classes taken from the data
    return {"cfg": resolved, "log": trainer.paths.log, "models": trainer.paths.models, "summary": summary}


@pytest.fixture(scope="module")
def runs(wrinkle_root, mask_root, action_videos, tmp_path_factory):
    save = tmp_path_factory.mktemp("report")
    quick = lambda name, root, *o: apply_overrides(load_config(REPO / "configs" / name),  # noqa: E731
                                                   [f"data.dataset.args.root={root}", f"trainer.save_dir={save}",
                                                    *COMMON, *o])
    return {
        "wrinkle": _train(tiny_config(wrinkle_root, save, *COMMON, "trainer.report_samples=3")),
        "mask": _train(quick("mask_multihead_quick.json", mask_root, "model.args.backbone=test_resnet",
                             "data.loader.batch_size=8", "trainer.limit_train_batches=4")),
        "action": _train(quick("action_quick.json", action_videos)),
    }


def _best_model(run):
    model = build_model(run["cfg"], load_weights_from_config=False)
    model.load_state_dict(load_checkpoint(run["models"] / "model_best.pth")["model"])
    return model.eval()


def _check_png(path, min_size=(200, 150)):
    with Image.open(path) as im:
        im.verify()
    rgb = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert rgb is not None and rgb.shape[1] >= min_size[0] and rgb.shape[0] >= min_size[1], path
    assert rgb.std() > 10, f"{path} is blank"  # something is drawn
    return rgb.shape[:2]


FIGURES = {"wrinkle": ["curves", "samples"],
           "mask": ["curves", "samples", "val_confusion_matrix", "val_mask_confusion_matrix",
                    "val_gender_confusion_matrix", "val_age_confusion_matrix"],
           "action": ["curves", "samples", "val_confusion_matrix"]}


@pytest.mark.parametrize("family", FIGURES)
def test_training_ends_with_report_pngs_and_the_same_images_in_tensorboard(runs, family):
    log_dir = runs[family]["log"]
    assert sorted(p.stem for p in (log_dir / "report").glob("*.png")) == sorted(FIGURES[family])
    events = EventAccumulator(str(log_dir), size_guidance={"images": 0}).Reload()
    last_step = pd.read_csv(log_dir / "metrics.csv")["step"].iloc[-1]
    for name in FIGURES[family]:
        h, w = _check_png(log_dir / "report" / f"{name}.png")
        (image,) = events.Images(f"report/{name}")  # once, at the end, not per batch
        assert (image.height, image.width) == (h, w) and image.step == last_step


@pytest.mark.parametrize("family", ["wrinkle", "mask"])
def test_the_curves_are_metrics_csv_with_the_best_epoch_marked(runs, family):
    run = runs[family]
    table = pd.read_csv(run["log"] / "metrics.csv")
    monitor = run["summary"]["monitor"]
    fig, _ = curves_figure(read_metrics_csv(run["log"] / "metrics.csv"), monitor, "max")
    drawn, best = {}, []
    for ax in fig.axes:
        for line in ax.get_lines():
            label = line.get_label()
            if label.startswith("best"):
                best.append((ax.get_title(), *line.get_xydata()[0]))
            else:
                drawn[label] = (ax.get_title(), line.get_xdata(), line.get_ydata())
    expected = [c for c in table.columns if "/" in c and c.split("/")[0] in ("train", "val")
                and not c.split("/")[1].startswith("loss_")]
    assert sorted(drawn) == sorted(expected)
    for column, (title, x, y) in drawn.items():
        assert title == column.split("/", 1)[1]  # train/loss and val/loss share the 'loss' plot, and so on
        assert np.array_equal(x, table["epoch"]) and np.allclose(y, table[column], rtol=1e-6)
    summary = run["summary"]
    assert best == [(monitor.split("/")[1], summary["best_epoch"], pytest.approx(summary["best"], rel=1e-5))]


@pytest.mark.parametrize("family", ["mask", "action"])
def test_the_classification_grid_captions_are_the_models_predictions(runs, family):
    run = runs[family]
    cfg = run["cfg"]
    model, dataset, inferer = _best_model(run), build_dataset(cfg, "val"), build_inferer(cfg)
    n = 4
    batch = [dataset[i] for i in range(n)]
    with torch.no_grad():
        out = inferer(model, torch.stack([s["input"] for s in batch]))  # batched, unlike the grid
    if family == "mask":
        heads = dataset.head_classes  # age with its bins spelled out
        truth = {h: [int(s["target"][h]) for s in batch] for h in heads}
    else:
        heads, out = {None: dataset.classes}, {None: out}
        truth = {None: [int(s["target"]) for s in batch]}
    expected = [[((f"{h}: " if h else "") + f"{names[truth[h][i]]} / {names[int(out[h][i].argmax())]}",
                  "red" if truth[h][i] != int(out[h][i].argmax()) else "forestgreen")
                 for h, names in heads.items()] for i in range(n)]

    fig, records = sample_grid(model, dataset, inferer, torch.device("cpu"), build_metrics(cfg), n)
    drawn = [[(t.get_text(), t.get_color()) for t in ax.texts] for ax in fig.axes if ax.images]
    assert drawn == expected
    assert [[line["text"] for line in r["lines"]] for r in records] == [[t for t, _ in e] for e in expected]
    # ... and the grid written at the end of training is this one, drawn with the best model.
    assert np.array_equal(figure_to_array(fig), np.asarray(Image.open(run["log"] / "report/samples.png")))


def test_the_segmentation_grid_shows_the_image_the_true_and_the_predicted_mask(runs):
    run = runs["wrinkle"]
    cfg = run["cfg"]
    model, dataset, inferer = _best_model(run), build_dataset(cfg, "val"), build_inferer(cfg)
    fig, records = sample_grid(model, dataset, inferer, torch.device("cpu"), build_metrics(cfg), 3)
    assert len(records) == 3 and len(fig.axes) == 9  # a row of three panels per sample
    for i, record in enumerate(records):
        assert [ax.get_title() for ax in fig.axes[3 * i:3 * i + 2]] == [dataset.items[i][0].stem, "true"]
        sample = dataset[i]
        # The picture is the input with Normalize undone: the image file itself.
        original = cv2.cvtColor(cv2.imread(str(dataset.items[i][0])), cv2.COLOR_BGR2RGB)
        shown = to_uint8(picture(sample["input"]), find_normalize(dataset.transform))
        assert np.abs(shown.astype(int) - original).max() <= 1
        with torch.no_grad():
            pred = (torch.sigmoid(inferer(model, sample["input"][None]))[0, 0] >= 0.5).numpy()
        true = sample["target"].numpy() > 0.5
        tp, fp, fn = (pred & true).sum(), (pred & ~true).sum(), (~pred & true).sum()
        assert record["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
        assert fig.axes[3 * i + 2].get_title() == f"predicted (F1 {record['f1']:.2f})"


def test_a_clip_is_shown_by_its_middle_frame():
    clip = torch.arange(5.0)[:, None, None, None].expand(5, 3, 4, 4)  # TCHW, frame t filled with t
    assert picture(clip, "TCHW").unique().tolist() == [2.0]
    assert picture(clip.permute(1, 0, 2, 3), "CTHW").unique().tolist() == [2.0]
    views = torch.stack([clip.permute(1, 0, 2, 3), -clip.permute(1, 0, 2, 3)])  # a multi-view sample: the first
    assert picture(views, "CTHW").unique().tolist() == [2.0]


def test_test_py_writes_the_grid_and_the_confusion_matrix(runs, tmp_path):
    run = runs["action"]
    report = run_test(run["cfg"], run["models"] / "model_best.pth", out_dir=tmp_path / "on", device="cpu")
    for name in ("samples", "confusion_matrix"):
        _check_png(tmp_path / "on" / f"{name}.png")
    assert str(tmp_path / "on" / "samples.png") in json.loads((tmp_path / "on/metrics.json").read_text())["outputs"]
    assert report["split"] == "test"
    off = apply_overrides(run["cfg"], ["trainer.report=false"])
    run_test(off, run["models"] / "model_best.pth", out_dir=tmp_path / "off", device="cpu")
    assert not (tmp_path / "off/samples.png").exists() and (tmp_path / "off/confusion_matrix.png").exists()


def test_the_report_option_is_checked_and_can_be_turned_off(action_videos, tmp_path):
    with pytest.raises(ConfigError, match="trainer.report_samples: must be >= 1"):
        TrainerOptions.from_config({"report_samples": 0})
    with pytest.raises(ConfigError, match="trainer.report: expected"):
        TrainerOptions.from_config({"report": "yes"})
    cfg = apply_overrides(load_config(REPO / "configs/action_quick.json"), [
        f"data.dataset.args.root={action_videos}", f"trainer.save_dir={tmp_path}", *COMMON, "trainer.epochs=1",
        "trainer.report=false"])
    trainer, _ = run_training(cfg)
    assert (trainer.paths.log / "metrics.csv").is_file() and not (trainer.paths.log / "report").exists()
