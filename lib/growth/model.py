"""CIFAR-style ResNet18 of any width: the network whose parameters growth reshapes."""
from dataclasses import dataclass

import torch
from torch import nn


def check_positive_int(name, value):
    """Raise ValueError unless `value` is a positive int (bool and 12.0 are rejected)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


@dataclass(frozen=True)
class ResNetConfig:
    num_classes: int = 10  # logits
    width: int = 64  # channels of stage 1; stages 2-4 have 2x, 4x, 8x
    in_channels: int = 3  # image channels (1 grey, 3 RGB)
    zero_init_residual: bool = False  # each block's last BN scale starts at 0, so every block starts as its shortcut

    def __post_init__(self):
        for name in ("num_classes", "width", "in_channels"):
            check_positive_int(name, getattr(self, name))
        if not isinstance(self.zero_init_residual, bool):
            raise ValueError(f"zero_init_residual must be a bool, got {self.zero_init_residual!r}")

    @property
    def stage_widths(self):
        return tuple(self.width * 2**s for s in range(4))


def _conv3x3(c_in, c_out, stride):
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual add; a 1x1 conv + BN projection when the shape changes."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = _conv3x3(c_in, c_out, stride)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = _conv3x3(c_out, c_out, 1)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        # torchvision's name for the projection shortcut, so state dicts line up
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):  # x: (B, c_in, H, W)
        identity = x if self.downsample is None else self.downsample(x)  # (B, c_out, H/s, W/s)
        out = self.relu(self.bn1(self.conv1(x)))  # (B, c_out, H/s, W/s)
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """3x3 stem (stride 1, no max-pool), four stages of two BasicBlocks, avg-pool, linear head."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        w1, w2, w3, w4 = config.stage_widths
        self.conv1 = _conv3x3(config.in_channels, w1, 1)
        self.bn1 = nn.BatchNorm2d(w1)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._stage(w1, w1, 1)
        self.layer2 = self._stage(w1, w2, 2)
        self.layer3 = self._stage(w2, w3, 2)
        self.layer4 = self._stage(w3, w4, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w4, config.num_classes)
        # torchvision's init: kaiming (fan_out) convs, BN as identity, PyTorch default for fc
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if config.zero_init_residual:  # Goyal et al. 2017, torchvision's zero_init_residual: a residual branch
            for m in self.modules():   # starts silent, which steadies the first steps at a large learning rate
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    @staticmethod
    def _stage(c_in, c_out, stride):
        return nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1))

    @property
    def width(self):
        return self.config.width

    @property
    def num_classes(self):
        return self.config.num_classes

    @property
    def in_channels(self):
        return self.config.in_channels

    def forward(self, x):  # x: (B, in_channels, H, W), H and W >= 8 px
        x = self.relu(self.bn1(self.conv1(x)))  # (B, w, H, W)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 8w, H/8, W/8)
        x = torch.flatten(self.avgpool(x), 1)  # (B, 8w)
        return self.fc(x)  # (B, num_classes)


def resnet18(num_classes=10, width=64, in_channels=3, zero_init_residual=False):
    """CIFAR-style ResNet18; width=64 is the full size (11.17M params for 10 classes)."""
    return ResNet(ResNetConfig(num_classes=num_classes, width=width, in_channels=in_channels,
                               zero_init_residual=zero_init_residual))
