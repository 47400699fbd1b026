"""3D ResNeXt (Hara et al., "Can Spatiotemporal 3D CNNs Retrace the History of 2D CNNs and
ImageNet?", CVPR 2018), the network of their Kinetics-pretrained checkpoints.

    "model": {"type": "ResNeXt3D", "args": {"depth": 101, "num_classes": 5,
              "pretrained": "weights/resnext-101-kinetics.pth", "freeze_until": "layer3"}}

Bottleneck blocks with a grouped 3x3x3 convolution (`cardinality` groups), shortcut B (a
1x1x1 convolution + BN where the shape changes; "A" = zero-padded identity), and adaptive
average pooling, so any clip length and frame size works. Module names follow Hara's code
(conv1, bn1, layer1..4, fc), so their DataParallel checkpoints load after the `module.`
prefix is stripped. Input (N, 3, T, H, W); output logits (N, num_classes).
`stem_channels`, `base_planes`, `layers` and `stem_temporal_kernel` (Hara's later conv1_t_size)
shrink the network, e.g. for CPU runs.
"""
import logging
from typing import Literal, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from utils.registry import MODELS, takes_classes

from .finetune import freeze_until as freeze
from .finetune import load_pretrained

log = logging.getLogger("facetrain")

DEPTHS = {50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}


class ZeroPadShortcut(nn.Module):
    """Shortcut A: strided identity, new channels zero (no parameters)."""

    def __init__(self, out_channels, stride):
        super().__init__()
        self.out_channels, self.stride = out_channels, stride

    def forward(self, x):
        x = F.avg_pool3d(x, kernel_size=1, stride=self.stride)
        return F.pad(x, (0, 0, 0, 0, 0, 0, 0, self.out_channels - x.shape[1]))


class ResNeXtBottleneck(nn.Module):
    expansion = 2

    def __init__(self, inplanes, planes, cardinality, stride=1, downsample=None):
        super().__init__()
        mid = max(cardinality, cardinality * planes // 32)  # Hara: cardinality * planes / 32
        self.conv1 = nn.Conv3d(inplanes, mid, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm3d(mid)
        self.conv2 = nn.Conv3d(mid, mid, kernel_size=3, stride=stride, padding=1, groups=cardinality, bias=False)
        self.bn2 = nn.BatchNorm3d(mid)
        self.conv3 = nn.Conv3d(mid, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


class ResNeXt3DNet(nn.Module):
    def __init__(self, layers, num_classes=400, cardinality=32, shortcut="B", stem_channels=64, base_planes=128,
                 in_channels=3, dropout=0.0, stem_temporal_kernel=7):
        super().__init__()
        self.cardinality, self.shortcut = cardinality, shortcut
        self.inplanes = stem_channels
        t = stem_temporal_kernel
        self.conv1 = nn.Conv3d(in_channels, stem_channels, kernel_size=(t, 7, 7), stride=(1, 2, 2),
                               padding=(t // 2, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(stem_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(base_planes, layers[0], stride=1)
        self.layer2 = self._make_layer(base_planes * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(base_planes * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(base_planes * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.fc = nn.Linear(self.inplanes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, planes, blocks, stride):
        out = planes * ResNeXtBottleneck.expansion
        downsample = None
        if stride != 1 or self.inplanes != out:
            if self.shortcut == "A":
                downsample = ZeroPadShortcut(out, stride)
            else:
                downsample = nn.Sequential(nn.Conv3d(self.inplanes, out, kernel_size=1, stride=stride, bias=False),
                                           nn.BatchNorm3d(out))
        layers = [ResNeXtBottleneck(self.inplanes, planes, self.cardinality, stride, downsample)]
        self.inplanes = out
        layers += [ResNeXtBottleneck(out, planes, self.cardinality) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


@MODELS.register
@takes_classes(num_classes="count")
def ResNeXt3D(num_classes: int, depth: Literal[50, 101, 152] = 101, cardinality: int = 32,
              shortcut: Literal["A", "B"] = "B", stem_channels: int = 64, base_planes: int = 128,
              layers: Optional[list] = None, stem_temporal_kernel: int = 7, dropout: float = 0.0,
              pretrained: Optional[str] = None, freeze_until: Optional[str] = None):
    """`pretrained`: a local checkpoint or package:<package>/<file>, either torch.save format (Hara's 2018
    files are the legacy one; a different class count replaces fc); `freeze_until`:
    freeze every stage up to this one (conv1, layer1, ..., layer4) with its BatchNorm in eval mode."""
    if base_planes < 8:
        raise ValueError(f"base_planes must be >= 8, got {base_planes}")
    blocks = list(layers) if layers is not None else DEPTHS[depth]
    if len(blocks) != 4 or any(not isinstance(b, int) or b < 1 for b in blocks):
        raise ValueError(f"layers must be 4 block counts >= 1, got {layers}")
    if stem_temporal_kernel < 1 or stem_temporal_kernel % 2 == 0:
        raise ValueError(f"stem_temporal_kernel must be odd, got {stem_temporal_kernel}")
    model = ResNeXt3DNet(blocks, num_classes, cardinality, shortcut, stem_channels, base_planes, dropout=dropout,
                         stem_temporal_kernel=stem_temporal_kernel)
    if pretrained:
        load_pretrained(model, pretrained, classifier="fc", key="model.args.pretrained")
    if freeze_until:
        freeze(model, freeze_until)
    return model
