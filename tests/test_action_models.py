"""Video models, fine-tuning from a local checkpoint, freezing stages, multi-view averaging."""
import logging

import pytest
import timm
import torch
import torch.nn as nn

from model.c3d import C3D
from model.finetune import load_pretrained
from model.resnext3d import ResNeXt3D, ResNeXtBottleneck
from model.video import FrameClassifier, VideoResNet
from model.video_inference import MultiView
from utils.builder import build
from utils.errors import CheckpointError, ConfigError
from utils.registry import MODELS

TINY = {"layers": [1, 1, 1, 1], "cardinality": 4, "stem_channels": 8, "base_planes": 16, "stem_temporal_kernel": 3}


@pytest.mark.parametrize("depth,blocks", [(50, [3, 4, 6, 3]), (101, [3, 4, 23, 3])])
def test_resnext3d_has_hara_architecture_and_takes_any_clip_length_and_size(depth, blocks):
    torch.manual_seed(0)
    model = ResNeXt3D(num_classes=7, depth=depth).eval()
    stages = [model.layer1, model.layer2, model.layer3, model.layer4]
    assert [len(s) for s in stages] == blocks
    for stage, width in zip(stages, (128, 256, 512, 1024)):
        first = stage[0]
        assert isinstance(first, ResNeXtBottleneck) and first.conv2.groups == 32
        assert first.conv2.in_channels == width and first.conv3.out_channels == 2 * width
        assert isinstance(first.downsample[0], nn.Conv3d) and first.downsample[0].kernel_size == (1, 1, 1)  # shortcut B
    assert model.conv1.kernel_size == (7, 7, 7) and model.fc.in_features == 2048
    with torch.no_grad():
        shapes = [(1, 3, 1, 32, 32), (2, 3, 5, 40, 56), (1, 3, 16, 64, 48)] if depth == 50 else [(1, 3, 3, 48, 32)]
        for shape in shapes:
            assert model(torch.randn(shape)).shape == (shape[0], 7)


def test_resnext3d_shortcut_a_has_no_projection_parameters():
    model = ResNeXt3D(num_classes=3, shortcut="A", **TINY)
    assert not any("downsample" in name for name, _ in model.named_parameters())
    assert model(torch.randn(2, 3, 4, 32, 32)).shape == (2, 3)


def test_c3d_has_the_paper_layout_and_takes_any_clip_length_and_size():
    model = C3D(num_classes=5, convs=[1, 1, 2, 2, 2]).eval()
    convs = [m for m in model.features if isinstance(m, nn.Conv3d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 512, 512, 512, 512]  # Tran et al., table 1
    assert all(c.kernel_size == (3, 3, 3) for c in convs)
    pools = [m.kernel_size for m in model.features if isinstance(m, nn.MaxPool3d)]
    assert pools == [(1, 2, 2)] + [(2, 2, 2)] * 4  # time kept in the first pool only
    small = C3D(num_classes=3, widths=[4, 8]).eval()
    for t, h, w in [(16, 112, 112), (8, 32, 40), (1, 17, 23)]:  # a single frame too
        assert small(torch.randn(2, 3, t, h, w)).shape == (2, 3)
    with pytest.raises(ValueError, match="widths and convs"):
        C3D(num_classes=3, widths=[8, 16], convs=[1])


def test_a_dataparallel_checkpoint_with_another_class_count_loads_with_a_report(tmp_path, caplog):
    torch.manual_seed(0)
    source = ResNeXt3D(num_classes=400, **TINY)
    # Hara's checkpoints: {"epoch", "arch", "state_dict" with DataParallel's "module." prefix, "optimizer"}
    torch.save({"epoch": 200, "arch": "resnext-101",
                "state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, tmp_path / "kinetics.pth")
    caplog.set_level(logging.INFO, logger="facetrain")
    model = build(MODELS, {"type": "ResNeXt3D", "args": {"num_classes": 5, "pretrained": str(tmp_path / "kinetics.pth"),
                                                         **TINY}}, "model")
    mine, theirs = model.state_dict(), source.state_dict()
    assert mine["fc.weight"].shape == (5, source.fc.in_features)
    assert all(torch.equal(mine[k], theirs[k]) for k in mine if not k.startswith("fc."))
    replaced = "classifier 'fc' replaced (400 classes in the checkpoint, 5 here)"
    assert any(replaced in r.getMessage() for r in caplog.records)

    report = load_pretrained(ResNeXt3D(num_classes=5, **TINY), tmp_path / "kinetics.pth")
    assert report["classifier_replaced"] == ["fc.bias", "fc.weight"]
    assert report["missing"] == report["unexpected"] == report["shape_mismatch"] == []
    assert report["loaded"] == len(mine) - 2

    extra = {**{f"module.{k}": v for k, v in source.state_dict().items()}, "module.aux.weight": torch.zeros(3)}
    torch.save(extra, tmp_path / "extra.pth")
    assert load_pretrained(ResNeXt3D(num_classes=400, **TINY), tmp_path / "extra.pth")["unexpected"] == ["aux.weight"]


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    torch.save(nn.Linear(3, 4).state_dict(), tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="no tensor matches ResNeXt3DNet"):
        load_pretrained(ResNeXt3D(num_classes=5, **TINY), tmp_path / "other.pth")


def _bn_stats(module):
    return {k: v.clone() for k, v in module.state_dict().items() if "running" in k}


def test_freeze_until_a_stage_keeps_its_weights_and_batchnorm_statistics_fixed():
    torch.manual_seed(0)
    model = ResNeXt3D(num_classes=5, freeze_until="layer3", **TINY)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {n for n, _ in model.named_parameters() if n.split(".")[0] in ("conv1", "bn1", "layer1", "layer2",
                                                                                     "layer3")}
    model.train()  # what the trainer does every epoch
    assert not any(m.training for n, m in model.named_modules() if isinstance(m, nn.BatchNorm3d) and n[:6] != "layer4")
    assert all(m.training for m in model.layer4.modules() if isinstance(m, nn.BatchNorm3d))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for _ in range(2):
        loss = nn.functional.cross_entropy(model(torch.randn(4, 3, 4, 32, 32) * 3 + 1), torch.tensor([0, 1, 2, 3]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("layer4.", "fc.")) for k in changed)  # running stats of stages 1-3 too
    assert any("layer4" in k and "running_mean" in k for k in changed)


def test_freeze_until_works_on_torchvision_and_timm_models_and_names_the_stages():
    r3d = VideoResNet("r3d_18", num_classes=5, freeze_until="layer2")
    assert not r3d.stem[0].weight.requires_grad and not r3d.layer2[1].conv2[0].weight.requires_grad
    assert r3d.layer3[0].conv1[0].weight.requires_grad and r3d.fc.weight.requires_grad
    frames = FrameClassifier("resnet18", 5, freeze_until="layer1", backbone_args={"channels": [8, 16, 32, 64]})
    frames.train()
    assert not frames.backbone.bn1.training and frames.backbone.layer2[0].bn1.training
    with pytest.raises(ConfigError, match=r"freeze_until: 'layer9' is not a module .* stages: \['stem', 'layer1'"):
        build(MODELS, {"type": "VideoResNet", "args": {"arch": "mc3_18", "num_classes": 5, "freeze_until": "layer9"}},
              "model")


@pytest.mark.parametrize("arch", ["r3d_18", "mc3_18", "r2plus1d_18"])
def test_torchvision_video_models_classify_clips(arch):
    model = VideoResNet(arch, num_classes=4).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 4, 32, 32)).shape == (2, 4)


def test_torchvision_video_models_load_local_weights(tmp_path):
    torch.manual_seed(0)
    model = VideoResNet("mc3_18", num_classes=4).eval()
    torch.save({"model": {f"module.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "w.pth")
    again = VideoResNet("mc3_18", num_classes=4, weights=str(tmp_path / "w.pth")).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.equal(again(x), model(x))


def test_an_unknown_torchvision_weight_name_is_refused_before_any_download():
    with pytest.raises(ConfigError, match=r"weights 'KINETICS_V9' is neither a local file nor one of .*KINETICS400_V1"):
        build(MODELS, {"type": "VideoResNet", "args": {"arch": "r3d_18", "num_classes": 5, "weights": "KINETICS_V9"}},
              "model")


def test_the_frame_model_averages_the_scores_of_the_frames():
    torch.manual_seed(0)
    model = FrameClassifier("resnet18", 5, backbone_args={"channels": [8, 16, 32, 64], "stem_width": 8}).eval()
    reference = timm.create_model("resnet18", num_classes=5, channels=[8, 16, 32, 64], stem_width=8).eval()
    reference.load_state_dict(model.backbone.state_dict())
    frames = torch.randn(3, 4, 3, 32, 40)  # 3 clips of 4 frames (TSN segments)
    with torch.no_grad():
        expected = torch.stack([reference(frames[:, t]) for t in range(4)]).mean(0)
        assert torch.allclose(model(frames), expected, atol=1e-5)
        assert torch.allclose(model(frames[:, 0]), reference(frames[:, 0]), atol=1e-5)  # a plain image batch


def test_the_frame_model_fine_tunes_a_local_imagenet_checkpoint(tmp_path):
    torch.manual_seed(0)
    small = {"channels": [8, 16, 32, 64], "stem_width": 8}
    imagenet = timm.create_model("resnet18", num_classes=1000, **small)  # e.g. a timm ResNet checkpoint
    torch.save({"state_dict": {f"module.{k}": v for k, v in imagenet.state_dict().items()}}, tmp_path / "in1k.pth")
    model = build(MODELS, {"type": "FrameClassifier", "args": {
        "backbone": "resnet18", "num_classes": 5, "pretrained": str(tmp_path / "in1k.pth"), "freeze_until": "layer2",
        "backbone_args": small}}, "model")
    mine, theirs = model.backbone.state_dict(), imagenet.state_dict()
    assert mine["fc.weight"].shape == (5, 64)  # timm's classifier found through get_classifier()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine if not k.startswith("fc."))
    trainable = {n.split(".")[1] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"layer3", "layer4", "fc"}


def test_an_unknown_timm_backbone_suggests_names():
    with pytest.raises(ConfigError, match="unknown timm model 'resnet5O'. Did you mean 'resnet50'"):
        FrameClassifier("resnet5O", 5)


def test_multiview_averages_the_probabilities_of_the_views_of_each_video():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 2 * 4 * 4, 6))
    views = torch.randn(2, 5, 3, 2, 4, 4)  # 2 videos x 5 views of (C, T, H, W)
    out = MultiView()(model, views)
    with torch.no_grad():
        probs = torch.stack([torch.stack([model(views[n, v:v + 1])[0].softmax(-1) for v in range(5)]).mean(0)
                             for n in range(2)])
    assert torch.allclose(out.softmax(-1), probs, atol=1e-6)
    assert torch.allclose(out.exp().sum(-1), torch.ones(2), atol=1e-6)  # log of averaged probabilities
    assert torch.allclose(MultiView(max_views=3)(model, views), out, atol=1e-6)  # chunked views
    single = views[:, 0]
    assert torch.equal(MultiView()(model, single), model(single))  # no view axis: unchanged
