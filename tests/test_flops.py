"""The analytic FLOPs count agrees with torch's FlopCounterMode (convs and linear layers)."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import lib


def _counted_flops(width, resolution, in_channels, num_classes, batch=2):
    model = lib.resnet18(num_classes=num_classes, width=width, in_channels=in_channels).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randn(batch, in_channels, resolution, resolution))
    return counter.get_total_flops() / batch


@pytest.mark.parametrize(
    "width,resolution,in_channels,num_classes",
    [(4, 8, 3, 10), (8, 16, 1, 10), (6, 12, 3, 100), (4, 9, 1, 7), (64, 32, 3, 10)],
)
def test_matches_flop_counter(width, resolution, in_channels, num_classes):
    expected = _counted_flops(width, resolution, in_channels, num_classes)
    assert lib.flops_per_image(width, resolution, in_channels, num_classes) == expected


def test_full_size_value():
    # CIFAR ResNet18 at 32 px: ~0.56 G multiply-adds, i.e. ~1.11 GFLOPs per image
    assert abs(lib.flops_per_image(64, 32) / 1.1142e9 - 1) < 0.01


def test_scaling_and_train_multiplier():
    base = lib.flops_per_image(16, 16)
    assert 3.9 < lib.flops_per_image(32, 16) / base < 4.0  # quadratic in width (head is linear)
    assert lib.flops_per_image(16, 32) / base == pytest.approx(4, rel=0.01)  # quadratic in side
    assert lib.flops_per_image(16, (16, 32)) / base == pytest.approx(2, rel=0.01)
    assert lib.train_flops_per_image(16, 16) == 3 * base


@pytest.mark.parametrize(
    "kwargs,bad",
    [({"width": 0}, "0"), ({"width": False}, "False"), ({"resolution": 0}, "0"),
     ({"resolution": 16.0}, "16.0"), ({"in_channels": 0}, "0")],
)
def test_bad_input_raises(kwargs, bad):
    args = {"width": 8, "resolution": 16, **kwargs}
    with pytest.raises(ValueError, match=bad):
        lib.flops_per_image(**args)
