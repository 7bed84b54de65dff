"""A run records the data it trained on: it is resumed and reused on that data only, wherever its folder lies."""
import dataclasses
import os
import shutil

import pytest
import torch

import lib.training.loop as loop_module
from bench_support import load_bench
from lib.data.fakedata import write_fake_dataset
from lib.errors import UserError
from lib.reporting import report
from lib.training.config import make_config
from lib.training.loop import train
from lib.training.rundir import data_digest


@pytest.fixture
def roots(cifar_root, tmp_path):
    """(moved, other): a copy of cifar_root elsewhere, and another CIFAR-10 of the same size."""
    moved = shutil.copytree(cifar_root, str(tmp_path / "moved"))
    other = write_fake_dataset("cifar10", str(tmp_path / "other"), train_per_class=40, test_per_class=10, seed=1)
    return moved, other


def _budget_script():
    return load_bench("budget")


def test_the_digest_sees_bytes_shapes_and_dtypes():
    x = torch.arange(12, dtype=torch.uint8).view(3, 4)
    assert data_digest(x, None) == data_digest(x.clone())
    changed = x.clone()
    changed[2, 3] += 1
    assert len({data_digest(x), data_digest(changed), data_digest(x.view(4, 3)), data_digest(x.long())}) == 4


def test_a_finished_run_is_reused_on_its_data_only(tiny_run, roots, monkeypatch):
    moved, other = roots
    kw = dict(tiny_run, exp_name="arm")
    summary = report.run_arm(**kw).summary
    assert len(summary["data_sha1"]) == 40
    monkeypatch.setattr(loop_module, "train", lambda *a, **k: pytest.fail("a finished run was trained again"))
    assert report.run_arm(**dict(kw, data_root=moved)).summary == summary  # the same data, moved
    with pytest.raises(UserError, match="other data than cifar10 under --data_root .*other.*overwrite = True"):
        report.run_arm(**dict(kw, data_root=other))
    budget = _budget_script()  # the benchmarks' reuse of finished runs checks the same
    assert budget.finished_run(dict(kw, data_root=moved)) == summary
    with pytest.raises(UserError, match="other data.*another --tag"):
        budget.finished_run(dict(kw, data_root=other))
    with pytest.raises(UserError, match="--reuse_from: .*other data"):
        budget.reuse_run(tiny_run["out_dir"], dataclasses.asdict(make_config(**dict(kw, data_root=other))))


def test_a_run_resumes_on_its_data_only(tiny_run, roots):
    moved, other = roots
    kw = dict(tiny_run, exp_name="run", num_epochs=2)
    finished = train(**kw)
    os.unlink(os.path.join(kw["out_dir"], "run", "summary.json"))  # unfinished again, checkpoint at its end
    with pytest.raises(UserError, match="made on other data.*point --data_root at the data it started on"):
        train(**dict(kw, data_root=other, resume=True))
    resumed = train(**dict(kw, data_root=moved, resume=True))
    assert resumed["data_sha1"] == finished["data_sha1"]
    assert resumed["weights_sha1"] == finished["weights_sha1"]
