"""The model and its growth: CIFAR ResNet18, widening surgery with weight inheritance, FLOPs."""
from .model import ResNet, ResNetConfig, resnet18
from .grow import GROWTH_RULES, widen, widen_resnet
from .flops import flops_per_image, train_flops_per_image
from .shrink import shrink_perturb

__all__ = [
    "ResNet", "ResNetConfig", "resnet18", "GROWTH_RULES", "widen", "widen_resnet", "flops_per_image",
    "train_flops_per_image", "shrink_perturb",
]
