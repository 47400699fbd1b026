"""Image classifiers: a timm or torchvision backbone with one head, or several heads returning a dict.

    "model": {"type": "ClassificationModel",
              "args": {"backbone": "efficientnet_b3", "heads": {"mask": 3, "gender": 2, "age": 3}}}
    "model": {"type": "ClassificationModel", "args": {"backbone": "tv-resnet50", "num_classes": 18}}

`backbone` is any timm model name, or "tv-<name>" for a torchvision classification model.
`pretrained` is false by default (nothing is downloaded); true downloads the library's
weights (timm: its default tag, cached by the Hugging Face hub; torchvision: DEFAULT, or name
one such as "IMAGENET1K_V1", cached under TORCH_HOME). `backbone_weights` loads a local file
instead: a path or package:<package>/<file>, of a timm or torchvision classifier (another
library's naming of the same network maps by order) or one of ours (its backbone part). With
one head whose class count equals the file's classifier (1000 for ImageNet), the file's
classifier becomes the head; otherwise the heads start fresh. Extra args go to
timm.create_model (e.g. drop_path_rate) or torchvision's model builder.
"""
import logging
from typing import Optional, Union

import torch.nn as nn

from utils.registry import MODELS, takes_classes, unknown_name

from .finetune import find_classifier
from .pretrained import hub_weights, load_into

log = logging.getLogger("facetrain")
TORCHVISION_PREFIX = "tv-"


def timm_backbone(name, pretrained, in_chans, classifier, **kwargs):
    """A timm model, with its classifier only when `classifier` (to receive a pretrained one)."""
    import timm

    if not timm.is_model(name):
        unknown_name("timm model", name, timm.list_models(), "model.args.backbone")
    with hub_weights(name, "model.args.pretrained"):
        return timm.create_model(name, pretrained=bool(pretrained), in_chans=in_chans,
                                 **({} if classifier else {"num_classes": 0}), **kwargs)


def torchvision_backbone(name, pretrained, in_chans, classifier, **kwargs):
    """A torchvision classifier; `pretrained`: true (its DEFAULT weights) or a weights name."""
    import torchvision

    if name not in torchvision.models.list_models(torchvision.models):
        unknown_name("torchvision model", name, torchvision.models.list_models(torchvision.models),
                     f"model.args.backbone (after '{TORCHVISION_PREFIX}')")
    if in_chans != 3:
        raise ValueError("torchvision backbones take 3 input channels; use a timm backbone for in_chans != 3")
    weights = ("DEFAULT" if pretrained is True else pretrained) or None
    with hub_weights(f"torchvision's {name} ({weights})", "model.args.pretrained"):
        try:
            return torchvision.models.get_model(name, weights=weights, **kwargs)
        except (KeyError, ValueError) as e:  # an unknown weights name
            raise ValueError(f"model.args.pretrained: {e}") from e


def drop_classifier(model):
    """Replace the final classifier by nothing; returns (that classifier, the feature width)."""
    name = find_classifier(model)
    head = model.get_submodule(name) if name else None
    if hasattr(model, "reset_classifier"):  # timm: models with a conv head after pooling (MobileNetV3, LCNet)
        model.reset_classifier(0)          # give head_hidden_size features
        return head, getattr(model, "head_hidden_size", None) or model.num_features
    if not isinstance(head, nn.Linear):
        raise ValueError(f"{type(model).__name__} has no Linear classifier to replace; pick another backbone")
    model.set_submodule(name, nn.Identity())
    return head, head.in_features


@MODELS.register
@takes_classes(num_classes="count", heads="head counts")
class ClassificationModel(nn.Module):
    def __init__(self, backbone: str = "efficientnet_b3", num_classes: Optional[int] = None,
                 heads: Optional[dict] = None, pretrained: Union[bool, str] = False,
                 backbone_weights: Optional[str] = None,
                 drop_rate: float = 0.0, in_chans: int = 3, **backbone_args):
        super().__init__()
        self.backbone_name = backbone
        if (num_classes is None) == (heads is None):
            raise ValueError("give either num_classes (one head) or heads ({name: classes, ...})")
        for name, n in (heads or {"num_classes": num_classes}).items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ValueError(f"{'heads.' if heads else ''}{name}: expected a positive number of classes, got {n!r}")
        build = timm_backbone
        if backbone.startswith(TORCHVISION_PREFIX):
            build, backbone = torchvision_backbone, backbone[len(TORCHVISION_PREFIX):]
        weighted = bool(pretrained or backbone_weights)
        self.backbone = build(backbone, pretrained, in_chans, classifier=weighted, **backbone_args)
        loaded = weighted
        if backbone_weights:
            name = find_classifier(self.backbone)
            report = load_into(self.backbone, backbone_weights, f"the {self.backbone_name} backbone",
                               "model.args.backbone_weights", classifier=name)
            dropped = report["missing"] + report["classifier_replaced"]
            loaded = bool(name) and not any(k.startswith(name + ".") for k in dropped)
        classifier, features = drop_classifier(self.backbone)

        def head(n):
            return nn.Sequential(nn.Dropout(drop_rate), nn.Linear(features, n))

        self.heads = nn.ModuleDict({name: head(n) for name, n in heads.items()}) if heads else None
        self.head = head(num_classes) if num_classes is not None else None
        if loaded and isinstance(classifier, nn.Linear):
            self._take_classifier(classifier)

    def _take_classifier(self, classifier):
        """A pretrained classifier of the right class count becomes the one head (e.g. ImageNet's 1000)."""
        if self.head is not None and self.head[1].out_features == classifier.out_features:
            self.head[1].load_state_dict(classifier.state_dict())
            log.info(f"{self.backbone_name}: the pretrained {classifier.out_features}-class classifier is the head")
        else:
            log.info(f"{self.backbone_name}: the pretrained {classifier.out_features}-class classifier is not used; "
                     "the heads start fresh")

    def forward(self, x):
        features = self.backbone(x)
        if self.heads is not None:
            return {name: head(features) for name, head in self.heads.items()}
        return self.head(features)
