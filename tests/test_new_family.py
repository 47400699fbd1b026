"""A task family nobody shipped, defined in this file alone - its dataset, model, metric and the Family that
says what the application does with it - and named by the config's `imports`: it trains (train.py), is
evaluated (test.py), predicts (the Predictor), exports (tools/export.py) and folds (tools/kfold.py) through
the public entry points, with no other file changed."""
import json
from typing import Optional

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

import train
from base import BaseDataset, Metric
from commands import test_cli
from data_loader.folds import fold_part
from data_loader.transforms import image_tensor
from deploy.predictor import Predictor
from deploy.preprocessing import apply
from families.base import Family, concat_folds
from tools import export, kfold
from utils.registry import DATASETS, FAMILIES, METRICS, MODELS, takes_classes

pytestmark = pytest.mark.usefixtures("one_thread")
SIDES = ["left", "right"]
SPLITS = {"train": range(0, 16), "val": range(16, 24), "test": range(24, 30)}


def spot(key, size=16):
    """An RGB image of noise with a bright square on the left or the right half (label key % 2)."""
    rng = np.random.default_rng(key)
    image = rng.integers(0, 80, (size, size, 3), np.uint8)
    x = int(rng.integers(1, size // 2 - 5)) + (size // 2 if key % 2 else 0)
    y = int(rng.integers(1, size - 5))
    image[y:y + 4, x:x + 4] = 255
    return image


@DATASETS.register
class ToySpots(BaseDataset):
    """Which side the spot is on. Folds itself as every family's dataset does (tools/kfold.py)."""

    family = "toy_spots"
    classes = SIDES

    def __init__(self, split: str = "train", transform=None, fold: Optional[int] = None, n_folds: int = 5,
                 split_seed: int = 0):
        super().__init__(transform)
        keys = list(SPLITS[split])
        if fold is not None and split != "test":
            pool = [*SPLITS["train"], *SPLITS["val"]]
            keys = fold_part(pool, split, fold, n_folds, split_seed, labels=[k % 2 for k in pool])
        self.keys = keys

    def __len__(self):
        return len(self.keys)

    def get(self, index):
        key = self.keys[index]
        image = spot(key)
        image = self.transform(image=image)["image"] if self.transform is not None else image
        return {"input": image_tensor(image), "target": torch.tensor(key % 2), "meta": {"path": f"spot{key}"}}


@MODELS.register
@takes_classes(num_classes="count")
class SpotNet(nn.Module):
    def __init__(self, num_classes: int, width: int = 8):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, width, 3, padding=1), nn.Linear(2 * width, num_classes)

    def forward(self, x):
        x = self.conv(x).relu().amax(2)  # (N, width, W): the strongest response of each column
        half = x.shape[-1] // 2
        return self.fc(torch.cat([x[..., :half].amax(-1), x[..., half:].amax(-1)], 1))


@METRICS.register
class SpotAccuracy(Metric):
    def __init__(self):
        super().__init__()
        self.add_state("counts", torch.zeros(2, dtype=torch.float64))  # right, all

    def update(self, outputs, targets):
        self.counts += torch.tensor([float((outputs.argmax(1) == targets).sum()), float(len(targets))],
                                    dtype=torch.float64, device=self.counts.device)

    def compute(self):
        return {"acc": float(self.counts[0] / self.counts[1].clamp(min=1))}

    def names(self):
        return ["acc"]


@FAMILIES.register(name="toy_spots")
class SpotFamily(Family):
    """A photo gets {"side": {class: probability}}; folds write predictions.csv, gathered into one table."""

    name = "toy_spots"

    def outputs(self, predictor, class_names=None):
        return ["logits"], {"logits": predictor.labels["classes"]}

    def predict(self, predictor, image):
        x = apply(predictor.transform, image)[None].to(predictor.device)
        probs = predictor.inferer(predictor.model, x).softmax(-1)[0].tolist()
        return {"side": dict(zip(predictor.class_names["logits"], probs))}

    def collect(self, cfg, folds, out_dir):
        oof = concat_folds({k: d / self.predictions for k, (_, d) in folds.items()}, "spot")
        oof.to_csv(out_dir / "oof_predictions.csv", index=False)
        return {"oof": {"f1": float((oof["label"] == oof["prediction"]).mean())}}


def config(tmp):
    transform = [{"type": "Normalize", "args": {"mean": [0.2, 0.2, 0.2], "std": [0.3, 0.3, 0.3]}},
                 {"type": "ToTensorV2"}]
    cfg = {"name": "spots", "imports": ["test_new_family"], "seed": 0, "device": "cpu",
           "data": {"dataset": {"type": "ToySpots"}, "loader": {"batch_size": 8, "num_workers": 0},
                    **{s: {"dataset": {"args": {"split": s}}, "transform": transform} for s in SPLITS}},
           "model": {"type": "SpotNet"}, "loss": {"type": "CrossEntropy"}, "metrics": [{"type": "SpotAccuracy"}],
           "optimizer": {"type": "Adam", "args": {"lr": 0.05}},
           "trainer": {"epochs": 8, "monitor": "max val/acc", "save_dir": str(tmp / "saved"), "progress": "none",
                       "tensorboard": False, "report": False},
           "test": {"writers": [{"type": "ClassPredictionWriter"}]}}
    (tmp / "spots.json").write_text(json.dumps(cfg))
    return tmp / "spots.json"


def test_a_family_defined_in_one_file_trains_tests_predicts_exports_and_folds(tmp_path):
    cfg = config(tmp_path)
    assert train.main(["--config", str(cfg)]) == 0
    (run_dir,) = (tmp_path / "saved/models/spots").iterdir()
    best = run_dir / "model_best.pth"
    assert json.loads((run_dir / "config.json").read_text())["model"]["args"]["num_classes"] == 2  # declared

    assert test_cli.main(["--checkpoint", str(best), "--out", str(tmp_path / "test")]) == 0
    report = json.loads((tmp_path / "test/metrics.json").read_text())
    table = pd.read_csv(tmp_path / "test/predictions.csv")
    assert report["split"] == "test" and report["metrics"]["acc"] >= 5 / 6  # it learnt the side
    assert table["path"].tolist() == [f"spot{k}" for k in SPLITS["test"]]

    predictor = Predictor.from_checkpoint(best)
    assert str(predictor.family) == "toy_spots"
    for key in SPLITS["test"]:  # what test.py wrote for the sample
        side = predictor.predict(spot(key))["side"]
        row = table.set_index("path").loc[f"spot{key}"]
        assert list(side.values()) == pytest.approx([row["prob_left"], row["prob_right"]], abs=1e-5)

    assert export.main(["--checkpoint", str(best), "--out", str(tmp_path / "spots.onnx")]) == 0  # checked there
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "spots.onnx")).metadata_props}
    assert meta["family"] == "toy_spots" and json.loads(meta["class_names"]) == {"logits": SIDES}

    assert kfold.main(["--config", str(cfg), "--n-folds", "2", "--out", str(tmp_path / "kfold"),
                       "-o", "trainer.epochs=2"]) == 0
    oof = pd.read_csv(tmp_path / "kfold/oof_predictions.csv")
    assert sorted(oof["path"]) == sorted(f"spot{k}" for k in [*SPLITS["train"], *SPLITS["val"]])  # each once
    assert set(oof["fold"]) == {0, 1}
