"""Albumentations pipelines declared in config.

    "transform": [{"type": "RandomCrop", "args": {"height": 512, "width": 512}},
                  {"type": "HorizontalFlip", "args": {"p": 0.5}},
                  {"type": "Normalize"}, {"type": "ToTensorV2"}]

Any albumentations transform is available by name; project transforms register in
TRANSFORMS. Compositions (OneOf, SomeOf, ...) take their own list under args.transforms.
"""
import albumentations as A
import albumentations.pytorch as AP
import torch

from utils.builder import build, check_block
from utils.errors import ConfigError
from utils.registry import TRANSFORMS

TRANSFORMS.add_fallback(A, A.BasicTransform)
TRANSFORMS.add_fallback(A, A.BaseCompose)
TRANSFORMS.add_fallback(AP, A.BasicTransform)


def build_transform(spec, path):
    """A list of transform blocks -> A.Compose (None stays None)."""
    if spec is None:
        return None
    if not isinstance(spec, list):
        raise ConfigError(f"{path}: expected a list of transform blocks, got {spec!r}")
    return A.Compose([_build_one(t, f"{path}.{i}") for i, t in enumerate(spec)])


def _build_one(cfg, path):
    cfg = check_block(cfg, path)
    args = dict(cfg["args"])
    if isinstance(args.get("transforms"), list):
        args["transforms"] = [_build_one(t, f"{path}.args.transforms.{i}") for i, t in enumerate(args["transforms"])]
    return build(TRANSFORMS, {**cfg, "args": args}, path)


def image_tensor(image):
    """A transform's output image as a float CHW tensor, whether or not the pipeline ends in
    Normalize / ToTensorV2 (uint8 is scaled to [0, 1]; an array is HWC, as albumentations gives it, with
    any number of channels (RGB, or RGB + a texture map), and is permuted; a tensor is ToTensorV2's CHW)."""
    hwc = not isinstance(image, torch.Tensor)
    image = torch.as_tensor(image)
    if image.dtype == torch.uint8:
        image = image.float() / 255.0
    if image.dim() == 3 and hwc:
        image = image.permute(2, 0, 1).contiguous()
    return image
