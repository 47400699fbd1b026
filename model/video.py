"""Video classifiers: torchvision's 3D ResNets, and any timm 2D backbone on frames.

    "model": {"type": "VideoResNet", "args": {"arch": "r2plus1d_18", "num_classes": 5}}
    "model": {"type": "FrameClassifier", "args": {"backbone": "resnet50", "num_classes": 5}}

VideoResNet takes clips (N, 3, T, H, W). FrameClassifier takes frames (N, T, 3, H, W) -
scores each frame with the backbone and averages the T scores (TSN's consensus; T = 1 is a
single-frame model) - or single images (N, 3, H, W). Both return logits (N, num_classes).
Nothing is downloaded unless asked: `weights`/`pretrained` default to none (random init);
a path (or package:<package>/<file>) loads a local checkpoint through model/finetune.py (a checkpoint with another class
count gets a new classifier); `freeze_until` freezes the stages up to the one named.
"""
import logging
from typing import Literal, Optional, Union

import timm
import torch.nn as nn
import torchvision.models.video as tv_video

from utils.registry import MODELS, takes_classes, unknown_name

from .finetune import freeze_until as freeze
from .finetune import load_pretrained
from .pretrained import hub_weights, is_weights_file

log = logging.getLogger("facetrain")

TORCHVISION_ARCHS = {"r3d_18": "R3D_18_Weights", "mc3_18": "MC3_18_Weights", "r2plus1d_18": "R2Plus1D_18_Weights"}


@MODELS.register
@takes_classes(num_classes="count")
def VideoResNet(arch: Literal["r3d_18", "mc3_18", "r2plus1d_18"], num_classes: int, weights: Optional[str] = None,
                freeze_until: Optional[str] = None):
    """`weights`: null (random init), a local checkpoint path (or package:...), or a torchvision weights name
    such as "KINETICS400_V1" (downloaded by torchvision: only when named). Stages for
    `freeze_until`: stem, layer1, layer2, layer3, layer4."""
    build = getattr(tv_video, arch)
    if weights is None or is_weights_file(weights):
        model = build(weights=None, num_classes=num_classes)
        if weights is not None:
            load_pretrained(model, weights, classifier="fc", key="model.args.weights")
    else:
        enum = getattr(tv_video, TORCHVISION_ARCHS[arch])
        if weights not in enum.__members__:
            raise ValueError(f"weights '{weights}' is neither a local file nor one of {arch}'s torchvision weights "
                             f"{list(enum.__members__)}")
        log.info(f"{arch}: torchvision weights {weights} (downloaded on first use)")
        with hub_weights(f"{arch} ({weights})", "model.args.weights"):
            model = build(weights=enum[weights])
        if num_classes != model.fc.out_features:
            model.fc = nn.Linear(model.fc.in_features, num_classes)
    if freeze_until:
        freeze(model, freeze_until)
    return model


@MODELS.register
@takes_classes(num_classes="count")
class FrameClassifier(nn.Module):
    """`backbone`: any timm model name. `pretrained`: null, a local checkpoint path (of the
    backbone: e.g. an ImageNet ResNet-50 state dict), or true for timm's hub weights
    (downloaded). `backbone_args` go to timm.create_model (e.g. {"channels": [8, 16, 32, 64]}).
    `freeze_until` names a backbone stage (timm ResNets: conv1, layer1, ..., layer4)."""

    def __init__(self, backbone: str, num_classes: int, pretrained: Union[bool, str, None] = None,
                 freeze_until: Optional[str] = None, drop_rate: float = 0.0, backbone_args: Optional[dict] = None):
        super().__init__()
        if not timm.is_model(backbone):
            unknown_name("timm model", backbone, timm.list_models(), "model.args.backbone")
        hub = pretrained is True
        with hub_weights(backbone, "model.args.pretrained"):
            self.backbone = timm.create_model(backbone, pretrained=hub, num_classes=num_classes, drop_rate=drop_rate,
                                              **(backbone_args or {}))
        if isinstance(pretrained, str):
            load_pretrained(self.backbone, pretrained)
        if freeze_until:
            freeze(self.backbone, freeze_until)

    def forward(self, x):
        if x.dim() == 4:
            return self.backbone(x)
        n, t = x.shape[:2]
        return self.backbone(x.flatten(0, 1)).unflatten(0, (n, t)).mean(1)
