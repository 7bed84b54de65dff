"""Dataset readers, cache, balanced subsets and bad-input messages, on tiny fake files in the real formats."""
import gzip
import pickle
import re
import urllib.error

import numpy as np
import pytest
import torch

from lib.data import tinyimagenet
from lib.data.datasets import DATASETS, balanced_subset, download_dataset, load_dataset
from lib.errors import UserError
from lib.data.fakedata import write_fake_dataset

# Fewer classes where the real count would only slow the tests down.
FAKE_CLASSES = {"cifar10": 10, "cifar100": 100, "fashionmnist": 10, "tinyimagenet": 10}
TRAIN_PER_CLASS, TEST_PER_CLASS = 6, 2


def _fake(name, tmp_path, **kwargs):
    kwargs = {"train_per_class": TRAIN_PER_CLASS, "test_per_class": TEST_PER_CLASS,
              "num_classes": FAKE_CLASSES[name], **kwargs}
    return write_fake_dataset(name, tmp_path / "data", **kwargs)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_loader_shapes_dtypes_labels(name, tmp_path):
    spec, classes = DATASETS[name], FAKE_CLASSES[name]
    d = load_dataset(name, _fake(name, tmp_path))
    assert d.spec is spec
    image = (spec.in_channels, spec.resolution, spec.resolution)
    for x, y, per_class in ((d.train_x, d.train_y, TRAIN_PER_CLASS), (d.test_x, d.test_y, TEST_PER_CLASS)):
        assert x.shape == (classes * per_class, *image) and x.dtype == torch.uint8 and x.is_contiguous()
        assert y.shape == (len(x),) and y.dtype == torch.int64
        assert torch.bincount(y, minlength=classes).tolist() == [per_class] * classes
        assert x.device.type == "cpu" and x.min() < 60 and x.max() > 190  # real pixel range, not all one value


def test_fake_classes_are_separable_by_mean_colour(tmp_path):
    d = load_dataset("cifar10", _fake("cifar10", tmp_path))
    centroids = torch.stack([d.train_x[d.train_y == k].float().mean((0, 2, 3)) for k in range(10)])  # [10, 3]
    nearest = torch.cdist(d.test_x.float().mean((2, 3)), centroids).argmin(1)
    assert (nearest == d.test_y).float().mean() > 0.9


def test_fake_data_is_seeded(tmp_path):
    a = load_dataset("fashionmnist", write_fake_dataset("fashionmnist", tmp_path / "a", 2, 1, seed=3))
    b = load_dataset("fashionmnist", write_fake_dataset("fashionmnist", tmp_path / "b", 2, 1, seed=3))
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)


def test_cifar_accepts_bytes_keys(tmp_path):
    root = _fake("cifar10", tmp_path)
    before = load_dataset("cifar10", root)
    for path in (root / "cifar-10-batches-py").glob("*_batch*"):
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        with open(path, "wb") as f:
            pickle.dump({k.encode(): v for k, v in batch.items()}, f)
    after = load_dataset("cifar10", root)
    assert torch.equal(before.train_x, after.train_x) and torch.equal(before.test_y, after.test_y)


def test_cifar_truncated_pickle(tmp_path):
    root = _fake("cifar10", tmp_path)
    path = root / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(UserError, match=r"data_batch_3 is not a readable CIFAR pickle.*--download"):
        load_dataset("cifar10", root)


def test_cifar_pickle_with_foreign_objects_is_refused(tmp_path):
    root = _fake("cifar100", tmp_path, num_classes=5)
    with open(root / "cifar-100-python" / "test", "wb") as f:
        pickle.dump({"data": np.zeros((1, 3072), np.uint8), "fine_labels": [0], "x": tmp_path}, f)
    with pytest.raises(UserError, match=r"cifar-100-python/test is not a readable.*unexpected global"):
        load_dataset("cifar100", root)


def test_cifar_bad_shape_and_label_range(tmp_path):
    root = _fake("cifar10", tmp_path)
    path = root / "cifar-10-batches-py" / "test_batch"
    with open(path, "wb") as f:
        pickle.dump({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, f)
    with pytest.raises(UserError, match=r"test_batch: 'data' is uint8 \(2, 100\), expected uint8 \(N, 3072\)"):
        load_dataset("cifar10", root)
    with open(path, "wb") as f:
        pickle.dump({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}, f)
    with pytest.raises(UserError, match=r"test labels span 0\.\.10, outside 0\.\.9"):
        load_dataset("cifar10", root)


def test_fashionmnist_reads_gz(tmp_path):
    root = _fake("fashionmnist", tmp_path)
    before = load_dataset("fashionmnist", root)
    for path in (root / "FashionMNIST" / "raw").iterdir():
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
            f.write(path.read_bytes())
        path.unlink()
    after = load_dataset("fashionmnist", root)
    assert torch.equal(before.train_x, after.train_x) and torch.equal(before.test_y, after.test_y)


def test_fashionmnist_bad_idx(tmp_path):
    root = _fake("fashionmnist", tmp_path)
    path = root / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte"
    raw = path.read_bytes()
    path.write_bytes(raw[:-3])
    with pytest.raises(UserError, match=r"t10k-labels-idx1-ubyte holds 17 data bytes but .* needs 20 \(truncated"):
        load_dataset("fashionmnist", root)
    path.write_bytes(b"\x00\x00\x08\x03" + raw[4:])
    with pytest.raises(UserError, match=r"t10k-labels-idx1-ubyte is not an idx file .*magic number 0x00000803"):
        load_dataset("fashionmnist", root)
    path.unlink()
    with pytest.raises(UserError, match=r"Missing file .*t10k-labels-idx1-ubyte \(no t10k-labels-idx1-ubyte.gz either\)"):
        load_dataset("fashionmnist", root)


def _count_decodes(monkeypatch):
    calls = []
    decode = tinyimagenet._decode_jpeg

    def counting(path, resolution):
        calls.append(path)
        return decode(path, resolution)

    monkeypatch.setattr(tinyimagenet, "_decode_jpeg", counting)
    return calls


def test_tinyimagenet_cache_written_then_reused(tmp_path, monkeypatch):
    root = _fake("tinyimagenet", tmp_path)
    calls = _count_decodes(monkeypatch)
    first = load_dataset("tinyimagenet", root)
    assert len(calls) == len(first.train_y) + len(first.test_y)
    assert (root / "tiny-imagenet-200" / tinyimagenet.CACHE_NAME).is_file()
    calls.clear()
    second = load_dataset("tinyimagenet", root)
    assert calls == []
    assert torch.equal(first.train_x, second.train_x) and torch.equal(first.test_y, second.test_y)
    # a removed training image changes the fingerprint: decode again
    next((root / "tiny-imagenet-200" / "train").glob("*/images/*_3.JPEG")).unlink()
    third = load_dataset("tinyimagenet", root)
    assert len(calls) == len(third.train_y) + len(third.test_y) == len(first.train_y) + len(first.test_y) - 1


def test_tinyimagenet_unwritable_cache_warns(tmp_path, monkeypatch):
    root = _fake("tinyimagenet", tmp_path)

    def refuse(src, dst):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(tinyimagenet.os, "replace", refuse)
    with pytest.warns(UserWarning, match="Cannot write the decoded-image cache"):
        d = load_dataset("tinyimagenet", root)
    assert len(d.train_y) == 10 * TRAIN_PER_CLASS
    assert list((root / "tiny-imagenet-200").glob(".cache*")) == []


def test_tinyimagenet_never_writes_its_cache_over_a_file_that_is_not_one(tmp_path):
    root = _fake("tinyimagenet", tmp_path)
    mine = root / "tiny-imagenet-200" / tinyimagenet.CACHE_NAME
    mine.write_text("a file of the user's that happens to have the cache's name")
    with pytest.warns(UserWarning) as caught:
        d = load_dataset("tinyimagenet", root)
    assert [str(w.message) for w in caught] == [  # one warning, that says what to do, not also "unreadable cache"
        f"{mine} is not a decoded-image cache of this project, so it is left as it is and Tiny ImageNet will be "
        f"decoded again on every run; move it away to let the cache be written."]
    assert len(d.train_y) == 10 * TRAIN_PER_CLASS
    assert mine.read_text() == "a file of the user's that happens to have the cache's name"


def test_tinyimagenet_rebuilds_a_damaged_cache_of_its_own(tmp_path):
    root = _fake("tinyimagenet", tmp_path)
    cache = root / "tiny-imagenet-200" / tinyimagenet.CACHE_NAME
    first = load_dataset("tinyimagenet", root)
    with np.load(cache, allow_pickle=False) as z:
        fingerprint = z["fingerprint"]
    with open(cache, "wb") as f:  # the right fingerprint, its arrays lost
        np.savez(f, fingerprint=fingerprint)
    with pytest.warns(UserWarning, match="Ignoring unreadable cache .*KeyError.*decoding the JPEGs again"):
        again = load_dataset("tinyimagenet", root)
    assert torch.equal(again.train_x, first.train_x) and torch.equal(again.test_y, first.test_y)
    with np.load(cache, allow_pickle=False) as z:
        assert {"train_x", "train_y", "test_x", "test_y"} <= set(z.files)  # written anew


def test_tinyimagenet_labels_follow_sorted_wnids_and_grayscale_becomes_rgb(tmp_path):
    root = _fake("tinyimagenet", tmp_path)
    folder = root / "tiny-imagenet-200"
    wnids = sorted(folder.joinpath("wnids.txt").read_text().split())
    assert folder.joinpath("wnids.txt").read_text().split() != wnids  # the file itself is unsorted
    d = load_dataset("tinyimagenet", root)
    first_val, wnid = folder.joinpath("val", "val_annotations.txt").read_text().splitlines()[0].split("\t")[:2]
    assert first_val == "val_0.JPEG" and d.test_y[0] == wnids.index(wnid)
    gray = (d.train_x[:, 0] == d.train_x[:, 1]).all((1, 2)) & (d.train_x[:, 1] == d.train_x[:, 2]).all((1, 2))
    assert 0 < int(gray.sum()) < len(gray)  # the fake stores every 7th training JPEG in mode L


def test_tinyimagenet_bad_inputs(tmp_path):
    root = _fake("tinyimagenet", tmp_path)
    folder = root / "tiny-imagenet-200"
    next(folder.joinpath("val", "images").iterdir()).write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match=r"Cannot decode image .*val_\d+\.JPEG"):
        load_dataset("tinyimagenet", root)
    folder.joinpath("val", "val_annotations.txt").unlink()
    with pytest.raises(UserError, match=r"Missing validation label file .*val_annotations\.txt.*--download"):
        load_dataset("tinyimagenet", root)
    folder.joinpath("wnids.txt").write_text("".join(f"n{i:08d}\n" for i in range(201)))
    with pytest.raises(UserError, match=r"wnids\.txt lists 201 classes, expected 1 to 200"):
        load_dataset("tinyimagenet", root)


@pytest.mark.parametrize("name, file", [("cifar10", "data_batch_5"), ("cifar100", "train"),
                                        ("fashionmnist", "train-images-idx3-ubyte"), ("tinyimagenet", "wnids.txt")])
def test_a_folder_in_a_files_place_is_named_as_such(name, file, tmp_path):
    root = _fake(name, tmp_path)
    path = root / DATASETS[name].folder / file
    path.unlink()
    path.mkdir()
    with pytest.raises(UserError, match=rf"^{re.escape(str(path))} is a folder, not a [a-z ]*file( \(no [-a-z0-9.]* either\))?; delete .*--download"):
        load_dataset(name, root)


def test_missing_folder_and_unknown_name(tmp_path):
    with pytest.raises(UserError, match=rf"{tmp_path / 'cifar-10-batches-py'} does not exist; run with --download.*--data_root"):
        load_dataset("cifar10", tmp_path)
    with pytest.raises(UserError, match=r"Unknown dataset 'mnist'; choose one of cifar10, cifar100, fashionmnist, tinyimagenet"):
        load_dataset("mnist", tmp_path)


def test_data_root_at_the_dataset_folder_itself_names_its_parent(tmp_path):
    inner = tmp_path / "cifar-10-batches-py"
    inner.mkdir()
    with pytest.raises(UserError, match=rf"cifar10's own folder; give the folder that holds it: --data_root "
                                        rf"{re.escape(str(tmp_path))}$"):
        load_dataset("cifar10", inner)


@pytest.mark.parametrize("inner, part", [("FashionMNIST/raw", ""), ("FashionMNIST", "part of ")])
def test_data_root_inside_fashionmnists_two_level_folder_names_its_holder(inner, part, tmp_path):
    root = _fake("fashionmnist", tmp_path)
    with pytest.raises(UserError, match=rf"is {part}fashionmnist's own folder; give the folder that holds it: "
                                        rf"--data_root {re.escape(str(root))}$"):
        load_dataset("fashionmnist", root / inner)


def test_download_failure_is_a_user_error(tmp_path, monkeypatch):
    import torchvision.datasets
    import torchvision.datasets.utils

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets.utils, "download_and_extract_archive", offline)
    with pytest.raises(UserError, match=r"Downloading cifar10 from https://www\.cs\.toronto\.edu/~kriz/cifar-10-python"
                                        r"\.tar\.gz failed .*no network.*by hand"):
        load_dataset("cifar10", tmp_path, download=True)
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(UserError, match=r"Downloading fashionmnist .* failed .*FashionMNIST/raw holds the files"):
        download_dataset("fashionmnist", tmp_path)
    # present data is read, not downloaded again
    assert len(load_dataset("cifar10", _fake("cifar10", tmp_path), download=True).test_y) == 10 * TEST_PER_CLASS


def test_balanced_subset_counts_and_determinism():
    y = torch.arange(10).repeat_interleave(torch.arange(10, 20))  # class k has 10 + k examples
    x = torch.arange(len(y))  # stands for the images: x[i] names example i
    sx, sy = balanced_subset(x, y, 23, seed=1)
    assert torch.bincount(sy).tolist() == [3, 3, 3] + [2] * 7
    assert torch.equal(y[sx], sy) and len(set(sx.tolist())) == 23
    again_x, _ = balanced_subset(x, y, 23, seed=1)
    other_x, _ = balanced_subset(x, y, 23, seed=2)
    assert torch.equal(sx, again_x) and not torch.equal(sx, other_x)
    assert not torch.equal(sy, sy.sort().values)  # shuffled, not grouped by class
    with pytest.raises(UserError, match=r"subset of 200 examples from 145"):
        balanced_subset(x, y, 200, seed=0)
    with pytest.raises(UserError, match=r"Class 0 has only 10 examples but a balanced subset of 140 needs 14; .*at most 100"):
        balanced_subset(x, y, 140, seed=0)
