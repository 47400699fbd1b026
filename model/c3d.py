"""C3D (Tran et al., "Learning Spatiotemporal Features with 3D Convolutional Networks", ICCV 2015):
a plain stack of 3x3x3 convolutions, each stage closed by a max pool that keeps the time axis in
the first stage (1x2x2, so motion is seen at full frame rate) and halves it after (2x2x2).

    "model": {"type": "C3D", "args": {"num_classes": 4, "widths": [16, 32, 64, 128]}}

The paper's network is widths [64, 128, 256, 512, 512] with convs [1, 1, 2, 2, 2] and two 4096-wide
fully connected layers on 16x112x112 clips; here the end is global average pooling and one linear
layer, so any clip length and frame size works, and BatchNorm follows each convolution
(`batch_norm: false` for the original). Small widths make a CPU model that learns camera and body
motion from a few dozen clips, where a shrunk ResNeXt-3D memorises the training clips instead
(docs/action_recognition.md, "On your own data").
"""
from typing import Optional

import torch.nn as nn

from utils.registry import MODELS, takes_classes


@MODELS.register
@takes_classes(num_classes="count")
class C3D(nn.Module):
    def __init__(self, num_classes: int, widths: Optional[list] = None, convs: Optional[list] = None,
                 batch_norm: bool = True, dropout: float = 0.0, in_channels: int = 3):
        super().__init__()
        widths = list(widths or [64, 128, 256, 512, 512])
        convs = list(convs or [1] * len(widths))
        if len(convs) != len(widths) or any(not isinstance(n, int) or n < 1 for n in convs + widths):
            raise ValueError(f"widths and convs must be lists of positive ints of one length, got {widths} and {convs}")
        stages, c = [], in_channels
        for i, (width, n) in enumerate(zip(widths, convs)):
            for _ in range(n):
                stages += [nn.Conv3d(c, width, 3, padding=1, bias=not batch_norm)]
                stages += [nn.BatchNorm3d(width)] if batch_norm else []
                stages += [nn.ReLU(inplace=True)]
                c = width
            pool = (1, 2, 2) if i == 0 else (2, 2, 2)
            stages += [nn.MaxPool3d(pool, pool, ceil_mode=True)]  # ceil: a 1-frame axis stays 1 frame
        self.features = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(self.dropout(self.pool(self.features(x)).flatten(1)))
