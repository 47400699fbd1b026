"""PartitionedSegmenter: part predictions pasted back where they belong, the overlap rule, zero elsewhere."""
import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn

from data_loader.face_detection import Face
from data_loader.face_regions import FaceRegions
from logger.part_overlay import PALETTE, PartOverlayWriter
from model.partitioned import OUTSIDE_LOGIT, PartitionedSegmenter

TINY = {"type": "SegmentationModel", "args": {"arch": "Unet", "encoder_name": "resnet18", "encoder_depth": 1,
                                               "decoder_channels": [8]}}  # one stage: quick to build
pytestmark = pytest.mark.usefixtures("one_thread")
PARTS = {"a": [0.1, 0.1, 0.5, 0.5], "b": [0.4, 0.3, 0.8, 0.7], "tri": [[0.1, 0.6], [0.5, 0.6], [0.1, 0.95]]}


class FirstChannel(nn.Module):
    """Identity-like part model: its logit is the input's first channel plus a constant."""

    def __init__(self, offset=0.0, divisor=32):
        super().__init__()
        self.offset, self.divisor = offset, divisor

    def forward(self, x):
        assert x.shape[-2] % self.divisor == 0 and x.shape[-1] % self.divisor == 0, "crop not padded to the divisor"
        return x[:, :1] + self.offset


def merged(overlap="max", margin=0.25, offsets=(0.0, 0.0, 0.0), parts=PARTS):
    model = PartitionedSegmenter({"parts": parts, "margin": margin, "overlap": overlap}, {p: TINY for p in parts})
    for part, offset in zip(parts, offsets):
        model.models[part] = FirstChannel(offset)
    return model


def region_masks(parts, h, w):
    out = {}
    for name, region in FaceRegions(parts).locate(size=(h, w)).items():
        m = np.zeros((h, w), bool)
        r0, r1, c0, c1, inside = region.paste_area(h, w)
        m[r0:r1, c0:c1] = inside
        out[name] = torch.as_tensor(m)
    return out


def test_part_outputs_are_pasted_back_at_their_regions_and_zero_elsewhere():
    x = torch.randn(2, 3, 77, 90)
    out = merged(offsets=(0.0, 0.0, 0.0))(x)
    masks = region_masks(PARTS, 77, 90)
    covered = masks["a"] | masks["b"] | masks["tri"]
    assert out.shape == (2, 1, 77, 90)
    # identity-like parts: inside any region the merged logit is the input pixel itself (no shift, no flip)
    assert torch.equal(out[:, 0][:, covered], x[:, 0][:, covered])
    assert (out[:, 0][:, ~covered] == OUTSIDE_LOGIT).all()
    assert (torch.sigmoid(out[:, 0][:, ~covered]) == 0).all()  # outside every region: probability exactly 0


@pytest.mark.parametrize("overlap", ["max", "mean"])
def test_overlapping_regions_follow_the_rule(overlap):
    x = torch.zeros(1, 3, 60, 60)
    out = merged(overlap, offsets=(-1.0, 2.0, 0.5))(x)[0, 0]
    m = region_masks(PARTS, 60, 60)
    only_a, only_b, both = m["a"] & ~m["b"], m["b"] & ~m["a"] & ~m["tri"], m["a"] & m["b"]
    assert both.any() and (out[only_a] == -1.0).all() and (out[only_b] == 2.0).all()
    p = torch.sigmoid(torch.tensor([-1.0, 2.0]))
    expected = 2.0 if overlap == "max" else torch.logit(p.mean()).item()
    assert torch.allclose(out[both], torch.tensor(expected), atol=1e-5)


def test_the_margin_gives_context_but_only_the_region_is_pasted():
    """A part model that looks at its crop's border: with a margin the pasted values come from inside."""
    class CropMean(nn.Module):
        def forward(self, x):
            return x[:, :1].mean(dim=(-2, -1), keepdim=True).expand_as(x[:, :1]).contiguous()

    x = torch.zeros(1, 3, 100, 100)
    x[..., 5:15, :] = 1.0  # a band in the margin above region a (rows 10..50 -> crop from row 0)
    model = merged(margin=0.25, parts={"a": [0.1, 0.2, 0.5, 0.5]})
    model.models["a"] = CropMean()
    model.divisor = 1  # no padding: the mean is over the crop itself
    out = model(x)[0, 0]
    crop = x[0, 0, 12:58, 0:60]  # box rows 20..50 grown by 7.5 -> 12..58, cols 10..50 grown by 10 -> 0..60
    assert torch.allclose(out[20:50, 10:50], crop.mean().expand(30, 40))
    assert (out[:20] == OUTSIDE_LOGIT).all() and (out[50:] == OUTSIDE_LOGIT).all()


def test_a_real_merged_model_runs_on_odd_sizes_and_trains_end_to_end():
    model = PartitionedSegmenter({"parts": PARTS, "margin": 0.2}, {p: TINY for p in PARTS})
    x = torch.randn(2, 3, 71, 83, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 1, 71, 83)
    out[out > OUTSIDE_LOGIT].sum().backward()
    assert all(p.grad is not None for p in model.models["tri"].parameters() if p.requires_grad)
    state = model.state_dict()
    assert {k.split(".")[1] for k in state} == set(PARTS)  # models.<part>.<weights>


def test_landmark_regions_are_found_per_image():
    class EyesAt:
        landmarks = True

        def __init__(self):
            self.calls = []

        def detect(self, image):
            self.calls.append(image.copy())
            shift = 20.0 * (image.mean() > 100)  # the second (brighter) image's face is 20 px further right
            return [Face((0, 0, 1, 1), 1.0, {"left_eye": (108 + shift, 145.2), "right_eye": (192 + shift, 145.2)})]

    model = merged(parts={"a": [0.4, 0.4, 0.6, 0.6]})
    model.regions.detector = EyesAt()
    images = np.stack([np.full((330, 300, 3), 40, np.uint8), np.full((330, 300, 3), 200, np.uint8)])
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    x = torch.as_tensor(((images / 255.0 - mean) / std).transpose(0, 3, 1, 2), dtype=torch.float32)
    out = model(x)[:, 0] > OUTSIDE_LOGIT
    # the detector saw the de-normalised images
    assert [np.array_equal(c, im) for c, im in zip(model.regions.detector.calls, images)] == [True, True]
    cols = [torch.nonzero(o.any(0)).flatten() for o in out]
    assert cols[1][0] - cols[0][0] == 20 and cols[1][-1] - cols[0][-1] == 20
    assert cols[0][0] == 120 and cols[0][-1] == 179  # template eyes = these eyes: the box is x 0.4..0.6 of 300


def test_bad_model_blocks_are_named():
    with pytest.raises(ValueError, match=r"models: \['nose'\] are not regions"):
        PartitionedSegmenter({"parts": PARTS}, {"nose": TINY})


def test_the_part_overlay_writer_draws_regions_and_the_merged_mask(tmp_path):
    image = np.full((80, 100, 3), 128, np.uint8)
    cv2.imwrite(str(tmp_path / "face.png"), image)
    writer = PartOverlayWriter(tmp_path / "out", {"parts": PARTS}, color=[255, 0, 0], alpha=1.0, labels=False)
    writer.set_threshold(0.5)
    logits = torch.full((1, 1, 80, 100), -5.0)
    logits[..., 15:20, 15:30] = 5.0  # a wrinkle inside region a
    logits[..., 75:78, 85:95] = 5.0  # and one outside every region
    batch = {"meta": {"name": ["face"], "image_path": [str(tmp_path / "face.png")], "size": torch.tensor([[80, 100]])}}
    writer.write(batch, logits)
    assert writer.close()["written"] == 1
    out = cv2.imread(str(tmp_path / "out/parts/face_parts.png"))
    assert out.shape == (80, 100, 3)
    assert tuple(out[17, 20]) == PALETTE[0]  # the wrinkle in part a, in a's colour
    assert tuple(out[76, 90]) == (0, 0, 255)  # outside: the default colour (red, written BGR)
    assert (out[6:11, 30] != 128).any() and (out[6:11, 70] == 128).all()  # a's top edge (y = 8) is outlined
    assert tuple(out[2, 2]) == (128, 128, 128)  # elsewhere the image
