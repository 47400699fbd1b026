"""Inferers: any input size works, the output matches the input's own pixels, and every inferer gives the
right answer for every kind of output (dense maps, class scores, heads, clips) or refuses it clearly."""
import pytest
import torch
import torch.nn as nn

from model.inference import Direct, SlidingWindow
from model.tta import TTA
from model.video_inference import MultiView


class StrideModel(nn.Module):
    """Needs sizes divisible by 8, like an encoder; output depends on pixels only locally."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, x):
        assert x.shape[-2] % 8 == 0 and x.shape[-1] % 8 == 0, x.shape
        return self.conv(x)


def test_direct_pads_to_the_divisor_and_crops_back():
    torch.manual_seed(0)
    model, x = StrideModel(), torch.randn(2, 3, 37, 45)
    out = Direct(divisor=8)(model, x)
    assert out.shape == (2, 1, 37, 45)
    inner = model.conv(x)[..., 1:-1, 1:-1]  # away from the border, padding changes nothing
    assert torch.allclose(out[..., 1:-1, 1:-1], inner, atol=1e-6)


def test_sliding_window_equals_a_whole_image_pass_for_a_local_model():
    torch.manual_seed(0)
    model = nn.Conv2d(3, 1, 1)  # pointwise: every tile sees the same pixel values
    x = torch.randn(1, 3, 70, 90)
    out = SlidingWindow(window=[32, 40], overlap=0.5, divisor=8)(model, x)
    assert out.shape == (1, 1, 70, 90)
    assert torch.allclose(out, model(x), atol=1e-6)


def test_sliding_window_on_a_small_image_is_a_direct_pass():
    torch.manual_seed(0)
    model, x = StrideModel(), torch.randn(1, 3, 30, 20)
    assert torch.equal(SlidingWindow(window=[64, 64], divisor=8)(model, x), Direct(8)(model, x))


# --- every inferer on every output kind: the right answer, or a clear refusal ----------------------
class Kinds(nn.Module):
    """One small model per output kind the families produce."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.conv = nn.Conv2d(3, 3 if kind == "dense_multi" else 1, 3, padding=1)
        self.fc = nn.Linear(3, 4)

    def forward(self, x):
        if self.kind.startswith("dense"):
            return self.conv(x)
        pooled = x.flatten(2).mean(-1) if x.dim() == 4 else x.mean(dim=(2, 3, 4))
        # not flip-invariant: the left half weighs more, so a flipped view scores differently
        pooled = pooled + x[..., : x.shape[-1] // 2].flatten(2).mean(-1) if x.dim() == 4 else pooled
        logits = self.fc(pooled)
        return {"mask": logits[:, :3], "gender": logits[:, 2:]} if self.kind == "heads" else logits


def _probs(out, dense):
    if dense:
        return torch.sigmoid(out) if out.shape[1] == 1 else out.softmax(1)
    return {k: v.softmax(-1) for k, v in out.items()} if isinstance(out, dict) else out.softmax(-1)


INPUTS = {"dense_binary": (2, 3, 37, 45), "dense_multi": (2, 3, 37, 45), "classes": (2, 3, 37, 45),
          "heads": (2, 3, 37, 45), "video": (2, 3, 4, 20, 22)}


@pytest.mark.parametrize("kind", list(INPUTS))
def test_tta_undoes_its_views_and_averages_probabilities_for_every_output_kind(kind):
    torch.manual_seed(0)
    model, x = Kinds(kind), torch.randn(INPUTS[kind])
    dense = kind.startswith("dense")
    with torch.no_grad():
        got = _probs(TTA(["identity", "hflip"])(model, x), dense)
        a, b = _probs(model(x), dense), _probs(model(x.flip(-1)), dense)
        if dense:
            b = b.flip(-1)  # the flipped view's map, back in place
        expected = {k: (a[k] + b[k]) / 2 for k in a} if isinstance(a, dict) else (a + b) / 2
    for key in (expected if isinstance(expected, dict) else [None]):
        g, e = (got[key], expected[key]) if key else (got, expected)
        assert torch.allclose(g, e, atol=1e-5), kind
    if dense:  # a zoom view only covers the centre; every pixel averages the views that saw it
        with torch.no_grad():
            zoomed = _probs(TTA(["identity", "zoom2"])(model, x), dense)
        assert torch.allclose(zoomed[..., :5, :5], a[..., :5, :5], atol=1e-5)  # corner: identity alone
        with pytest.raises(ValueError, match="seen by no view"):
            TTA(["zoom2"])(model, x)


@pytest.mark.parametrize("kind", list(INPUTS))
def test_multiview_averages_class_scores_and_refuses_maps(kind):
    torch.manual_seed(0)
    model = Kinds(kind)
    sample = INPUTS[kind][1:]
    views = torch.randn(2, 3, *sample)  # 2 samples x 3 views
    infer = MultiView(sample_dims=len(sample))
    if kind.startswith("dense"):
        with pytest.raises(ValueError, match="MultiView averages class scores"):
            infer(model, views)
        return
    with torch.no_grad():
        got = _probs(infer(model, views), False)
        each = [_probs(model(views[:, v]), False) for v in range(3)]
    expected = {k: sum(e[k] for e in each) / 3 for k in each[0]} if kind == "heads" else sum(each) / 3
    for key in (expected if kind == "heads" else [None]):
        g, e = (got[key], expected[key]) if key else (got, expected)
        assert torch.allclose(g, e, atol=1e-5)


@pytest.mark.parametrize("kind", list(INPUTS))
def test_sliding_window_stitches_maps_and_refuses_class_scores(kind):
    torch.manual_seed(0)
    model, x = Kinds(kind), torch.randn(INPUTS[kind])
    infer = SlidingWindow(window=[16, 16], overlap=0.5, divisor=1)
    if not kind.startswith("dense"):
        with pytest.raises(ValueError, match="SlidingWindow stitches dense maps"):
            infer(model, x)
        return
    with torch.no_grad():
        got = infer(model, x)
    assert got.shape == model(x).shape  # 3x3 conv: equal away from the tile borders, same size everywhere


@pytest.mark.parametrize("kind", list(INPUTS))
def test_direct_passes_every_kind_through(kind):
    torch.manual_seed(0)
    model, x = Kinds(kind), torch.randn(INPUTS[kind])
    with torch.no_grad():
        got, expected = Direct()(model, x), model(x)
    for key in (expected if isinstance(expected, dict) else [None]):
        assert torch.equal(got[key] if key else got, expected[key] if key else expected)
