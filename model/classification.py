"""Image classifiers: a timm or torchvision backbone with one head, or several heads returning a dict.

    "model": {"type": "ClassificationModel",
              "args": {"backbone": "efficientnet_b3", "heads": {"mask": 3, "gender": 2, "age": 3}}}
    "model": {"type": "ClassificationModel", "args": {"backbone": "tv-resnet50", "num_classes": 18}}

`backbone` is any timm model name, or "tv-<name>" for a torchvision classification model.
`pretrained` is false by default (nothing is downloaded); `backbone_weights` loads a local
state dict into the backbone instead (a timm/torchvision checkpoint, or one of ours: a
`backbone.` prefix is stripped; classifier weights in the file are ignored). Extra args go
to timm.create_model (e.g. drop_path_rate) or torchvision's model builder.
"""
import logging
from typing import Optional

import torch.nn as nn

from utils.checkpoint import load_checkpoint, load_partial, model_state, strip_prefixes
from utils.registry import MODELS, unknown_name

log = logging.getLogger("facetrain")
TORCHVISION_PREFIX = "tv-"


def timm_backbone(name, pretrained, in_chans, **kwargs):
    """A timm model without its classifier: forward gives pooled features (N, num_features)."""
    import timm

    if not timm.is_model(name):
        unknown_name("timm model", name, timm.list_models(), "model.args.backbone")
    model = timm.create_model(name, pretrained=pretrained, num_classes=0, in_chans=in_chans, **kwargs)
    # Models with a conv head after pooling (MobileNetV3, LCNet) output head_hidden_size features.
    return model, getattr(model, "head_hidden_size", None) or model.num_features


def torchvision_backbone(name, pretrained, in_chans, **kwargs):
    """A torchvision classifier whose last Linear layer is replaced by Identity."""
    import torchvision

    if name not in torchvision.models.list_models(torchvision.models):
        unknown_name("torchvision model", name, torchvision.models.list_models(torchvision.models),
                 f"model.args.backbone (after '{TORCHVISION_PREFIX}')")
    if in_chans != 3:
        raise ValueError("torchvision backbones take 3 input channels; use a timm backbone for in_chans != 3")
    model = torchvision.models.get_model(name, weights="DEFAULT" if pretrained else None, **kwargs)
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"torchvision model {name} has no Linear classifier to replace; pick another backbone")
    features = model.get_submodule(linears[-1]).in_features
    model.set_submodule(linears[-1], nn.Identity())
    return model, features


@MODELS.register
class ClassificationModel(nn.Module):
    def __init__(self, backbone: str = "efficientnet_b3", num_classes: Optional[int] = None,
                 heads: Optional[dict] = None, pretrained: bool = False, backbone_weights: Optional[str] = None,
                 drop_rate: float = 0.0, in_chans: int = 3, **backbone_args):
        super().__init__()
        self.backbone_name = backbone
        if (num_classes is None) == (heads is None):
            raise ValueError("give either num_classes (one head) or heads ({name: classes, ...})")
        for name, n in (heads or {"num_classes": num_classes}).items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ValueError(f"{'heads.' if heads else ''}{name}: expected a positive number of classes, got {n!r}")
        if backbone.startswith(TORCHVISION_PREFIX):
            self.backbone, features = torchvision_backbone(backbone[len(TORCHVISION_PREFIX):], pretrained, in_chans,
                                                           **backbone_args)
        else:
            self.backbone, features = timm_backbone(backbone, pretrained, in_chans, **backbone_args)
        if backbone_weights:
            self.load_backbone(backbone_weights)

        def head(n):
            return nn.Sequential(nn.Dropout(drop_rate), nn.Linear(features, n))

        self.heads = nn.ModuleDict({name: head(n) for name, n in heads.items()}) if heads else None
        self.head = head(num_classes) if num_classes is not None else None

    def load_backbone(self, path):
        state = strip_prefixes(model_state(load_checkpoint(path)))
        if state and all(k.startswith("backbone.") for k in state if not k.startswith(("head.", "heads."))):
            state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
        load_partial(self.backbone, state, path, what=f"the {self.backbone_name} backbone (model.args.backbone_weights)")

    def forward(self, x):
        features = self.backbone(x)
        if self.heads is not None:
            return {name: head(features) for name, head in self.heads.items()}
        return self.head(features)
