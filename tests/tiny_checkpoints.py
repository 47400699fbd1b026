"""Checkpoints of tiny untrained models, one per task family, saved as train.py saves them (the
resolved quick config inside), for the predictor, export and web-demo tests."""
from types import SimpleNamespace

from conftest import REPO, TINY_MODEL
from data_loader.mask_labels import class_names, head_classes
from samples.action_clips import CLASSES as ACTIONS
from trainer.build import build_model
from trainer.classes import labels_of, resolve_classes
from utils.checkpoint import save_checkpoint
from utils.config import apply_overrides, load_config

TEST_RESNET = "model.args.backbone=test_resnet"  # timm's tiny test network
RECIPES = {
    "wrinkle": ("configs/wrinkle_quick.json", []),
    "face_heads": ("configs/mask_multihead_quick.json", [TEST_RESNET]),
    "face_18": ("configs/mask_single18.json", [TEST_RESNET]),
    "action_3d": ("configs/action_quick.json", []),
    "action_2d": ("configs/action_frame2d_quick.json", []),
    "partitioned": ("configs/wrinkle_quick.json", []),  # a merged model of two parts, as train_parts writes
}
# The labels the sample datasets give these recipes (their configs name no classes).
LABELS = {"face_heads": SimpleNamespace(head_classes=head_classes()), "face_18": SimpleNamespace(classes=class_names()),
          "action_3d": SimpleNamespace(classes=list(ACTIONS)), "action_2d": SimpleNamespace(classes=list(ACTIONS))}
PARTS = {"forehead": [0.27, 0.14, 0.73, 0.33], "left_cheek": [0.15, 0.50, 0.34, 0.71]}


def tiny_checkpoint(kind, path, *overrides, seed=0):
    """Build the recipe's model (the wrinkle U-Net shrunk to the tests' tiny one) and save it."""
    import torch

    base, own = RECIPES[kind]
    cfg = apply_overrides(load_config(REPO / base), ["device=cpu", *own, *overrides])
    if kind == "wrinkle":
        cfg["model"] = TINY_MODEL
    if kind == "partitioned":  # as tools/train_parts.py's merged_config writes it
        cfg["model"] = {"type": "PartitionedSegmenter", "args": {"regions": {"parts": PARTS, "margin": 0.25},
                                                                 "models": {p: TINY_MODEL for p in PARTS}}}
        cfg["inference"] = {"type": "Direct", "args": {"divisor": 1}}
    labels = LABELS.get(kind)
    if labels is not None:  # what training takes from the dataset (trainer/classes.py)
        cfg = resolve_classes(cfg, labels)
    torch.manual_seed(seed)
    model = build_model(cfg, load_weights_from_config=False)
    save_checkpoint({"model": model.state_dict(), "config": cfg, "epoch": 1, "labels": labels_of(labels)}, path)
    return path
