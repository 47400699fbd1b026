"""What a user does with the partitioned model: train the parts, evaluate model_merged.pth with test.py,
compare it with a whole-face run in one table."""
import copy
import json

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score

import train
from commands import test_cli
from conftest import REPO, TINY_MODEL, tiny_config
from data_loader.face_regions import FaceRegions
from tools import compare_runs, train_parts
from utils.config import apply_overrides, load_config

PARTS = ["forehead", "left_crows_feet"]  # the densest part and a small one
EPOCHS = 8  # enough for the tiny U-Net to learn the forehead wrinkles


def parts_config(root, save_dir):
    cfg = load_config(REPO / "configs/wrinkle_partitioned.json")
    cfg["model"] = copy.deepcopy(TINY_MODEL)
    return apply_overrides(cfg, [f"data.dataset.args.root={root}", f"trainer.save_dir={save_dir}", "device=cpu",
                                 "data.loader.num_workers=0", "data.loader.batch_size=4", f"trainer.epochs={EPOCHS}",
                                 "trainer.progress=none", "trainer.tensorboard=false",
                                 "trainer.train_metrics=false"])


@pytest.fixture(scope="module")
def runs(one_thread, wrinkle_root, tmp_path_factory):
    """Two parts trained and merged, a whole-face run, and test.py on both."""
    tmp = tmp_path_factory.mktemp("parts")
    cfg = parts_config(wrinkle_root, tmp / "saved")
    (tmp / "parts.json").write_text(json.dumps(cfg))
    assert train_parts.main(["--config", str(tmp / "parts.json"), *sum((["--part", p] for p in PARTS), [])]) == 0
    (experiment,) = (tmp / "saved/models/wrinkle_partitioned").iterdir()
    assert test_cli.main(["--checkpoint", str(experiment / "model_merged.pth"), "--out", str(tmp / "merged")]) == 0

    whole = tiny_config(wrinkle_root, tmp / "saved", "trainer.epochs=1", "trainer.limit_train_batches=1")
    (tmp / "whole.json").write_text(json.dumps(whole))
    assert train.main(["--config", str(tmp / "whole.json")]) == 0
    (whole_run,) = (tmp / "saved/models/wrinkle_quick").iterdir()
    assert test_cli.main(["--checkpoint", str(whole_run / "model_best.pth"), "--out", str(tmp / "whole")]) == 0
    return tmp, experiment


def test_each_part_is_a_normal_run_of_its_own(runs):
    tmp, experiment = runs
    for part in PARTS:
        run_dir = experiment / part
        assert (run_dir / "model_best.pth").is_file() and (run_dir / "model_last.pth").is_file()
        assert json.loads((run_dir / "config.json").read_text())["data"]["train"]["dataset"]["args"]["part"] == part
        log_dir = tmp / "saved/log/wrinkle_partitioned" / experiment.name / part
        assert "val/f1" in (log_dir / "metrics.csv").read_text().splitlines()[0]
    assert not (experiment / "right_cheek").exists()  # only the parts asked for


def test_the_merged_checkpoint_holds_each_parts_best_weights(runs):
    _, experiment = runs
    merged = torch.load(experiment / "model_merged.pth", weights_only=True)  # plain data only
    assert merged["config"]["model"]["type"] == "PartitionedSegmenter"
    assert list(merged["config"]["model"]["args"]["models"]) == PARTS
    for part in PARTS:
        best = torch.load(experiment / part / "model_best.pth", weights_only=True)["model"]
        for key, value in best.items():
            assert torch.equal(merged["model"][f"models.{part}.{key}"], value)
    assert merged["config"]["data"]["test"]["dataset"]["args"]["part"] is None  # evaluated on whole images


def test_test_py_scores_the_merged_map_like_a_whole_face_model(runs, wrinkle_root):
    tmp, experiment = runs
    merged = json.loads((tmp / "merged/metrics.json").read_text())
    whole = json.loads((tmp / "whole/metrics.json").read_text())
    assert list(merged["metrics"]) == list(whole["metrics"]) and merged["samples"] == whole["samples"] == 4
    regions = FaceRegions.from_spec(load_config(REPO / "configs/wrinkle_partitioned.json")
                                    ["data"]["dataset"]["args"]["regions"])
    preds, truths = [], []
    for image in sorted((wrinkle_root / "test/images").iterdir()):
        h, w = cv2.imread(str(image)).shape[:2]
        prob = np.load(tmp / "merged/npy" / f"{image.stem}.npy")
        assert prob.shape == (h, w)
        covered = np.zeros((h, w), bool)
        for part in PARTS:
            r0, r1, c0, c1, inside = regions.locate(size=(h, w))[part].paste_area(h, w)
            covered[r0:r1, c0:c1] |= inside
        assert (prob[~covered] == 0).all() and (prob[covered] > 0).all()  # zero outside the trained parts' regions
        assert (tmp / "merged/parts" / f"{image.stem}_parts.png").is_file()
        png = cv2.imread(str(tmp / "merged/png" / f"{image.stem}.png"), cv2.IMREAD_GRAYSCALE)
        assert np.array_equal(png, (prob >= 0.5).astype(np.uint8) * 255)  # the merged mask, thresholded
        preds.append((prob >= 0.5).ravel())
        truths.append((cv2.imread(str(wrinkle_root / "test/masks" / f"{image.stem}.png"), 0) > 0).ravel())
    assert merged["metrics"]["f1"] == pytest.approx(f1_score(np.concatenate(truths), np.concatenate(preds)), rel=1e-9)


def test_inside_its_region_the_merged_map_is_the_part_models_prediction_on_its_crop(runs, wrinkle_root):
    from data_loader.wrinkle_parts import WrinklePartDataset
    from trainer import build as B

    tmp, experiment = runs
    part_cfg = load_config(experiment / "forehead/config.json")
    model = B.build_model(part_cfg, load_weights_from_config=False).eval()
    model.load_state_dict(torch.load(experiment / "forehead/model_best.pth", weights_only=True)["model"])
    ds = B.build_dataset(part_cfg, "test")
    assert isinstance(ds, WrinklePartDataset)
    sample = ds[0]
    x = sample["input"][None]
    h, w = x.shape[-2:]
    with torch.no_grad():  # the crop padded to the encoder's divisor by repeating its last row / column
        prob = torch.sigmoid(model(F.pad(x, (0, -w % 32, 0, -h % 32), mode="replicate")))[0, 0, :h, :w].numpy()
    x0, y0, x1, y1 = sample["meta"]["crop_box"].tolist()
    merged = np.load(tmp / "merged/npy" / f"{ds.items[0][0].stem}.npy")
    full_h, full_w = merged.shape
    r0, r1, c0, c1, inside = ds.regions.locate(size=(full_h, full_w))["forehead"].paste_area(full_h, full_w)
    other = ds.regions.locate(size=(full_h, full_w))["left_crows_feet"].paste_area(full_h, full_w)
    assert other[0] >= r1  # the two parts do not overlap here, so the max rule keeps forehead's values
    assert np.allclose(merged[r0:r1, c0:c1][inside], prob[r0 - y0:r1 - y0, c0 - x0:c1 - x0][inside], atol=1e-5)


def test_a_part_model_learns_its_region(runs):
    """The forehead model beats its untrained self and the all-wrinkle guess on the validation crops."""
    from trainer import build as B
    from trainer.evaluator import evaluate
    from utils.seed import seed_everything

    tmp, experiment = runs
    part_cfg = load_config(experiment / "forehead/config.json")
    seed_everything(part_cfg["seed"])
    untrained = B.build_model(part_cfg)  # the initial weights of the run (run_training seeds the same way)
    dataset, loader = B.build_data(part_cfg, "val", torch.device("cpu"))
    before = evaluate(untrained, loader, torch.device("cpu"), inferer=B.build_inferer(part_cfg),
                      metrics=B.build_metrics(part_cfg), progress="none")["val/f1"]
    pos, labelled = dataset.pixel_counts()
    guess = 2 * pos / (labelled + pos)  # F1 of calling every labelled pixel of the crops a wrinkle
    best = torch.load(experiment / "forehead/model_best.pth", weights_only=True)["monitor"]["best"]
    assert best > max(0.35, before + 0.15, 3 * guess), (best, before, guess)


def test_compare_runs_prints_both_methods_in_one_table(runs, capsys):
    tmp, _ = runs
    assert compare_runs.main([str(tmp / "whole/metrics.json"), str(tmp / "merged/metrics.json"),
                              "--labels", "whole-face", "partitioned", "--digits", "6"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    merged = json.loads((tmp / "merged/metrics.json").read_text())
    assert header[:3] == ["run", "split", "samples"] and header[3:] == list(merged["metrics"])
    row = [c.strip() for c in lines[3].strip("|").split("|")]
    assert row[0] == "partitioned" and row[1] == "test"
    assert [float(v) for v in row[3:]] == pytest.approx(list(merged["metrics"].values()), abs=1e-6)


def test_bad_part_requests_are_refused_before_training(runs, capsys):
    tmp, experiment = runs
    cfg = str(tmp / "parts.json")
    assert train_parts.main(["--config", cfg, "--part", "chin"]) == 2
    assert "--part chin: not a region" in capsys.readouterr().err
    assert train_parts.main(["--config", cfg, "--experiment", experiment.name, "--part", "forehead"]) == 2
    assert "already has ['forehead']" in capsys.readouterr().err
    assert train_parts.main(["--config", cfg, "--merge-only"]) == 2
    assert "--merge-only needs --experiment" in capsys.readouterr().err


def test_compare_runs_marks_missing_metrics_and_names_bad_files(tmp_path, capsys):
    a = {"split": "test", "samples": 3, "metrics": {"f1": 0.5, "iou": 0.25}, "checkpoint": "x/run1/model_best.pth"}
    b = {"split": "val", "samples": 2, "metrics": {"f1": 0.75, "dice": 0.1}, "checkpoint": "x/run2/model_merged.pth"}
    for name, report in (("a.json", a), ("b.json", b)):
        (tmp_path / name).write_text(json.dumps(report))
    assert compare_runs.main([str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "| run | split | samples | f1 | iou | dice |",
        "|---|---|---|---:|---:|---:|",
        "| x/run1/model_best.pth | test | 3 | 0.5000 | 0.2500 | - |",
        "| x/run2/model_merged.pth | val | 2 | 0.7500 | - | 0.1000 |"]
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(SystemExit, match="no 'metrics' mapping"):
        compare_runs.main([str(tmp_path / "bad.json")])


@pytest.mark.parametrize("normalize", [{"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.2, 0.25]}, None])
def test_the_merged_model_undoes_the_evaluation_normalisation(tmp_path, normalize):
    """A landmark detector inside the merged model must see the image as it was (none = divided by 255)."""
    cfg = parts_config(tmp_path, tmp_path)
    blocks = [b for b in cfg["data"]["val"]["transform"] if b["type"] != "Normalize"]
    if normalize:
        blocks.insert(-1, {"type": "Normalize", "args": normalize})
    cfg["data"]["val"]["transform"] = blocks
    regions = train_parts.regions_spec(cfg)
    merged = train_parts.merged_config(cfg, regions, {p: TINY_MODEL for p in regions["parts"]}, "x")
    args = merged["model"]["args"]
    assert args["input_mean"] == (normalize or {}).get("mean", [0.0] * 3)
    assert args["input_std"] == (normalize or {}).get("std", [1.0] * 3)
    assert args["max_pixel_value"] == 255.0
