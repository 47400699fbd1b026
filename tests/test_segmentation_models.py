"""The smp wrapper: every architecture through one name, odd image sizes, local encoder weights."""
import pytest
import torch

from model.inference import Direct
from trainer.build import build_model
from utils.errors import CheckpointError, ConfigError


def _cfg(**args):
    base = {"arch": "Unet", "encoder_name": "resnet18", "encoder_weights": None, "classes": 1}
    return {"model": {"type": "SegmentationModel", "args": {**base, **args}}}


@pytest.mark.parametrize("arch", ["Unet", "UnetPlusPlus", "FPN", "unetplusplus"])
def test_architectures_train_and_predict_on_odd_sizes(arch):
    model = build_model(_cfg(arch=arch, encoder_depth=5))
    x = torch.randn(2, 3, 67, 81)  # not multiples of 32
    out = Direct(divisor=32)(model.train(), x)
    assert out.shape == (2, 1, 67, 81)
    out.mean().backward()
    assert all(p.grad is not None for p in model.segmentation_head.parameters())


def test_encoder_weights_load_from_a_local_file(tmp_path):
    torch.manual_seed(0)
    donor = build_model(_cfg())
    path = tmp_path / "encoder.pth"
    torch.save(donor.encoder.state_dict(), path)
    torch.manual_seed(1)
    model = build_model(_cfg(encoder_weights=str(path)))
    for k, v in donor.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[k], v)
    assert not torch.equal(model.segmentation_head[0].weight, donor.segmentation_head[0].weight)


def test_a_file_that_is_not_an_encoder_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(CheckpointError, match="other.pth: no tensor matches the resnet18 encoder"):
        build_model(_cfg(encoder_weights=str(path)))


def test_timm_encoders_are_reachable_and_checked():
    model = build_model(_cfg(encoder_name="tu-resnet10t", encoder_depth=3, decoder_channels=[16, 8, 4]))
    assert Direct(8)(model, torch.randn(1, 3, 40, 40)).shape == (1, 1, 40, 40)
    with pytest.raises(ConfigError, match="unknown timm encoder 'resnet10x'"):
        build_model(_cfg(encoder_name="tu-resnet10x"))


def test_an_encoder_used_shallower_than_built_holds_only_the_stages_that_run():
    """smp's MobileNetV2 at encoder_depth 3 keeps (and even runs) all 19 blocks; only the first 7
    reach the output. The others are removed: 96% of the parameters, which never learn."""
    import segmentation_models_pytorch as smp

    args = dict(encoder_name="mobilenet_v2", encoder_depth=3, decoder_channels=[32, 16, 8])
    model = build_model(_cfg(**args))
    torch.manual_seed(0)
    full = smp.Unet(encoder_weights=None, classes=1, **args)  # as smp builds it
    dead = [n for n, p in full.named_parameters() if n.startswith("encoder.features.") and int(n.split(".")[2]) >= 7]
    assert dead and {n for n, _ in model.named_parameters()} == {n for n, _ in full.named_parameters()} - set(dead)
    x = torch.randn(2, 3, 64, 96)
    model.load_state_dict({k: v for k, v in full.state_dict().items() if k in model.state_dict()})
    assert torch.equal(model.eval()(x), full.eval()(x))  # the same network, less its dead weight
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_a_checkpoint_written_with_the_unused_stages_still_loads():
    """Files saved before the unused stages were removed carry their weights; they are ignored."""
    import segmentation_models_pytorch as smp

    from utils.checkpoint import load_weights

    args = dict(encoder_name="mobilenet_v2", encoder_depth=3, decoder_channels=[32, 16, 8])
    old = smp.Unet(encoder_weights=None, classes=1, **args)
    model = build_model(_cfg(**args))
    report = load_weights(model, old.state_dict(), strict=True, source="old.pth")
    assert report["missing"] == report["unexpected"] == report["shape_mismatch"] == []
    x = torch.randn(1, 3, 64, 64)
    assert torch.equal(model.eval()(x), old.eval()(x))
