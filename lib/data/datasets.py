"""The per-dataset table and the one entry point that loads a split as uint8 tensors."""
from dataclasses import dataclass
from pathlib import Path

import torch

from . import formats
from ..errors import UserError
from .tinyimagenet import read_tinyimagenet


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
    url: str = ""  # official archive (or, for Fashion-MNIST, torchvision's mirror)
    md5: str = ""  # of the archive at url; empty where torchvision checks each file itself


DATASETS = {
    "cifar10": DatasetSpec("cifar10", 10, 3, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 4, True, "cifar-10-batches-py",
                           url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", md5="c58f30108f718f92721af3b95e74349a"),
    "cifar100": DatasetSpec("cifar100", 100, 3, 32, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), 4, True, "cifar-100-python",
                            url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", md5="eb9058c3a382ffc7106e4002c42a8d85"),
    "fashionmnist": DatasetSpec("fashionmnist", 10, 1, 28, (0.2860,), (0.3530,), 4, True, "FashionMNIST/raw",
                                url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
    "tinyimagenet": DatasetSpec("tinyimagenet", 200, 3, 64, (0.4802, 0.4481, 0.3975), (0.2770, 0.2691, 0.2821), 8, True, "tiny-imagenet-200",
                                url="http://cs231n.stanford.edu/tiny-imagenet-200.zip", md5="90528d7ca1a48142e341f4ef8d21d0de"),
}

# name -> (folder, spec) -> (train_x, train_y, test_x, test_y)
_READERS = {
    "cifar10": formats.read_cifar10,
    "cifar100": formats.read_cifar100,
    "fashionmnist": formats.read_fashionmnist,
    "tinyimagenet": read_tinyimagenet,
}
# name -> (spec, data_root) -> None; leaves data_root/spec.folder in place
_DOWNLOADERS = {
    "cifar10": formats.download_archive,
    "cifar100": formats.download_archive,
    "fashionmnist": formats.download_fashionmnist,
    "tinyimagenet": formats.download_archive,
}


@dataclass
class DataSplits:
    train_x: torch.Tensor  # [N, C, H, W] uint8, contiguous, CPU
    train_y: torch.Tensor  # [N] int64
    test_x: torch.Tensor  # [M, C, H, W] uint8
    test_y: torch.Tensor  # [M] int64
    spec: DatasetSpec


def get_spec(name):
    """Table entry for `name`, or a UserError listing the known names."""
    if name not in DATASETS:
        raise UserError(f"Unknown dataset {name!r}; choose one of {', '.join(sorted(DATASETS))}.")
    return DATASETS[name]


def download_dataset(name, data_root):
    """Fetch the official files of `name` into data_root (md5-checked), leaving data_root/spec.folder."""
    spec = get_spec(name)
    root = Path(data_root).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"Cannot create data folder {root} ({e}); pass a writable --data_root.") from None
    _DOWNLOADERS[name](spec, root)
    if not (root / spec.folder).is_dir():
        raise UserError(f"Downloaded {spec.url} but {root / spec.folder} did not appear; unpack the archive by hand "
                        f"so that this folder exists.")


def _check_split(x, y, spec, folder, split):
    """Shapes, dtypes and label range of one split, as a UserError naming the folder."""
    shape = (spec.in_channels, spec.resolution, spec.resolution)
    if x.dtype != torch.uint8 or x.dim() != 4 or tuple(x.shape[1:]) != shape:
        raise UserError(f"{folder}: {split} images are {x.dtype} {tuple(x.shape)}, expected uint8 [N, {shape[0]}, "
                        f"{shape[1]}, {shape[2]}]; the files do not match {spec.name}.")
    if y.shape != (len(x),):
        raise UserError(f"{folder}: {len(x)} {split} images but {len(y)} labels; the files are inconsistent.")
    if not len(y):
        raise UserError(f"{folder}: the {split} split holds no images; the files are empty or truncated, so "
                        f"fetch {spec.name} again (--download into an empty --data_root).")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= spec.num_classes):
        raise UserError(f"{folder}: {split} labels span {int(y.min())}..{int(y.max())}, outside 0..{spec.num_classes - 1} "
                        f"for {spec.name}; the files are corrupted or belong to another dataset.")


def _holder_of(root, dataset_folder):
    """(the folder that holds dataset_folder, whether root is only a part of it) when root is dataset_folder or
    one of its leading parts (FashionMNIST of FashionMNIST/raw) and the dataset is there; (None, False) otherwise."""
    parts = Path(dataset_folder).parts
    for k in range(len(parts), 0, -1):
        if root.parts[-k:] == parts[:k] and (root.parents[k - 1] / dataset_folder).is_dir():
            return root.parents[k - 1], k < len(parts)
    return None, False


def load_dataset(name, data_root, download=False):
    """Read a whole dataset from data_root/spec.folder (downloading it first if asked and missing) -> DataSplits."""
    spec = get_spec(name)
    root = Path(data_root).expanduser()
    folder = root / spec.folder
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} is a file, not the dataset's folder; move it aside and put {spec.name}'s folder "
                        f"there (or run with --download), or point --data_root elsewhere.")
    if not folder.is_dir():
        holder, part = _holder_of(root, spec.folder)
        if holder is not None:  # --data_root names the dataset's folder itself (or, for FashionMNIST/raw, a part)
            raise UserError(f"--data_root {data_root} is {'part of ' if part else ''}{spec.name}'s own folder; "
                            f"give the folder that holds it: --data_root {holder}")
        if not download:
            raise UserError(f"Dataset folder {folder} does not exist; run with --download to fetch {spec.name}, "
                            f"or point --data_root at the folder that holds {spec.folder}.")
        download_dataset(name, data_root)
    train_x, train_y, test_x, test_y = _READERS[name](folder, spec)
    _check_split(train_x, train_y, spec, folder, "train")
    _check_split(test_x, test_y, spec, folder, "test")
    return DataSplits(train_x.contiguous(), train_y.to(torch.int64), test_x.contiguous(), test_y.to(torch.int64), spec)


def balanced_indices(y, n, seed):
    """Indices (int64, CPU) of a seeded class-balanced subset of n examples: n // classes per class present
    in y, the remainder one each to the lowest class ids; in a seeded random order."""
    if n < 1 or n > len(y):
        raise UserError(f"Cannot take a subset of {n} examples from {len(y)}; choose a subset size from 1 to {len(y)}.")
    classes, counts = torch.unique(y, return_counts=True)
    per_class, remainder = divmod(n, len(classes))
    generator = torch.Generator().manual_seed(seed)
    picks = []
    for i, (label, count) in enumerate(zip(classes.tolist(), counts.tolist())):
        want = per_class + (i < remainder)
        if want > count:
            raise UserError(f"Class {label} has only {count} examples but a balanced subset of {n} needs {want}; "
                            f"choose a subset size of at most {int(counts.min()) * len(classes)}.")
        members = torch.nonzero(y.cpu() == label).flatten()
        picks.append(members[torch.randperm(count, generator=generator)[:want]])
    index = torch.cat(picks)
    return index[torch.randperm(len(index), generator=generator)]


def balanced_subset(x, y, n, seed):
    """(x, y) of a seeded class-balanced subset of n examples (see balanced_indices)."""
    index = balanced_indices(y, n, seed)
    return x[index.to(x.device)], y[index.to(y.device)]
