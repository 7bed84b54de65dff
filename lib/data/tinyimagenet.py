"""Tiny ImageNet reader: JPEG folder tree -> uint8 tensors, decoded once and cached beside the data."""
import hashlib
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image

from ..errors import UserError
from ..records import atomic_open
from .formats import absent

# Bump the version when the cached layout or decoding changes; old caches are then ignored.
CACHE_NAME = ".cache_uint8_v1.npz"
CACHE_VERSION = 1
JPEG_SUFFIXES = (".jpeg", ".jpg")
DECODE_THREADS = min(16, os.cpu_count() or 1)  # PIL releases the GIL while decoding
_REPLACE_HINT = "replace it with the original, or delete tiny-imagenet-200 and run again with --download"


def _refetch_hint(folder):
    return f"delete {folder} and run again with --download, or re-extract tiny-imagenet-200.zip there"


def _read_text(path, folder, what):
    if not path.is_file():
        raise UserError(f"{absent(path, what + ' file')}; {_refetch_hint(folder)}.")
    return path.read_text(encoding="utf-8", errors="replace")


def _read_wnids(folder, spec):
    """Sorted class ids; a class's label is its position in this sorted list (as torchvision's ImageFolder)."""
    wnids = sorted({line.strip() for line in _read_text(folder / "wnids.txt", folder, "class list").splitlines()} - {""})
    if not 1 <= len(wnids) <= spec.num_classes:
        raise UserError(f"{folder / 'wnids.txt'} lists {len(wnids)} classes, expected 1 to {spec.num_classes}; "
                        f"{_refetch_hint(folder)}.")
    return wnids


def _list_train(folder, wnids):
    """-> (paths, labels) of train/<wnid>/images/*.JPEG, in sorted order."""
    paths, labels = [], []
    for label, wnid in enumerate(wnids):
        image_dir = folder / "train" / wnid / "images"
        if not image_dir.is_dir():
            raise UserError(f"Missing training folder {image_dir} for class {wnid} listed in wnids.txt; "
                            f"{_refetch_hint(folder)}.")
        names = sorted(e.name for e in os.scandir(image_dir) if e.name.lower().endswith(JPEG_SUFFIXES))
        paths += [image_dir / n for n in names]
        labels += [label] * len(names)
    return paths, labels


def _list_val(folder, wnids):
    """-> (paths, labels) from val/val_annotations.txt (tab-separated: file, wnid, bbox x4)."""
    annotations = folder / "val" / "val_annotations.txt"
    index = {wnid: i for i, wnid in enumerate(wnids)}
    paths, labels = [], []
    for line_no, line in enumerate(_read_text(annotations, folder, "validation label").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in index:
            raise UserError(f"{annotations} line {line_no} is {line[:80]!r}: expected 'file<TAB>wnid<TAB>...' with a "
                            f"wnid from wnids.txt; {_refetch_hint(folder)}.")
        paths.append(folder / "val" / "images" / fields[0])
        labels.append(index[fields[1]])
    return paths, labels


def _fingerprint(folder, train_paths, val_paths):
    """Small summary of the file list that changes when files are added, removed or relabelled."""
    digest = hashlib.sha1()
    for name in ("wnids.txt", os.path.join("val", "val_annotations.txt")):
        digest.update((folder / name).read_bytes())
    for path in train_paths:
        digest.update(path.name.encode())
    return {"version": CACHE_VERSION, "num_files": len(train_paths) + len(val_paths), "sha1": digest.hexdigest()}


def _newest_mtime(folder, wnids):
    """Latest modification time (s) of the label files and image folders the cache was built from."""
    paths = [folder / "wnids.txt", folder / "val" / "val_annotations.txt", folder / "val" / "images"]
    paths += [folder / "train" / w / "images" for w in wnids]
    return max(p.stat().st_mtime for p in paths if p.exists())


def _decode_jpeg(path, resolution):
    """One JPEG -> uint8 [R, R, 3]; grayscale (and CMYK) files are converted to RGB."""
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as e:  # UnidentifiedImageError is an OSError
        raise UserError(f"Cannot decode image {path} ({type(e).__name__}: {e}); {_REPLACE_HINT}.") from None
    if pixels.shape != (resolution, resolution, 3):
        raise UserError(f"Image {path} is {pixels.shape[1]}x{pixels.shape[0]} px, expected {resolution}x{resolution}; "
                        f"{_REPLACE_HINT}.")
    return pixels


def _decode_all(paths, resolution):
    """Decode JPEGs in a thread pool -> uint8 [N, 3, R, R]."""
    out = np.empty((len(paths), resolution, resolution, 3), dtype=np.uint8)  # [N, R, R, 3], filled in place

    def decode_into(i):
        out[i] = _decode_jpeg(paths[i], resolution)

    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        list(pool.map(decode_into, range(len(paths))))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()  # [N, 3, R, R]


def _load_cache(path, fingerprint, newest):
    """-> (train_x, train_y, test_x, test_y) from a matching, up-to-date cache, else None."""
    if not path.is_file() or path.stat().st_mtime < newest:
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if json.loads(str(z["fingerprint"])) != fingerprint:
                return None
            return tuple(torch.from_numpy(z[k]) for k in ("train_x", "train_y", "test_x", "test_y"))
    except (OSError, ValueError, KeyError, EOFError) as e:  # a damaged cache is rebuilt, not fatal
        if _is_cache(path):  # another file of that name: _save_cache says why it is left alone
            warnings.warn(f"Ignoring unreadable cache {path} ({type(e).__name__}: {e}); decoding the JPEGs again.")
        return None


def _is_cache(path):
    """True when path is a cache _save_cache wrote (an .npz archive holding a fingerprint)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return "fingerprint" in z.files
    except (OSError, ValueError, EOFError, TypeError):  # a folder, unreadable, not an .npz archive
        return False


def _save_cache(path, fingerprint, splits):
    """Write the cache atomically, only over an older cache; warn and go on if the folder is read-only."""
    if os.path.lexists(path) and not _is_cache(path):
        warnings.warn(f"{path} is not a decoded-image cache of this project, so it is left as it is and Tiny ImageNet "
                      f"will be decoded again on every run; move it away to let the cache be written.")
        return
    arrays = dict(zip(("train_x", "train_y", "test_x", "test_y"), (t.numpy() for t in splits)))
    try:
        with atomic_open(path, "wb") as f:
            np.savez(f, fingerprint=np.array(json.dumps(fingerprint, sort_keys=True)), **arrays)
    except OSError as e:
        warnings.warn(f"Cannot write the decoded-image cache {path} ({e}); Tiny ImageNet will be decoded again on the "
                      f"next run. Make {path.parent} writable to cache it.")


def read_tinyimagenet(folder, spec):
    """tiny-imagenet-200/ -> (train_x, train_y, test_x, test_y); the labelled val split serves as the test set."""
    wnids = _read_wnids(folder, spec)
    train_paths, train_labels = _list_train(folder, wnids)
    val_paths, val_labels = _list_val(folder, wnids)
    fingerprint = _fingerprint(folder, train_paths, val_paths)
    cache = folder / CACHE_NAME
    cached = _load_cache(cache, fingerprint, _newest_mtime(folder, wnids))
    if cached is not None:
        return cached
    splits = (_decode_all(train_paths, spec.resolution), torch.tensor(train_labels, dtype=torch.int64),
              _decode_all(val_paths, spec.resolution), torch.tensor(val_labels, dtype=torch.int64))
    _save_cache(cache, fingerprint, splits)
    return splits
