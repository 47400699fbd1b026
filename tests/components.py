"""Components registered by the tests (the way a user adds their own: configs list this module
under "imports"). NoNormNet has no BatchNorm, so how a batch is split cannot change results."""
import torch.nn as nn

from utils.registry import MODELS


@MODELS.register
class NoNormNet(nn.Module):
    def __init__(self, width: int = 8):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 1, 3, padding=1))

    def forward(self, x):
        return self.net(x)
