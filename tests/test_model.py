"""Invariants of the CIFAR-style ResNet18: shapes, names, sizes, init and bad input."""
import pytest
import torch
from torch import nn

import lib
from lib.growth.model import BasicBlock, ResNet, ResNetConfig


@pytest.mark.parametrize(
    "num_classes,width,in_channels,resolution",
    [(10, 4, 3, 8), (100, 8, 1, 16), (7, 4, 3, 33), (2, 6, 1, 12)],
)
def test_output_shape_and_attributes(num_classes, width, in_channels, resolution):
    model = lib.resnet18(num_classes=num_classes, width=width, in_channels=in_channels)
    assert isinstance(model, nn.Module)
    assert (model.width, model.num_classes, model.in_channels) == (width, num_classes, in_channels)
    for train in (True, False):
        model.train(train)
        y = model(torch.randn(3, in_channels, resolution, resolution))  # (B, num_classes)
        assert y.shape == (3, num_classes)
        assert torch.isfinite(y).all()


def test_full_size_parameter_count():
    n = sum(p.numel() for p in lib.resnet18().parameters())
    assert n == 11_173_962  # ~11.17M, the usual CIFAR ResNet18


def test_names_follow_torchvision():
    torchvision = pytest.importorskip("torchvision")
    ours = lib.resnet18(width=4).state_dict()
    theirs = torchvision.models.resnet18(weights=None, num_classes=10).state_dict()
    assert set(ours) == set(theirs)


@pytest.mark.parametrize("width", [4, 64])
def test_stage_widths_strides_and_no_bias(width):
    model = lib.resnet18(width=width)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    for s, layer in enumerate([model.layer1, model.layer2, model.layer3, model.layer4]):
        assert len(layer) == 2
        assert layer[0].conv1.out_channels == width * 2**s
        assert layer[0].conv1.stride == ((1, 1) if s == 0 else (2, 2))
        assert (layer[0].downsample is None) == (s == 0)
        assert layer[1].downsample is None
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1 + 16 + 3
    assert all(m.bias is None for m in convs)
    assert model.fc.in_features == 8 * width


def test_stem_keeps_resolution():
    model = lib.resnet18(width=4).eval()
    x = torch.randn(2, 3, 16, 16)
    assert model.bn1(model.conv1(x)).shape == (2, 4, 16, 16)
    features = model.layer4(model.layer3(model.layer2(model.layer1(model.conv1(x)))))
    assert features.shape == (2, 32, 2, 2)


def test_standard_init():
    model = lib.resnet18(width=8)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.equal(m.weight, torch.ones_like(m.weight))
            assert torch.equal(m.bias, torch.zeros_like(m.bias))
    w = model.layer4[1].conv2.weight  # (64, 64, 3, 3): kaiming fan_out, std = sqrt(2 / (64 * 9))
    assert abs(w.std().item() / (2 / (64 * 9)) ** 0.5 - 1) < 0.1


def test_zero_init_residual_starts_every_block_as_its_shortcut():
    torch.manual_seed(0)
    model = lib.resnet18(width=4, zero_init_residual=True).train()
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 8
    for block in blocks:
        assert torch.equal(block.bn2.weight, torch.zeros_like(block.bn2.weight))
        assert torch.equal(block.bn1.weight, torch.ones_like(block.bn1.weight))
        x = torch.randn(4, block.conv1.in_channels, 8, 8)
        shortcut = x if block.downsample is None else block.downsample(x)
        torch.testing.assert_close(block(x), torch.relu(shortcut))
    assert model.config.zero_init_residual
    default = lib.resnet18(width=4)
    assert not default.config.zero_init_residual
    assert torch.equal(default.layer1[0].bn2.weight, torch.ones(4))
    model(torch.randn(4, 3, 8, 8)).logsumexp(1).sum().backward()  # the zero scales still learn
    assert all(b.bn2.weight.grad.abs().sum() > 0 for b in blocks)


def test_every_parameter_gets_gradient():
    model = lib.resnet18(width=4, in_channels=1).train()
    model(torch.randn(4, 1, 8, 8)).logsumexp(1).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "kwargs,bad",
    [({"width": 0}, "0"), ({"width": True}, "True"), ({"width": 1.5}, "1.5"),
     ({"num_classes": 0}, "0"), ({"in_channels": -1}, "-1"), ({"width": "8"}, "'8'"),
     ({"zero_init_residual": 1}, "zero_init_residual must be a bool")],
)
def test_bad_config_raises(kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        lib.resnet18(**kwargs)


def test_config_dataclass():
    config = ResNetConfig(num_classes=5, width=6, in_channels=1)
    assert config.stage_widths == (6, 12, 24, 48)
    assert ResNet(config).config == config
