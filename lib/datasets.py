"""The per-dataset table and the one entry point that loads a split as uint8 tensors."""
from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    num_classes: int
    in_channels: int
    resolution: int  # px, side of the stored square images
    mean: tuple  # per channel, in [0, 1] units
    std: tuple  # per channel, in [0, 1] units
    crop_pad: int  # px of reflect/zero padding for the random crop
    flip: bool  # random horizontal flip makes sense for this data
    folder: str  # folder under data_root that holds the files


DATASETS = {
    "cifar10": DatasetSpec("cifar10", 10, 3, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 4, True, "cifar-10-batches-py"),
    "cifar100": DatasetSpec("cifar100", 100, 3, 32, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), 4, True, "cifar-100-python"),
    "fashionmnist": DatasetSpec("fashionmnist", 10, 1, 28, (0.2860,), (0.3530,), 4, True, "FashionMNIST/raw"),
    "tinyimagenet": DatasetSpec("tinyimagenet", 200, 3, 64, (0.4802, 0.4481, 0.3975), (0.2770, 0.2691, 0.2821), 8, True, "tiny-imagenet-200"),
}
