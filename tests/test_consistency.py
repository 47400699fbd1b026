"""One truth from validation to deployment. For every family (and any labelled image set), on images whose sizes are not
multiples of 32: the validation score logged for the best epoch equals test.py's score on the same
split with the same weights (at the validation batch size and at batch size 1); test.py's saved
predictions equal the predictor's and those of the exported ONNX file used from its metadata alone;
EMA, SWA and plain weights are each evaluated as named."""
import csv
import json

import av
import cv2
import numpy as np
import pandas as pd
import pytest

from commands import test_cli
from conftest import REPO, tiny_config
from deploy.predictor import Predictor
from export_client import ExportClient
from tiny_checkpoints import TEST_RESNET, tiny_checkpoint
from tools import export
from trainer.training import run_training
from utils.config import apply_overrides, load_config

pytestmark = pytest.mark.usefixtures("one_thread")
VAL_BS = 3  # the validation batch size of the runs: mixes image sizes in one batch


def logged(trainer, epoch=None):
    """metrics.csv's values of `epoch` (default: the best; SWA's results come in a row of their own)."""
    epoch = epoch or trainer.best_epoch
    with open(trainer.paths.log / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["epoch"] == str(epoch)]
    return {k: float(v) for r in rows for k, v in r.items() if v not in ("", None)}


def run_test_py(ckpt, out, *args):
    """test.py on `ckpt` into `out`; its metrics.json."""
    assert test_cli.main(["--checkpoint", str(ckpt), "--out", str(out), *args]) == 0
    return json.loads((out / "metrics.json").read_text())


def exported(ckpt, out, *args):
    assert export.main(["--checkpoint", str(ckpt), "--out", str(out), "--no-check", *args]) == 0
    return ExportClient(out)


def rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def same_scores(test, row, prefix, keys, tol=1e-6):
    """metrics.csv keeps 6 significant digits: equal to that, and within `tol`."""
    for key in keys:
        assert test["metrics"][key] == pytest.approx(row[f"{prefix}/{key}"], rel=1e-5, abs=tol), key


def scores_agree_at_both_batch_sizes(trainer, tmp, table, index):
    """test.py on the val split of the best checkpoint at the validation batch size and at 1: every
    logged val/* score of the best epoch, and the per-sample table it writes, agree. Returns the tables."""
    row, tables = logged(trainer), {}
    for bs in (VAL_BS, 1):
        test = run_test_py(trainer.paths.models / "model_best.pth", tmp / f"val_{bs}", "--split", "val",
                           "--bs", str(bs))
        keys = [k.split("/", 1)[1] for k in row if k.startswith("val/")]
        same_scores(test, row, "val", keys, 1e-6 if bs == VAL_BS else 1e-4)
        tables[bs] = pd.read_csv(tmp / f"val_{bs}/{table}", dtype={index: str}).set_index(index)
    numbers = tables[1].select_dtypes("number").columns
    np.testing.assert_allclose(tables[1][numbers].to_numpy(np.float64), tables[VAL_BS][numbers].to_numpy(np.float64),
                               atol=1e-5)
    return tables


# ----------------------------------------------------------------------------- wrinkles
@pytest.fixture(scope="module")
def wrinkle_run(wrinkle_root, tmp_path_factory):
    """EMA monitored (at the best threshold), SWA over the last epoch: three kinds of weights."""
    tmp = tmp_path_factory.mktemp("wrinkle_consistency")
    cfg = tiny_config(wrinkle_root, tmp / "saved", "trainer.epochs=2", "trainer.ema={decay: 0.5}",
                      "trainer.swa={start_epoch: 2}", "trainer.monitor=max val_ema/f1_best",
                      "metrics.0.args.tune_threshold=true", f"data.val.loader.batch_size={VAL_BS}",
                      "optimizer.args.lr=0.01")
    trainer, _ = run_training(cfg)
    return trainer, tmp


def test_wrinkle_scores_agree_for_each_kind_of_weights(wrinkle_run, wrinkle_root):
    trainer, tmp = wrinkle_run
    best, swa = trainer.paths.models / "model_best.pth", trainer.paths.models / "model_swa.pth"
    row, last = logged(trainer), logged(trainer, 2)
    for which, prefix, ckpt, source in (("auto", "val_ema", best, row), ("model", "val", best, row),
                                        ("auto", "val_swa", swa, last)):
        maps = {}
        for bs in (VAL_BS, 1):
            out = tmp / f"{prefix}_{bs}"
            test = run_test_py(ckpt, out, "--split", "val", "--weights", which, "--bs", str(bs))
            assert test["weights"] == {"val": "model", "val_ema": "ema", "val_swa": "swa"}[prefix]
            # the threshold the run stored (the best of the grid) is the one test.py uses
            assert test["threshold"] == source[f"{prefix}/threshold_best"] and "stored" in test["threshold_source"]
            tol = 1e-6 if bs == VAL_BS else 2e-3  # batch size 1: same maps, float rounding only
            same_scores(test, source, prefix, ["f1_best", "threshold_best", "loss"], tol)
            assert test["metrics"]["f1"] == pytest.approx(source[f"{prefix}/f1_best"], abs=tol)
            maps[bs] = {p.stem: np.load(p) for p in sorted((out / "npy").glob("*.npy"))}
            png = cv2.imread(str(next((out / "png").glob("*.png"))), cv2.IMREAD_GRAYSCALE)
            name = next((out / "png").glob("*.png")).stem
            assert np.array_equal(png > 0, maps[bs][name] >= test["threshold"])  # masks at the same threshold
        assert maps[VAL_BS].keys() == maps[1].keys() and len(maps[1]) == 4
        for name in maps[1]:  # predictions never depend on what an image was batched with
            assert np.abs(maps[VAL_BS][name] - maps[1][name]).max() < 1e-5


def test_wrinkle_predictions_agree_from_test_py_to_the_exported_file(wrinkle_run, wrinkle_root):
    trainer, tmp = wrinkle_run
    best = trainer.paths.models / "model_best.pth"
    out = tmp / "val_ema_1"  # test.py's maps of the test above (best weights, EMA)
    if not out.exists():
        run_test_py(best, out, "--split", "val", "--bs", "1")
    threshold = json.loads((out / "metrics.json").read_text())["threshold"]
    predictor = Predictor.from_checkpoint(best)
    client = exported(best, tmp / "w.onnx")
    assert predictor.threshold == client.meta["threshold"] == threshold
    for image in sorted((wrinkle_root / "val/images").glob("*")):
        photo = rgb(image)
        assert photo.shape[0] % 32 and photo.shape[1] % 32
        saved = np.load(out / "npy" / f"{image.stem}.npy")
        served = predictor.predict_wrinkles(photo)
        np.testing.assert_allclose(served.probability, saved, atol=1e-5)
        assert served.area_fraction == pytest.approx((saved >= threshold).mean())
        np.testing.assert_allclose(client.wrinkle_probability(photo), saved, atol=1e-4)


def test_wrinkle_tta_averages_the_flipped_view_back_in_place(wrinkle_run, wrinkle_root):
    trainer, tmp = wrinkle_run
    best = trainer.paths.models / "model_best.pth"
    tta = "inference={type: TTA, args: {views: [identity, hflip], divisor: 32}}"
    test = run_test_py(best, tmp / "tta", "--split", "val", "-o", tta)
    plain = json.loads((tmp / "val_ema_1/metrics.json").read_text())["metrics"]
    assert test["metrics"]["f1"] > 0.5 * plain["f1"]  # not the empty maps of a softmax over the width
    predictor = Predictor.from_checkpoint(best)
    for image in sorted((wrinkle_root / "val/images").glob("*"))[:2]:
        photo = rgb(image)
        direct = predictor.predict_wrinkles(photo).probability
        flipped = predictor.predict_wrinkles(np.ascontiguousarray(photo[:, ::-1])).probability[:, ::-1]
        np.testing.assert_allclose(np.load(tmp / "tta/npy" / f"{image.stem}.npy"), (direct + flipped) / 2,
                                   atol=1e-5)


def test_swa_weights_are_only_served_from_the_swa_file(wrinkle_run, capsys):
    trainer, _ = wrinkle_run
    assert test_cli.main(["--checkpoint", str(trainer.paths.models / "model_best.pth"), "--weights", "swa",
                          "--split", "val"]) == 2
    assert "only model_swa.pth holds SWA weights" in capsys.readouterr().err
    swa = Predictor.from_checkpoint(trainer.paths.models / "model_swa.pth")
    ema = Predictor.from_checkpoint(trainer.paths.models / "model_best.pth")
    x = swa.example_input(1)
    assert not np.allclose(swa.raw_outputs(x)["logits"], ema.raw_outputs(x)["logits"])  # other weights


# ----------------------------------------------------------------------------- partitioned wrinkles
def test_the_merged_part_model_agrees_across_batch_sizes_predictor_and_export(wrinkle_root, tmp_path):
    ckpt = tiny_checkpoint("partitioned", tmp_path / "model_merged.pth", f"data.dataset.args.root={wrinkle_root}")
    maps = {}
    for bs in (VAL_BS, 1):
        test = run_test_py(ckpt, tmp_path / f"bs{bs}", "--split", "val", "--bs", str(bs))
        maps[bs] = {p.stem: np.load(p) for p in (tmp_path / f"bs{bs}/npy").glob("*.npy")}
        assert test["samples"] == 4
    predictor = Predictor.from_checkpoint(ckpt)
    first = sorted((wrinkle_root / "val/images").glob("*"))[0]
    photo = rgb(first)
    client = exported(ckpt, tmp_path / "m.onnx", "--input-size", *map(str, photo.shape[:2]))
    for name in maps[1]:
        assert np.abs(maps[VAL_BS][name] - maps[1][name]).max() < 1e-5
        photo_n = rgb(wrinkle_root / "val/images" / f"{name}.jpg")
        np.testing.assert_allclose(predictor.predict_wrinkles(photo_n).probability, maps[1][name], atol=1e-5)
    np.testing.assert_allclose(client.wrinkle_probability(photo), maps[1][first.stem], atol=1e-4)


# ----------------------------------------------------------------------------- face attributes
FACE = {"face_heads": ("configs/mask_multihead_quick.json", ["mask", "gender", "age"]),
        "face_18": ("configs/mask_single18.json", ["logits"])}


@pytest.fixture(scope="module", params=list(FACE))
def face_run(request, mask_root, tmp_path_factory):
    base, outputs = FACE[request.param]
    tmp = tmp_path_factory.mktemp(request.param)
    cfg = apply_overrides(load_config(REPO / base), [
        f"data.dataset.args.root={mask_root}", f"trainer.save_dir={tmp / 'saved'}", "device=cpu", TEST_RESNET,
        "data.loader.num_workers=0", "data.loader.batch_size=8", f"data.val.loader.batch_size={VAL_BS}",
        "trainer.epochs=1", "trainer.progress=none", "trainer.tensorboard=false", "trainer.report=false",
        "data.val.transform.1.args={height: 90, width: 70}"])  # 90x70: no multiple of 32
    cfg["data"]["train"]["transform"][1]["args"] = {"height": 90, "width": 70}
    trainer, _ = run_training(cfg)
    return trainer, tmp, outputs


def test_face_scores_and_probabilities_agree(face_run, mask_root):
    trainer, tmp, outputs = face_run
    best = trainer.paths.models / "model_best.pth"
    probs = scores_agree_at_both_batch_sizes(trainer, tmp, "predictions.csv", "path")
    predictor = Predictor.from_checkpoint(best)
    client = exported(best, tmp / "f.onnx")
    dataset = trainer.val_loader.dataset
    for i in range(3):
        photo = rgb(dataset.paths[i])
        saved = probs[1].loc[str(dataset.image_ids[i])]
        served = predictor.predict_image(photo)
        for head, n in (("mask", 3), ("gender", 2), ("age", 3), ("class", 18)):
            columns = [c for c in saved.index if c.startswith(f"{head}_prob_")]
            assert len(columns) == n
            np.testing.assert_allclose(list(served[head].values()), saved[columns].to_numpy(np.float64), atol=1e-5)
        got = client.class_probabilities(photo)
        for name in outputs:
            ref = served[name] if name != "logits" else served["class"]
            np.testing.assert_allclose(got[name], list(ref.values()), atol=1e-4)


# ----------------------------------------------------------------------------- any labelled image set
@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    from samples.face_crops import generate_face_crops

    tmp = tmp_path_factory.mktemp("image_heads")
    root = generate_face_crops(tmp / "face_crops")
    cfg = apply_overrides(load_config(REPO / "configs/image_multihead_quick.json"), [
        f"data.dataset.args.root={root}", f"trainer.save_dir={tmp / 'saved'}", "device=cpu", TEST_RESNET,
        "data.loader.num_workers=0", f"data.val.loader.batch_size={VAL_BS}", "trainer.epochs=1",
        "trainer.limit_train_batches=4", "trainer.progress=none", "trainer.tensorboard=false",
        "trainer.report=false", "data.val.transform.0.args={height: 30, width: 38}",  # no multiple of 32
        "data.train.transform.0.args={height: 30, width: 38}"])
    trainer, _ = run_training(cfg)
    return trainer, tmp, root


def test_image_table_scores_and_probabilities_agree(image_run):
    trainer, tmp, root = image_run
    best = trainer.paths.models / "model_best.pth"
    table = scores_agree_at_both_batch_sizes(trainer, tmp, "predictions.csv", "path")[1]
    predictor = Predictor.from_checkpoint(best)
    client = exported(best, tmp / "i.onnx")
    assert client.meta["inference"]["args"]["views"] == ["identity", "zoom1.1"]
    for path in table.index[:3]:
        photo = rgb(root / path)
        served = predictor.predict_image(photo)
        got = client.class_probabilities(photo)
        for head, probs in served.items():
            saved = table.loc[path, [f"{head}_prob_{name}" for name in probs]].to_numpy(np.float64)
            np.testing.assert_allclose(list(probs.values()), saved, atol=1e-5)
            np.testing.assert_allclose(got[head], saved, atol=1e-4)


# ----------------------------------------------------------------------------- action
ACTION = {"action_3d": "configs/action_quick.json", "action_2d": "configs/action_frame2d_quick.json"}


@pytest.fixture(scope="module", params=list(ACTION))
def action_run(request, action_videos, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    cfg = apply_overrides(load_config(REPO / ACTION[request.param]), [
        f"data.dataset.args.root={action_videos}", f"trainer.save_dir={tmp / 'saved'}", "device=cpu",
        "data.loader.num_workers=0", "data.loader.batch_size=4", f"data.val.loader.batch_size={VAL_BS}",
        "trainer.epochs=1", "trainer.progress=none", "trainer.tensorboard=false", "trainer.report=false"])
    trainer, _ = run_training(cfg)
    return trainer, tmp


def test_action_scores_and_probabilities_agree(action_run, action_videos):
    trainer, tmp = action_run
    best = trainer.paths.models / "model_best.pth"
    tables = scores_agree_at_both_batch_sizes(trainer, tmp, "predictions.csv", "clip")
    prob = [c for c in tables[1].columns if c.startswith("prob_")]
    predictor = Predictor.from_checkpoint(best)
    client = exported(best, tmp / "a.onnx")
    for clip, path in tables[1]["path"].items():
        served = predictor.predict_video(path)["action"]
        np.testing.assert_allclose(list(served.values()), tables[1].loc[clip, prob].to_numpy(np.float64), atol=1e-5)
        with av.open(path) as video:
            frames = np.stack([f.to_ndarray(format="rgb24") for f in video.decode(video=0)])
        np.testing.assert_allclose(client.video_probabilities(frames), list(served.values()), atol=1e-4)


def test_a_tuned_or_overridden_threshold_travels_to_masks_predictor_and_export(wrinkle_run, tmp_path):
    import shutil

    from utils.checkpoint import load_checkpoint

    trainer, _ = wrinkle_run
    ckpt = shutil.copy(trainer.paths.models / "model_best.pth", tmp_path / "model_best.pth")
    # a threshold changed on the command line scores the metrics and writes the masks
    test = run_test_py(ckpt, tmp_path / "t03", "--split", "val", "-o", "metrics.0.args.threshold=0.3")
    assert test["threshold"] == 0.3 and "overridden" in test["threshold_source"]
    for png in (tmp_path / "t03/png").glob("*.png"):
        prob = np.load(tmp_path / "t03/npy" / f"{png.stem}.npy")
        assert np.array_equal(cv2.imread(str(png), cv2.IMREAD_GRAYSCALE) > 0, prob >= 0.3)
    # --tune-threshold never rewrites the checkpoint it evaluates: its choice goes into a copy the user names,
    # and everything pointed at the copy uses it
    before, copy = open(ckpt, "rb").read(), tmp_path / "tuned.pth"
    tuned = run_test_py(ckpt, tmp_path / "tuned", "--split", "val", "--tune-threshold", "--weights", "model",
                        "--tuned-checkpoint", str(copy))
    assert open(ckpt, "rb").read() == before and tuned["tuned_checkpoint"] == str(copy)
    stored = load_checkpoint(copy)["decisions"]["model"]
    assert stored["threshold"] == tuned["threshold"] and "--tune-threshold" in stored["source"]
    again = run_test_py(copy, tmp_path / "again", "--split", "val", "--weights", "model")
    assert again["threshold"] == tuned["threshold"] and again["metrics"]["f1"] == pytest.approx(tuned["metrics"]["f1"])
    predictor = Predictor.from_checkpoint(copy, weights="model")
    assert predictor.threshold == tuned["threshold"]
    assert json.loads(predictor.metadata()["threshold"]) == tuned["threshold"]  # what the export writes
