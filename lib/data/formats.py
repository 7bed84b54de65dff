"""Readers for the CIFAR pickle and Fashion-MNIST idx formats, and the dataset downloaders."""
import gzip
import pickle
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError

CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILES = ("test_batch",)
CIFAR100_TRAIN_FILES = ("train",)
CIFAR100_TEST_FILES = ("test",)
# idx magic number = 0x08 (unsigned byte) << 8 | number of dimensions
IDX_UBYTE_TYPE = 0x08
FASHIONMNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# The only globals a CIFAR pickle needs: numpy array reconstruction (numpy 1.x and 2.x names).
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


def _refetch_hint(folder):
    return f"delete {folder} and run again with --download, or put the official file there by hand"


def absent(path, what="file"):
    """Why `path` cannot be read as a file: missing, or something else (a folder) in its place."""
    if path.exists():
        return f"{path} is a {'folder' if path.is_dir() else 'special file'}, not a {what}"
    return f"Missing {what} {path}"


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that builds numpy arrays and plain containers only, never arbitrary objects."""

    def find_class(self, module, name):
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(f"unexpected global {module}.{name}")
        return super().find_class(module, name)


def _load_cifar_pickle(path, folder):
    """One CIFAR batch file -> dict with str keys (the originals are Python 2 pickles; bytes keys also accepted)."""
    if not path.is_file():
        raise UserError(f"{absent(path)}; {_refetch_hint(folder)}.")
    try:
        with open(path, "rb") as f:
            obj = _ArrayOnlyUnpickler(f, encoding="latin1").load()
    # corrupted pickles raise many types (EOFError, UnpicklingError, ValueError, struct.error, ...)
    except Exception as e:
        raise UserError(f"{path} is not a readable CIFAR pickle ({type(e).__name__}: {e}); {_refetch_hint(folder)}.") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path} holds a {type(obj).__name__}, not a CIFAR batch dict; {_refetch_hint(folder)}.")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _read_cifar_batches(folder, files, label_key, spec):
    """Concatenate CIFAR batch files -> (x uint8 [N, C, R, R], y int64 [N])."""
    width = spec.in_channels * spec.resolution * spec.resolution  # bytes per image: R,G,B planes row-major
    xs, ys = [], []
    for name in files:
        path = folder / name
        batch = _load_cifar_pickle(path, folder)
        missing = [k for k in ("data", label_key) if k not in batch]
        if missing:
            raise UserError(f"{path} lacks the key(s) {missing} (has {sorted(batch)}); {_refetch_hint(folder)}.")
        data, labels = batch["data"], np.asarray(batch[label_key])
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != width:
            got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
            raise UserError(f"{path}: 'data' is {got}, expected uint8 (N, {width}); {_refetch_hint(folder)}.")
        if labels.shape != (len(data),) or (labels.size and labels.dtype.kind not in "iu"):
            raise UserError(f"{path}: '{label_key}' is {labels.dtype} {labels.shape}, expected {len(data)} integers; "
                            f"{_refetch_hint(folder)}.")
        xs.append(torch.from_numpy(np.ascontiguousarray(data)).view(-1, spec.in_channels, spec.resolution, spec.resolution))
        ys.append(torch.from_numpy(labels.astype(np.int64)))
    return torch.cat(xs), torch.cat(ys)  # [N, C, R, R] uint8, [N] int64


def read_cifar10(folder, spec):
    """cifar-10-batches-py/ -> (train_x, train_y, test_x, test_y)."""
    return (*_read_cifar_batches(folder, CIFAR10_TRAIN_FILES, "labels", spec),
            *_read_cifar_batches(folder, CIFAR10_TEST_FILES, "labels", spec))


def read_cifar100(folder, spec):
    """cifar-100-python/ -> (train_x, train_y, test_x, test_y) with the 100 fine labels."""
    return (*_read_cifar_batches(folder, CIFAR100_TRAIN_FILES, "fine_labels", spec),
            *_read_cifar_batches(folder, CIFAR100_TEST_FILES, "fine_labels", spec))


def _read_idx_bytes(path, folder):
    """Raw bytes of an idx file, or of its .gz twin when only that exists."""
    gz = path.with_name(path.name + ".gz")
    try:
        if path.is_file():
            return path.read_bytes()
        if gz.is_file():
            with gzip.open(gz, "rb") as f:
                return f.read()
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError; a cut .gz gives EOFError
        raise UserError(f"Cannot read {path} or {gz} ({type(e).__name__}: {e}); {_refetch_hint(folder)}.") from None
    raise UserError(f"{absent(path)} (no {gz.name} either); {_refetch_hint(folder)}.")


def _read_idx(path, ndim, folder):
    """Parse an unsigned-byte idx file with `ndim` dimensions -> numpy uint8 array."""
    raw = _read_idx_bytes(path, folder)
    header = 4 * (ndim + 1)  # bytes: magic + one big-endian uint32 per dimension
    expected_magic = IDX_UBYTE_TYPE << 8 | ndim
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if magic != expected_magic:
        got = "too short for a header" if magic is None else f"magic number {magic:#010x}"
        raise UserError(f"{path} is not an idx file of {ndim}-d unsigned bytes ({got}, expected "
                        f"{expected_magic:#010x}); {_refetch_hint(folder)}.")
    if len(raw) < header:
        raise UserError(f"{path} is truncated inside its header; {_refetch_hint(folder)}.")
    dims = tuple(int.from_bytes(raw[4 * i:4 * i + 4], "big") for i in range(1, ndim + 1))
    if len(raw) != header + int(np.prod(dims)):
        raise UserError(f"{path} holds {len(raw) - header} data bytes but its header {dims} needs "
                        f"{int(np.prod(dims))} (truncated or corrupted); {_refetch_hint(folder)}.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _read_fashionmnist_split(folder, split, spec):
    image_name, label_name = FASHIONMNIST_FILES[split]
    images = _read_idx(folder / image_name, 3, folder)  # [N, 28, 28]
    labels = _read_idx(folder / label_name, 1, folder)  # [N]
    if images.shape[1:] != (spec.resolution, spec.resolution) or len(images) != len(labels):
        raise UserError(f"{folder}: {image_name} has shape {images.shape} but {label_name} has {len(labels)} labels "
                        f"(expected N x {spec.resolution} x {spec.resolution} and N labels); {_refetch_hint(folder)}.")
    x = torch.from_numpy(images.copy()).unsqueeze(1)  # [N, 1, 28, 28] uint8
    return x, torch.from_numpy(labels.astype(np.int64))


def read_fashionmnist(folder, spec):
    """FashionMNIST/raw/ (torchvision layout, plain or .gz idx files) -> (train_x, train_y, test_x, test_y)."""
    return (*_read_fashionmnist_split(folder, "train", spec), *_read_fashionmnist_split(folder, "test", spec))


def _download_failed(url, error, spec, data_root):
    return UserError(f"Downloading {spec.name} from {url} failed ({type(error).__name__}: {error}). Check the network, "
                     f"or fetch it by hand and unpack it so that {Path(data_root) / spec.folder} holds the files, "
                     f"then run again without --download (pass --data_root if it lives elsewhere).")


def download_archive(spec, data_root):
    """Fetch spec.url into data_root, check its md5 and unpack it there (torchvision's utility)."""
    from torchvision.datasets.utils import download_and_extract_archive  # slow import, only when downloading

    try:
        download_and_extract_archive(spec.url, download_root=str(data_root), md5=spec.md5)
    except (OSError, RuntimeError, ValueError) as e:  # URLError is an OSError; md5 mismatch is a RuntimeError
        raise _download_failed(spec.url, e, spec, data_root) from None


def download_fashionmnist(spec, data_root):
    """Fetch Fashion-MNIST with torchvision's own class, which writes data_root/FashionMNIST/raw/."""
    from torchvision.datasets import FashionMNIST  # slow import, only when downloading

    try:
        FashionMNIST(str(data_root), train=True, download=True)
    except (OSError, RuntimeError, ValueError) as e:  # torchvision reports failed mirrors as RuntimeError
        raise _download_failed(spec.url, e, spec, data_root) from None
