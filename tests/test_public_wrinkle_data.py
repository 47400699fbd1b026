"""The public wrinkle sets read as published (miniatures of their layouts, tests/public_layouts.py): FFHQ-Wrinkle's
manual and weak labels and its test list, the 674-mask FFHQ crop set's crops; the paper's two-stage recipe end
to end, the fine-tuning stage starting from the pretraining stage's checkpoint; bad inputs named before training."""
import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from commands import test_cli
from conftest import REPO
from data_loader.ffhq_crop_wrinkles import FFHQCropWrinkleDataset
from data_loader.ffhq_wrinkle import FFHQWrinkleDataset
from deploy.predictor import Predictor
from public_layouts import CROP_IDS, MANUAL_IDS, TEST_IDS, WEAK_ONLY_IDS, bucket
from tools import export
from trainer import build as B
from trainer import run_training
from utils.checkpoint import load_checkpoint
from utils.config import apply_overrides, load_config
from utils.errors import ConfigError, DataError

# Sizes only: a 3-stage ResNet-18 U-Net instead of the ResNet-34 at 1024x1024 (both stages alike, so the weights fit).
TINY_UNET = ["model.args.encoder_name=resnet18", "model.args.encoder_depth=3", "model.args.decoder_channels=[16,8,4]"]


def recipe(name, root, save_dir, *overrides):
    """A shipped recipe with only the data root (and sizes, one epoch of two batches) overridden."""
    return apply_overrides(load_config(REPO / "configs" / name), [
        f"data.dataset.args.root={root}", f"trainer.save_dir={save_dir}", "device=cpu", "trainer.epochs=1",
        "trainer.limit_train_batches=2", "data.loader.batch_size=2", "data.loader.num_workers=0",
        "trainer.progress=none", "trainer.tensorboard=false", "trainer.report=false", *overrides])


def names(ds):
    return sorted(ds.name_of(i) for i in range(len(ds)))


def rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def grey(path):
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def test_manual_labels_split_by_the_published_test_list(ffhq_wrinkle_root):
    train, val, test = (FFHQWrinkleDataset(ffhq_wrinkle_root, s) for s in ("train", "val", "test"))
    assert names(test) == sorted(TEST_IDS)
    assert sorted(names(train) + names(val)) == sorted(set(MANUAL_IDS) - set(TEST_IDS)) and len(val) == 1
    sample = test[0]
    i = sample["meta"]["name"]
    assert sample["meta"]["image_path"].endswith(f"masked_face_images/{i}.png")  # the faces the paper fine-tunes on
    assert torch.equal(sample["input"], torch.from_numpy(rgb(ffhq_wrinkle_root / "masked_face_images" / f"{i}.png"))
                       .permute(2, 0, 1).float() / 255)
    assert torch.equal(sample["target"], torch.from_numpy(grey(ffhq_wrinkle_root / "manual_wrinkle_masks" / f"{i}.png")
                                                          > 0).float())


def test_the_fine_tuning_input_is_the_masked_face_and_its_texture_map(ffhq_wrinkle_root):
    sample = FFHQWrinkleDataset(ffhq_wrinkle_root, "test", texture_channel=True)[0]
    i = sample["meta"]["name"]
    x = (sample["input"] * 255).round().numpy().astype(np.uint8)
    assert x.shape[0] == 4
    assert np.array_equal(x[:3].transpose(1, 2, 0), rgb(ffhq_wrinkle_root / "masked_face_images" / f"{i}.png"))
    assert np.array_equal(x[3], grey(ffhq_wrinkle_root / "weak_wrinkle_masks" / bucket(i) / f"{i}.png"))


def test_weak_labels_are_soft_maps_on_ffhq_images_without_the_manual_set(ffhq_wrinkle_root):
    train, val = (FFHQWrinkleDataset(ffhq_wrinkle_root, s, labels="weak") for s in ("train", "val"))
    assert sorted(names(train) + names(val)) == sorted(WEAK_ONLY_IDS) and len(val) == 1
    sample = train[0]
    i = sample["meta"]["name"]
    assert sample["meta"]["image_path"].endswith(f"images1024x1024/{bucket(i)}/{i}.png")
    weak = grey(ffhq_wrinkle_root / "weak_wrinkle_masks" / bucket(i) / f"{i}.png") / 255
    assert torch.allclose(sample["target"], torch.from_numpy(weak).float())
    assert ((sample["target"] > 0) & (sample["target"] < 1)).any()  # soft, not a 0/1 mask
    with pytest.raises(DataError, match="no test split"):
        FFHQWrinkleDataset(ffhq_wrinkle_root, "test", labels="weak")


def test_the_two_stage_recipe_runs_end_to_end(ffhq_wrinkle_root, tmp_path, one_thread):
    """Stage 1 regresses the weak labels; stage 2 starts from its best checkpoint through load_from (as
    shipped: the newest run of stage 1) and fine-tunes on the manual masks with the texture channel."""
    saved = tmp_path / "saved"
    pretrain, summary = run_training(recipe("wrinkle_ffhq_pretrain.json", ffhq_wrinkle_root, saved, *TINY_UNET))
    assert summary["monitor"] == "val/loss" and len(pretrain.train_loader.dataset) == len(WEAK_ONLY_IDS) - 1
    stage1 = load_checkpoint(pretrain.paths.models / "model_best.pth")["model"]

    shipped = load_config(REPO / "configs/wrinkle_ffhq_finetune.json")["load_from"]
    cfg = recipe("wrinkle_ffhq_finetune.json", ffhq_wrinkle_root, saved, *TINY_UNET,
                 f"load_from={saved}/{shipped.removeprefix('saved/')}")
    start = B.build_model(cfg).state_dict()  # what stage 2 starts from
    conv1 = "encoder.conv1.weight"
    assert start[conv1].shape[1] == 4 and stage1[conv1].shape[1] == 3
    assert torch.equal(start[conv1][:, :3], stage1[conv1]) and not start[conv1][:, 3].any()  # texture: from 0
    assert all(torch.equal(start[k], v) for k, v in stage1.items() if k != conv1)

    finetune, summary = run_training(cfg)
    assert summary["monitor"] == "val/f1_best" and summary["last_epoch"] == 1
    out = tmp_path / "test"
    assert test_cli.main(["--checkpoint", str(finetune.paths.models / "model_best.pth"), "--out", str(out),
                          "-o", "trainer.report=false"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["split"] == "test" and report["samples"] == len(TEST_IDS)
    assert sorted(p.stem for p in (out / "png").iterdir()) == sorted(TEST_IDS)
    # The export takes the four channels (checked against PyTorch by the command) and says so; a photo
    # alone cannot be predicted, and the predictor says why instead of failing in the first convolution.
    best = finetune.paths.models / "model_best.pth"
    assert export.main(["--checkpoint", str(best), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 0
    import onnx

    model = onnx.load(str(tmp_path / "m.onnx"))
    assert model.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 4
    assert {p.key: p.value for p in model.metadata_props}["color"] == "RGB + texture map"
    with pytest.raises(ConfigError, match="RGB \\+ texture map .*texture_channel"):
        Predictor.from_checkpoint(best).predict(np.zeros((64, 64, 3), np.uint8))


def test_the_crop_set_reads_each_mask_over_its_crop_of_the_ffhq_image(ffhq_crops_root):
    parts = {s: FFHQCropWrinkleDataset(ffhq_crops_root, s) for s in ("train", "val", "test")}
    assert sorted(sum((names(ds) for ds in parts.values()), [])) == sorted(CROP_IDS)
    limits = {f"{r[0]:05d}": r[1:] for r in np.load(ffhq_crops_root / "wrinkles/crop_limits.npy")}
    sample = parts["train"][0]
    i = sample["meta"]["name"]
    h0, h1, w0, w1 = limits[i]
    image = rgb(ffhq_crops_root / "images1024x1024" / bucket(i) / f"{i}.png")[h0:h1, w0:w1]
    assert torch.equal(sample["input"], torch.from_numpy(image).permute(2, 0, 1).float() / 255)
    assert torch.equal(sample["target"], torch.from_numpy(grey(ffhq_crops_root / "wrinkles" / f"final{i}.bmp") > 0)
                       .float())


def test_the_crop_recipe_trains_on_the_published_layout(ffhq_crops_root, tmp_path, one_thread):
    cfg = recipe("wrinkle_ffhq_crops.json", ffhq_crops_root, tmp_path, "model.args.encoder_depth=3",
                 "model.args.decoder_channels=[16,8,4]", "data.train.transform.0.args.min_height=32",
                 "data.train.transform.0.args.min_width=32", "data.train.transform.1.args.height=32",
                 "data.train.transform.1.args.width=32")
    trainer, summary = run_training(cfg)
    assert summary["last_epoch"] == 1 and "val/f1_best" in trainer.last_log


def _remove(path):
    path.unlink()


BAD_FFHQ = {
    "mask without an image": (lambda r: _remove(r / "masked_face_images/00011.png"), {},
                              r"no image of the same id in .*masked_face_images: 00011\.png"),
    "no texture map": (lambda r: _remove(r / "weak_wrinkle_masks/21000/21035.png"), {"texture_channel": True},
                       r"no texture map of the same id in .*weak_wrinkle_masks: 21035\.png"),
    "test list names an id without a mask": (lambda r: (r / "test_file_lists.txt").write_text("01044\n31415\n"), {},
                                             r"test_file_lists\.txt lists 1 id.*31415"),
    "test list line that is no id": (lambda r: (r / "test_file_lists.txt").write_text("01044\n0l357\n"), {},
                                     r"test_file_lists\.txt line 2: '0l357'"),
    "no test list for the test split": (lambda r: _remove(r / "test_file_lists.txt"), {"split": "test"},
                                        r"test_file_lists\.txt not found.*copy it"),
    "masks of another size": (lambda r: cv2.imwrite(str(r / "manual_wrinkle_masks/00001.png"),
                                                    np.zeros((32, 64), np.uint8)), {},
                              r"sizes differ: .*masked_face_images/00001\.png 64x64.*"
                              r"manual_wrinkle_masks/00001\.png 64x32"),
    "faces not masked yet": (lambda r: shutil.rmtree(r / "masked_face_images"), {}, r"face_masking\.sh"),
}


@pytest.mark.parametrize("case", list(BAD_FFHQ))
def test_bad_ffhq_wrinkle_input_is_named_before_training(ffhq_wrinkle_root, tmp_path, case):
    damage, args, message = BAD_FFHQ[case]
    root = shutil.copytree(ffhq_wrinkle_root, tmp_path / "ffhq")
    damage(root)
    with pytest.raises(DataError, match=message):
        FFHQWrinkleDataset(root, **{"split": "train", **args})


def _limits(root, change):
    rows = np.load(root / "wrinkles/crop_limits.npy")
    np.save(root / "wrinkles/crop_limits.npy", change(rows))


BAD_CROPS = {
    "mask without a crop row": (lambda r: _limits(r, lambda rows: rows[1:]), r"1 mask\(s\) have no row in .*crop_limits"
                                                                              r"\.npy.*final00002\.bmp"),
    "mask without an image": (lambda r: _remove(r / "images1024x1024/00000/00015.png"),
                              r"no FFHQ image <id>\.png in .*images1024x1024.*final00015\.bmp"),
    "crop outside the image": (lambda r: _limits(r, lambda rows: np.vstack([rows[:1] + [0, 0, 40, 0, 0], rows[1:]])),
                               r"crop_limits\.npy row of image 00002 \[.*\] reaches outside"),
    "crop of another size than its mask": (lambda r: _limits(r, lambda rows: np.vstack([rows[:1] + [0, 0, -1, 0, 0],
                                                                                       rows[1:]])),
                                           r"mask .*final00002\.bmp is 56x64 but its crop .* is 56x63"),
    "crop limits of another shape": (lambda r: _limits(r, lambda rows: rows[:, :4]),
                                     r"shape \(8, 4\); expected \(N, 5\)"),
}


@pytest.mark.parametrize("case", list(BAD_CROPS))
def test_bad_crop_set_input_is_named_before_training(ffhq_crops_root, tmp_path, case):
    damage, message = BAD_CROPS[case]
    root = shutil.copytree(ffhq_crops_root, tmp_path / "crops")
    damage(root)
    with pytest.raises(DataError, match=message):
        FFHQCropWrinkleDataset(root, "train")
