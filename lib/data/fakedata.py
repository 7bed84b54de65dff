"""Tiny, easily separable datasets written in each dataset's real on-disk format (for tests and smoke runs)."""
import os
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from .datasets import get_spec
from ..errors import UserError
from .formats import CIFAR10_TRAIN_FILES, FASHIONMNIST_FILES

CIFAR10_LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR100_FINE_PER_COARSE = 5  # the real set groups its 100 fine classes into 20 superclasses of 5
PICKLE_PROTOCOL = 2  # the originals are Python 2 pickles
NOISE_STD = 12.0  # grey levels of per-pixel noise on top of each class's pattern
STRIPE_AMPLITUDE = 30.0  # grey levels
GRAYSCALE_EVERY = 7  # every 7th Tiny ImageNet training JPEG is stored grayscale, as some real ones are
FAKE_TEST_IMAGES = 3  # unlabelled Tiny ImageNet test/ images, ignored by the reader but present in the real tree


def _class_palette(num_classes, channels, resolution, rng):
    """Per-class look shared by all splits -> (mean colour [K, C], stripe profile [K, R]) in grey levels.

    Horizontal stripes of a class-specific period survive left-right flips and small crops, so a few epochs
    of training separate the classes.
    """
    # Spread class colours over 40..215 in a seeded order so that even 1-channel classes differ by > 15 levels.
    levels = 40 + 175 * np.stack([rng.permutation(num_classes) for _ in range(channels)], 1) / max(num_classes - 1, 1)
    periods = 2 + np.arange(num_classes) % 7  # px per stripe cycle
    rows = np.arange(resolution)
    stripes = STRIPE_AMPLITUDE * np.sign(np.sin(2 * np.pi * rows[None, :] / periods[:, None] + 0.1))  # [K, R]
    return levels, stripes


def _class_images(labels, palette, rng):
    """Noisy images in their class's colour and stripes -> uint8 [N, C, R, R]."""
    levels, stripes = palette
    mean = (levels[labels][:, :, None, None] + stripes[labels][:, None, :, None]).astype(np.float32)  # [N, C, R, 1]
    shape = (len(labels), levels.shape[1], stripes.shape[1], stripes.shape[1])
    image = rng.standard_normal(shape, dtype=np.float32)  # [N, C, R, R], float32 keeps big fakes fast
    image *= NOISE_STD
    image += mean
    return np.clip(image, 0, 255, out=image).round().astype(np.uint8)


def _labels(num_classes, per_class, rng):
    """per_class labels for each class, shuffled as in the real files. -> int64 [K * per_class]."""
    return rng.permutation(np.repeat(np.arange(num_classes), per_class))


def _dump(obj, path):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=PICKLE_PROTOCOL)


def _write_cifar10(folder, spec, palette, train_per_class, test_per_class, rng):
    num_classes = len(palette[0])
    names = CIFAR10_LABEL_NAMES
    splits = [("training", CIFAR10_TRAIN_FILES, _labels(num_classes, train_per_class, rng)),
              ("testing", ("test_batch",), _labels(num_classes, test_per_class, rng))]
    for kind, files, labels in splits:
        images = _class_images(labels, palette, rng)
        for i, (name, idx) in enumerate(zip(files, np.array_split(np.arange(len(labels)), len(files))), 1):
            _dump({"batch_label": f"{kind} batch {i} of {len(files)}", "labels": labels[idx].tolist(),
                   "data": images[idx].reshape(len(idx), -1),
                   "filenames": [f"{names[labels[j]]}_s_{j:06d}.png" for j in idx]}, folder / name)
    _dump({"num_cases_per_batch": train_per_class * num_classes // len(CIFAR10_TRAIN_FILES), "label_names": names,
           "num_vis": 3 * spec.resolution ** 2}, folder / "batches.meta")


def _write_cifar100(folder, spec, palette, train_per_class, test_per_class, rng):
    num_classes = len(palette[0])
    fine_names = [f"fine_class_{i:03d}" for i in range(spec.num_classes)]
    for name, per_class in (("train", train_per_class), ("test", test_per_class)):
        labels = _labels(num_classes, per_class, rng)
        images = _class_images(labels, palette, rng)
        _dump({"filenames": [f"{fine_names[k]}_s_{j:06d}.png" for j, k in enumerate(labels)],
               "batch_label": f"{'training' if name == 'train' else 'testing'} batch 1 of 1",
               "fine_labels": labels.tolist(), "coarse_labels": (labels // CIFAR100_FINE_PER_COARSE).tolist(),
               "data": images.reshape(len(labels), -1)}, folder / name)
    coarse_names = [f"coarse_class_{i:02d}" for i in range(spec.num_classes // CIFAR100_FINE_PER_COARSE)]
    _dump({"fine_label_names": fine_names, "coarse_label_names": coarse_names}, folder / "meta")


def _idx_bytes(array):
    """uint8 array -> idx file bytes: magic 0x00000800 | ndim, big-endian uint32 dims, then the data."""
    header = (0x0800 | array.ndim).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _write_fashionmnist(folder, spec, palette, train_per_class, test_per_class, rng):
    num_classes = len(palette[0])
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        labels = _labels(num_classes, per_class, rng)
        images = _class_images(labels, palette, rng)[:, 0]  # [N, 28, 28]
        image_name, label_name = FASHIONMNIST_FILES[split]
        (folder / image_name).write_bytes(_idx_bytes(images))
        (folder / label_name).write_bytes(_idx_bytes(labels.astype(np.uint8)))


def _save_jpeg(pixels, path, grayscale=False):
    """uint8 [3, R, R] -> JPEG file; grayscale stores luminance only (mode L), as some real files do."""
    image = Image.fromarray(np.ascontiguousarray(pixels.transpose(1, 2, 0)))
    (image.convert("L") if grayscale else image).save(path, format="JPEG", quality=90)


def _write_tinyimagenet(folder, spec, palette, train_per_class, test_per_class, rng):
    num_classes = len(palette[0])
    wnids = [f"n{1443537 + 7919 * k:08d}" for k in range(num_classes)]  # real-looking WordNet ids, sorted
    # wnids.txt of the real set is not sorted; the reader sorts, so write it shuffled to exercise that.
    (folder / "wnids.txt").write_text("".join(w + "\n" for w in rng.permutation(wnids)))
    (folder / "words.txt").write_text("".join(f"{w}\tfake class {k}\n" for k, w in enumerate(wnids)))
    train_labels = np.repeat(np.arange(num_classes), train_per_class)
    train_images = _class_images(train_labels, palette, rng)
    for k, wnid in enumerate(wnids):
        image_dir = folder / "train" / wnid / "images"
        image_dir.mkdir(parents=True)
        boxes = []
        for i in range(train_per_class):
            j = k * train_per_class + i
            _save_jpeg(train_images[j], image_dir / f"{wnid}_{i}.JPEG", grayscale=j % GRAYSCALE_EVERY == 0)
            boxes.append(f"{wnid}_{i}.JPEG\t0\t0\t{spec.resolution - 1}\t{spec.resolution - 1}\n")
        (folder / "train" / wnid / f"{wnid}_boxes.txt").write_text("".join(boxes))
    val_labels = _labels(num_classes, test_per_class, rng)
    val_images = _class_images(val_labels, palette, rng)
    (folder / "val" / "images").mkdir(parents=True)
    lines = []
    for j, label in enumerate(val_labels):
        _save_jpeg(val_images[j], folder / "val" / "images" / f"val_{j}.JPEG")
        lines.append(f"val_{j}.JPEG\t{wnids[label]}\t0\t0\t{spec.resolution - 1}\t{spec.resolution - 1}\n")
    (folder / "val" / "val_annotations.txt").write_text("".join(lines))
    (folder / "test" / "images").mkdir(parents=True)
    for j, pixels in enumerate(_class_images(rng.integers(0, num_classes, FAKE_TEST_IMAGES), palette, rng)):
        _save_jpeg(pixels, folder / "test" / "images" / f"test_{j}.JPEG")


# name -> writer(folder, spec, palette, train_per_class, test_per_class, rng)
_WRITERS = {
    "cifar10": _write_cifar10,
    "cifar100": _write_cifar100,
    "fashionmnist": _write_fashionmnist,
    "tinyimagenet": _write_tinyimagenet,
}


def write_fake_dataset(name, root, train_per_class=10, test_per_class=4, seed=0, num_classes=None):
    """Write a tiny `name` dataset under root/spec.folder in the real file format and return root.

    num_classes defaults to the real count; fewer classes use labels 0..num_classes-1 (for Tiny ImageNet:
    fewer wnids, which the reader maps to labels by sorted order, still inside the 200-way head).
    """
    spec = get_spec(name)
    num_classes = spec.num_classes if num_classes is None else num_classes
    if not 1 <= num_classes <= spec.num_classes or train_per_class < 1 or test_per_class < 1:
        raise UserError(f"Fake {name} needs 1..{spec.num_classes} classes and >= 1 image per class per split, got "
                        f"{num_classes} classes, {train_per_class} train and {test_per_class} test per class.")
    folder = Path(root) / spec.folder
    if folder.exists() and any(folder.iterdir()):
        raise UserError(f"{folder} already holds files; write the fake {name} dataset into an empty --data_root.")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    palette = _class_palette(num_classes, spec.in_channels, spec.resolution, rng)
    _WRITERS[name](folder, spec, palette, train_per_class, test_per_class, rng)
    return Path(root)
