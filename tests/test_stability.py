"""An epoch whose training loss rose above a uniform guess's is named: in the run's summary and in the
benchmarks' tables, where such a spike would otherwise pass for a difference between methods."""
import json
import math
import os

import pytest

from lib.training.stability import CHANCE_MARGIN, chance_loss, instability_warning, unstable_epochs
from tests.bench_support import load_bench


def rows(*losses):
    return [dict(epoch=k, train_loss=v) for k, v in enumerate(losses, 1)]


def test_chance_loss_is_a_uniform_guess():
    assert chance_loss(10) == pytest.approx(2.302585, abs=1e-6)
    assert chance_loss(100) == pytest.approx(math.log(100))


def test_only_epochs_clearly_above_chance_are_unstable():
    limit = CHANCE_MARGIN * math.log(10)  # 2.53
    got = unstable_epochs(rows(2.40, limit + 0.01, 1.9, 3.9, None), 10)
    assert got == [(2, limit + 0.01), (4, 3.9)]
    assert unstable_epochs(rows(2.40, 2.2, 1.5), 10) == []  # a fresh network starts near ln 10, not above it
    assert unstable_epochs(rows(4.1, 3.4), 100) == []  # the same loss is below chance with 100 classes
    assert unstable_epochs(rows(2.4), 10, margin=1.0) == [(1, 2.4)]


def test_warning_names_the_epochs_the_worst_and_the_fixes():
    assert instability_warning(rows(2.2, 1.8), 10) == ""
    line = instability_warning(rows(3.1, 4.9, 2.0), 10)
    assert "ln 10 = 2.30" in line and "epochs 1, 2" in line and "4.90 at worst (epoch 2)" in line
    assert "--warmup_epochs" in line and "--zero_init_residual" in line
    assert "in epoch 3," in instability_warning(rows(2.0, 2.0, 3.0), 10)


def test_a_late_spike_is_not_blamed_on_the_start():
    late = instability_warning(rows(2.0, 1.5, 1.2, 1.0, 3.4), 10)
    assert "in epoch 5," in late and "a lower --lr steadies it" in late
    assert "--warmup_epochs" not in late and "start" not in late


def _write_run(folder, losses):
    os.makedirs(folder)
    with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows(*losses))


def test_bench_names_each_unstable_arm_from_its_metrics(tmp_path):
    budget = load_bench("budget")
    _write_run(tmp_path / "short_s3", [3.44, 2.0])
    _write_run(tmp_path / "yes_s3", [2.2, 1.7])
    _write_run(tmp_path / "c100_s0", [4.1, 3.0])
    got = budget.unstable_start_warnings([
        ("seed 3 short", str(tmp_path / "short_s3"), {"dataset": "cifar10"}),  # older summary: classes from dataset
        ("seed 3 yes", str(tmp_path / "yes_s3"), {"dataset": "cifar10", "num_classes": 10}),
        ("seed 0 c100", str(tmp_path / "c100_s0"), {"dataset": "cifar100"}),
        ("seed 9 gone", str(tmp_path / "missing"), {"dataset": "cifar10"}),  # no metrics: nothing to judge
    ])
    assert len(got) == 1 and got[0].startswith("seed 3 short: training loss above a uniform guess's")
