"""Inferers: any input size works and the output matches the input's own pixels."""
import torch
import torch.nn as nn

from model.inference import Direct, SlidingWindow


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
