"""The shipped recipes on sample data of their family, as the recipe tests run them."""
from conftest import REPO
from utils.config import apply_overrides, load_config

CONFIGS = sorted(p.name for p in (REPO / "configs").glob("*.json"))
# The CPU demos the README names (the partitioned one trains a part per train.py run).
QUICK = [n for n in CONFIGS if n.endswith("_quick.json")] + ["wrinkle_partitioned.json"]
# Seed recipes at their real input sizes (U-Net crops of 1344x1248, EfficientNet-B3 at 300x240, ...):
# one CPU batch takes tens of seconds. `make test` builds them and runs their quick variants, which
# inherit everything but the sizes; `make test-full` (pytest -m slow) also trains them on a tiny batch.
FULL_SIZE = {"wrinkle_wbce.json", "wrinkle_wbce_pure.json", "wrinkle_f1.json", "wrinkle_pretrained.json",
             "mask_multihead_effnet.json", "mask_multihead_pretrained.json", "mask_age.json", "mask_single18.json",
             "image_multihead.json", "action_resnext3d.json", "action_r3d18.json", "action_r2plus1d.json",
             # the public datasets' recipes: their own tests train them on the miniatures at tiny sizes
             "wrinkle_ffhq_pretrain.json", "wrinkle_ffhq_finetune.json", "wrinkle_ffhq_crops.json",
             "action_ucf101_r2plus1d.json", "action_hmdb51_r2plus1d.json", "action_kinetics_r2plus1d.json"}

# The sample data each dataset type runs on: a session fixture of conftest.py.
# A public dataset's recipe runs on a miniature of its published layout (tests/public_layouts.py).
ROOT_FIXTURES = {"WrinkleDataset": "wrinkle_root", "MaskFaceDataset": "mask_root",
                 "VideoDataset": "other_action_videos", "ImageTableDataset": "face_crops_root",
                 "WrinklePartDataset": "wrinkle_root", "FFHQWrinkleDataset": "ffhq_wrinkle_root",
                 "FFHQCropWrinkleDataset": "ffhq_crops_root", "UCF101Dataset": "ucf101_root",
                 "HMDB51Dataset": "hmdb51_root", "KineticsDataset": "kinetics_root"}


def family(cfg):
    return cfg["data"]["dataset"]["type"]


def on_sample_data(name, request, save_dir, *overrides, batch_size=None):
    """configs/<name> with only its data root (and run-size keys) overridden: CPU, no workers, one
    validation batch, no TensorBoard or figures."""
    cfg = load_config(REPO / "configs" / name)
    kind = family(cfg)
    root = request.getfixturevalue(ROOT_FIXTURES[kind])
    if "folder" in str(cfg["data"]["dataset"]["args"].get("root", "")):
        root = root / "folder"  # the ImageFolder form of the same sample
    # two images a batch at least: BatchNorm after a 1x1 feature map needs more than one value in training
    batch_size = batch_size or (2 if kind == "ImageTableDataset" else 1)
    if cfg.get("load_from"):  # a second stage starts from a first stage's run (tests/test_public_wrinkle_data.py)
        cfg["load_from"] = None
    return apply_overrides(cfg, [
        f"data.dataset.args.root={root}", f"trainer.save_dir={save_dir}", "device=cpu",
        "trainer.epochs=1", "trainer.limit_train_batches=1", "trainer.limit_val_batches=1",
        f"data.loader.batch_size={batch_size}", "data.loader.num_workers=0",
        "trainer.progress=none", "trainer.tensorboard=false", "trainer.report=false", *overrides])
