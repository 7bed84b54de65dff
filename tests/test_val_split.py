"""--val_split: a seeded, class-balanced validation split carved out of the training data, disjoint from it."""
import json
import os

import pytest
import torch

from lib.training.config import make_config
from lib.errors import UserError
from lib.training.loop import train
from lib.records import read_jsonl
from lib.training.rundir import carve_val_split, load_run_data


def _rows(x):
    """Each image as bytes, to compare sets of images."""
    return {bytes(img.flatten().tolist()) for img in x}


def test_carve_is_balanced_disjoint_complete_and_seeded():
    y = torch.arange(10).repeat_interleave(7)  # 10 classes x 7
    x = torch.arange(70)[:, None]  # one distinct "image" per example
    train_x, train_y, val_x, val_y = carve_val_split(x, y, 23, seed=3)
    assert torch.bincount(val_y, minlength=10).tolist() == [3, 3, 3] + [2] * 7  # remainder to the lowest ids
    assert len(train_y) == 47 and torch.bincount(train_y, minlength=10).min() >= 4
    assert set(train_x.flatten().tolist()).isdisjoint(val_x.flatten().tolist())
    assert sorted(train_x.flatten().tolist() + val_x.flatten().tolist()) == list(range(70))
    assert torch.equal(y[train_x.flatten()], train_y) and torch.equal(y[val_x.flatten()], val_y)
    again = carve_val_split(x, y, 23, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(again, (train_x, train_y, val_x, val_y)))
    other = carve_val_split(x, y, 23, seed=4)
    assert not torch.equal(other[2], val_x)


@pytest.mark.parametrize("n", [70, 61, 100])
def test_carve_must_leave_every_class_a_training_image(n):
    y = torch.arange(10).repeat_interleave(7)
    with pytest.raises(UserError, match=rf"--val_split {n} leaves a class without training images .*at most 60"):
        carve_val_split(torch.zeros(70, 1), y, n, seed=0)
    assert torch.bincount(carve_val_split(torch.zeros(70, 1), y, 60, seed=0)[1]).tolist() == [1] * 10  # the most


@pytest.mark.parametrize("value", [-1, 1.5, True, "10"])
def test_val_split_must_be_a_whole_number(value):
    with pytest.raises(UserError, match="--val_split must be a whole number >= 0"):
        make_config(val_split=value)


def test_val_split_is_carved_from_the_training_subset(cifar_root):
    """train_subset is taken first; val_split of its images are held out; the rest is trained on."""
    full = load_run_data(make_config(data_root=cifar_root, train_subset=200, seed=1))
    train_x, train_y, test_x, _, _, val_x, val_y = load_run_data(
        make_config(data_root=cifar_root, train_subset=200, val_split=50, seed=1))
    assert len(train_y) == 150 and len(val_y) == 50 and torch.bincount(val_y).tolist() == [5] * 10
    assert _rows(train_x).isdisjoint(_rows(val_x))
    assert _rows(train_x) | _rows(val_x) == _rows(full[0])
    assert torch.equal(test_x, full[2])  # the test split is untouched
    assert full[5] is None and full[6] is None
    with pytest.raises(UserError, match="--val_split 200 leaves a class without training images"):
        load_run_data(make_config(data_root=cifar_root, train_subset=200, val_split=200))


def test_run_evaluates_the_val_split_every_epoch(tiny_run, one_thread):
    summary = train(**tiny_run, exp_name="val", val_split=100)
    rows = read_jsonl(os.path.join(tiny_run["out_dir"], "val", "metrics.jsonl"))
    assert len(rows) == 3 and all(0 <= r["val_acc"] <= 100 and r["val_loss"] > 0 for r in rows)
    assert summary["val_acc"] == rows[-1]["val_acc"] and "best_test_acc" not in summary
    assert summary["epochs_equivalent"] == pytest.approx(3.0)  # epochs of the 300 images left to train on
    saved = json.load(open(os.path.join(tiny_run["out_dir"], "val", "summary.json")))
    assert saved["val_acc"] == summary["val_acc"]
    plain = train(**tiny_run, exp_name="plain")
    assert plain["val_acc"] is None
    assert all(r["val_acc"] is None for r in read_jsonl(os.path.join(tiny_run["out_dir"], "plain", "metrics.jsonl")))
