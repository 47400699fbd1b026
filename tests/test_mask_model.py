"""Classifier backbones and heads, local backbone weights, and test-time augmentation."""
import pytest
import timm
import torch
import torch.nn.functional as F

from model.classification import ClassificationModel
from model.tta import TTA
from utils.builder import build
from utils.errors import CheckpointError, ConfigError
from utils.registry import INFERERS, MODELS

HEADS = {"mask": 3, "gender": 2, "age": 3}


@pytest.mark.parametrize("backbone,size", [
    ("efficientnet_b0", 64), ("resnet10t", 64), ("vit_tiny_patch16_224", 224), ("tv-resnet18", 64),
    ("tv-mobilenet_v3_small", 64)])
def test_backbone_families_give_three_heads(backbone, size):
    model = build(MODELS, {"type": "ClassificationModel", "args": {"backbone": backbone, "heads": HEADS}}, "model")
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, size, size))
    assert {k: tuple(v.shape) for k, v in out.items()} == {"mask": (2, 3), "gender": (2, 2), "age": (2, 3)}


def test_one_head_and_conv_head_backbones():
    out = ClassificationModel("mobilenetv3_small_050", num_classes=18)(torch.rand(2, 3, 64, 48))
    assert out.shape == (2, 18)
    with pytest.raises(ValueError, match="either num_classes"):
        ClassificationModel("resnet10t", num_classes=18, heads=HEADS)


def test_unknown_backbones_suggest_names():
    with pytest.raises(ConfigError, match=r"backbone: unknown timm model 'efficientnet_b33'.*'efficientnet_b3'"):
        ClassificationModel("efficientnet_b33", num_classes=18)
    with pytest.raises(ConfigError, match=r"unknown torchvision model 'resnet1'.*resnet18"):
        ClassificationModel("tv-resnet1", num_classes=18)


def test_backbone_weights_load_from_a_local_file(tmp_path):
    pretrained = timm.create_model("test_resnet", num_classes=1000)  # a timm checkpoint, classifier included
    torch.save(pretrained.state_dict(), tmp_path / "imagenet.pth")
    model = ClassificationModel("test_resnet", heads=HEADS, backbone_weights=str(tmp_path / "imagenet.pth"))
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, pretrained.state_dict()[key]), key
    # One of our own checkpoints works too: its backbone part is taken.
    torch.save({"model": model.state_dict(), "epoch": 3}, tmp_path / "model_best.pth")
    again = ClassificationModel("test_resnet", num_classes=18, backbone_weights=str(tmp_path / "model_best.pth"))
    assert all(torch.equal(v, model.backbone.state_dict()[k]) for k, v in again.backbone.state_dict().items())
    torch.save({"unrelated.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="other.pth: no tensor matches the test_resnet backbone"):
        ClassificationModel("test_resnet", num_classes=18, backbone_weights=str(tmp_path / "other.pth"))


def test_tta_averages_the_probabilities_of_the_views():
    torch.manual_seed(0)
    model = ClassificationModel("test_resnet", heads=HEADS).eval()
    x = torch.rand(4, 3, 32, 24)
    with torch.no_grad():
        out = TTA(["identity", "hflip"])(model, x)
        plain, flipped = model(x), model(x.flip(-1))
    for head in HEADS:
        mean = (plain[head].softmax(1) + flipped[head].softmax(1)) / 2
        assert torch.allclose(out[head].softmax(1), mean, atol=1e-6)
        target = torch.tensor([0, 1, 0, 1])
        # logit-like: cross entropy of the output is the NLL of the averaged probabilities
        nll = F.nll_loss(mean.log(), target)
        assert F.cross_entropy(out[head], target).item() == pytest.approx(nll.item(), rel=1e-5)
    single = ClassificationModel("test_resnet", num_classes=18).eval()
    with torch.no_grad():
        weighted = TTA(["identity", "vflip", "zoom1.25"], weights=[2, 1, 1])(single, x)
        ref = (2 * single(x).softmax(1) + single(x.flip(-2)).softmax(1)
               + single(F.interpolate(x[..., 3:29, 2:21], size=(32, 24), mode="bilinear")).softmax(1)) / 4
    assert torch.allclose(weighted.exp(), ref, atol=1e-6)


def test_tta_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"inference: building TTA failed: .*unknown TTA view 'rotate'"):
        build(INFERERS, {"type": "TTA", "args": {"views": ["identity", "rotate"]}}, "inference")
    with pytest.raises(ConfigError, match="weights: expected 2 non-negative numbers"):
        build(INFERERS, {"type": "TTA", "args": {"views": ["identity", "hflip"], "weights": [1]}}, "inference")
