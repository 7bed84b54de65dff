"""Crash and resume: SIGKILL mid-run, a crash right after a growth checkpoint, and bad resumes."""
import dataclasses
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import lib.training.checkpoint as checkpoint_module
import lib.training.loop as train_module
from lib.training.budget import plan_budget
from lib.training.checkpoint import CheckpointWriter, load_checkpoint, save_checkpoint
from lib.training.config import make_config
from lib.errors import UserError
from lib.records import read_jsonl
from lib.training.loop import train
from lib.growth.model import resnet18
from lib.training.runstate import rng_states, set_rng_states
from lib.training.schedule import parse_schedule

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMING_KEYS = {"epoch_train_s", "elapsed_train_s", "images_per_s", "eval_s"}


def run(kw, **overrides):
    return train(**{**kw, **overrides})


def comparable(rows):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]


def cli_args(data_root, out_dir, name):
    return [sys.executable, "train.py", "--dataset", "cifar10", "--data_root", data_root, "--out_dir", out_dir,
            "--exp_name", name, "--algo", "yes", "--num_epochs", "6", "--width", "8", "--batch_size", "20",
            "--device", "cpu", "--quiet"]


def test_sigkill_then_resume_matches_an_uninterrupted_run(cifar_root, tmp_path):
    out = str(tmp_path)
    ref = subprocess.run(cli_args(cifar_root, out, "ref"), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr
    proc = subprocess.Popen(cli_args(cifar_root, out, "killed"), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    metrics = os.path.join(out, "killed", "metrics.jsonl")
    deadline = time.time() + 300
    while len(read_jsonl(metrics)) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not os.path.exists(os.path.join(out, "killed", "summary.json"))  # recognisably incomplete
    resumed = subprocess.run(cli_args(cifar_root, out, "killed") + ["--resume"], cwd=REPO, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    a, b = read_jsonl(os.path.join(out, "ref", "metrics.jsonl")), read_jsonl(metrics)
    assert [r["epoch"] for r in b] == list(range(1, 7))  # no duplicated or torn line
    assert comparable(a) == comparable(b)
    lines = open(metrics).read().splitlines()
    assert len(lines) == 6 and all(line.startswith("{") and line.endswith("}") for line in lines)


class Crash(Exception):
    pass


@pytest.mark.parametrize("recipe", [
    {},  # the default recipe
    # the 16 px stage steps on 4 batches (--stage_batch pixels): the growth regroups the epoch's remaining batches
    dict(schedule="1/0.5:0.35,1/1:0.65", stage_batch="pixels"),
])
def test_crash_right_after_growth_checkpoint_resumes_identically(tiny_run, monkeypatch, recipe):
    kw = dict(tiny_run, algo="yes", num_epochs=4, width=8, **recipe)
    reference = train(**kw, exp_name="ref")
    real_save = checkpoint_module.save_checkpoint

    def save_then_crash(path, state):
        real_save(path, state)
        if state["partial"] is not None:  # only growth checkpoints carry a partial epoch
            raise Crash

    monkeypatch.setattr(checkpoint_module, "save_checkpoint", save_then_crash)
    with pytest.raises(Crash):
        train(**kw, exp_name="crash")
    monkeypatch.setattr(checkpoint_module, "save_checkpoint", real_save)
    resumed = train(**kw, exp_name="crash", resume=True)
    assert resumed["weights_sha1"] == reference["weights_sha1"]
    assert resumed["test_acc"] == reference["test_acc"]
    ra = read_jsonl(os.path.join(kw["out_dir"], "ref", "metrics.jsonl"))
    rb = read_jsonl(os.path.join(kw["out_dir"], "crash", "metrics.jsonl"))
    assert comparable(ra) == comparable(rb)


def test_resume_without_checkpoint_is_refused(tiny_run):
    with pytest.raises(UserError, match="found no checkpoint"):
        run(tiny_run, exp_name="never_ran", resume=True)


def test_resume_with_a_different_config_names_the_keys(tiny_run):
    run(tiny_run, exp_name="r", num_epochs=1)
    os.remove(os.path.join(tiny_run["out_dir"], "r", "summary.json"))  # pretend it did not finish
    with pytest.raises(UserError, match=r"different config \(lr: 0.2 -> 0.1, width: 4 -> 8\)"):
        run(tiny_run, lr=0.1, width=8, exp_name="r", num_epochs=1, resume=True)


def test_corrupt_checkpoint_is_reported(tiny_run):
    run(tiny_run, exp_name="c", num_epochs=1)
    d = os.path.join(tiny_run["out_dir"], "c")
    os.remove(os.path.join(d, "summary.json"))
    with open(os.path.join(d, "checkpoint.pt"), "r+b") as f:
        f.truncate(100)
    with pytest.raises(UserError, match="corrupt or truncated"):
        run(tiny_run, exp_name="c", num_epochs=1, resume=True)


class Payload:
    """Unpickling this runs code: it writes the marker file named in the tuple."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


def test_checkpoint_with_a_pickled_payload_is_refused_without_running_it(tiny_run, tmp_path):
    run(tiny_run, exp_name="p", num_epochs=1)
    d = os.path.join(tiny_run["out_dir"], "p")
    os.remove(os.path.join(d, "summary.json"))
    marker = tmp_path / "payload_ran"
    torch.save({"model": Payload(str(marker)), "config": {}}, os.path.join(d, "checkpoint.pt"))
    with pytest.raises(UserError, match="not a checkpoint of this project.*nothing in it was run"):
        run(tiny_run, exp_name="p", num_epochs=1, resume=True)
    with pytest.raises(UserError, match="not a checkpoint of this project"):
        load_checkpoint(os.path.join(d, "checkpoint.pt"))
    assert not marker.exists()


def test_checkpoint_state_loads_weights_only_and_restores_the_random_states(tmp_path):
    """What lib.train checkpoints (budget plan, RNG states, optimizer, partial epoch) survives a weights-only load."""
    model = resnet18(10, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    plan = plan_budget(parse_schedule("0.5/0.5:0.5,1/1:0.5"), [200.0, 100.0], 400, 10.0)
    plan |= dict(sizes=[(2, 16), (4, 32)])
    state = dict(model=model.state_dict(), optimizer=optimizer.state_dict(), config=dataclasses.asdict(make_config()),
                 plan=plan, rng=rng_states(), gen_state=torch.Generator().get_state(), rows=[dict(epoch=1, lr=0.1)],
                 partial=dict(loss_sum=1.5, correct=3.0, seen=40, epoch_s=0.2), growth=[], width=4)
    draws = (np.random.rand(3), random.random(), torch.rand(3))
    save_checkpoint(str(tmp_path / "checkpoint.pt"), state)
    saved = load_checkpoint(str(tmp_path / "checkpoint.pt"))
    assert saved["plan"] == plan and saved["partial"] == state["partial"]
    set_rng_states(saved["rng"])
    again = (np.random.rand(3), random.random(), torch.rand(3))
    assert (draws[0] == again[0]).all() and draws[1] == again[1] and torch.equal(draws[2], again[2])


def test_unfinished_run_needs_resume_or_overwrite(tiny_run):
    run(tiny_run, exp_name="u", num_epochs=1)
    os.remove(os.path.join(tiny_run["out_dir"], "u", "summary.json"))
    with pytest.raises(UserError, match="unfinished run.*--resume"):
        run(tiny_run, exp_name="u", num_epochs=1)


def test_nan_loss_stops_at_once_and_keeps_the_last_checkpoint(tiny_run):
    run(tiny_run, exp_name="n", num_epochs=1)
    with pytest.raises(UserError, match=r"loss became (nan|inf).*lower --lr"):
        run(tiny_run, lr=1e12, exp_name="nan", num_epochs=2, warmup_epochs=0.0)
    assert not os.path.exists(os.path.join(tiny_run["out_dir"], "nan", "summary.json"))


def test_out_of_memory_names_the_batch_size(tiny_run, monkeypatch):
    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(train_module, "augment_batch", oom)
    with pytest.raises(UserError, match="out of memory at --batch_size 40.*try --batch_size 20"):
        run(tiny_run, exp_name="oom")


def test_background_checkpoint_is_a_snapshot_and_reports_a_failed_write(tmp_path):
    writer = CheckpointWriter(background=True)
    weights, rows = torch.zeros(1000), [{"epoch": 1}]
    state = {"model": {"w": weights}, "rows": rows, "epoch": 1}
    writer.save(str(tmp_path / "checkpoint.pt"), state)
    weights += 1  # training goes on while the write is in flight
    rows.append({"epoch": 2})
    writer.wait()
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert torch.equal(saved["model"]["w"], torch.zeros(1000)) and saved["rows"] == [{"epoch": 1}]
    assert not [f for f in os.listdir(tmp_path) if f != "checkpoint.pt"]  # no temp file left behind

    writer.save(str(tmp_path / "missing_folder" / "checkpoint.pt"), state)  # fails on the thread...
    with pytest.raises(UserError, match="could not write checkpoint .*missing_folder.*--resume"):
        writer.wait()  # ...and is reported here, once
    writer.wait()
    with pytest.raises(UserError, match="could not write checkpoint"):
        CheckpointWriter().save(str(tmp_path / "missing_folder" / "checkpoint.pt"), state)  # in line: at once


def test_resume_with_another_seed_names_the_flag_before_the_data_loads(tiny_run, tmp_path):
    """A changed --seed also changes the data (its subset, its split): the flag is what to fix, and it is found
    before any data loads (here there is none to load)."""
    run(tiny_run, exp_name="s", num_epochs=1)
    os.remove(os.path.join(tiny_run["out_dir"], "s", "summary.json"))
    with pytest.raises(UserError, match=r"different config \(seed: 0 -> 1\)"):
        run(dict(tiny_run, data_root=str(tmp_path / "no_data_here")), exp_name="s", num_epochs=1, seed=1,
            resume=True)


def test_a_run_that_stopped_before_its_first_checkpoint_is_started_over_not_resumed(tiny_run):
    run(tiny_run, exp_name="early", num_epochs=1)
    folder = os.path.join(tiny_run["out_dir"], "early")
    for name in ("summary.json", "checkpoint.pt"):  # killed between its first metrics line and its checkpoint
        os.remove(os.path.join(folder, name))
    with pytest.raises(UserError, match="unfinished run; .*--overwrite to replace it \\(it has no checkpoint"):
        run(tiny_run, exp_name="early", num_epochs=1)
    with pytest.raises(UserError, match="found no checkpoint .*stopped before its first checkpoint.*--overwrite"):
        run(tiny_run, exp_name="early", num_epochs=1, resume=True)
    assert run(tiny_run, exp_name="early", num_epochs=1, overwrite=True)["epochs"] == 1


def test_resume_under_another_number_of_processes_is_refused(tiny_run):
    run(tiny_run, exp_name="w", num_epochs=1)
    folder = os.path.join(tiny_run["out_dir"], "w")
    os.remove(os.path.join(folder, "summary.json"))
    saved = load_checkpoint(os.path.join(folder, "checkpoint.pt"))
    assert saved["world_size"] == 1
    save_checkpoint(os.path.join(folder, "checkpoint.pt"), dict(saved, world_size=2))
    with pytest.raises(UserError, match=r"made by 2 process\(es\), and this run has 1.*--nproc_per_node 2"):
        run(tiny_run, exp_name="w", num_epochs=1, resume=True)


def test_a_loss_gone_bad_before_a_growth_keeps_the_last_good_checkpoint(tiny_run, monkeypatch):
    """On CUDA the step's NaN check reads its flag some steps late, and under a budget a growth may fall mid-epoch:
    the growth's checkpoint must not replace the last good one with weights a NaN trained. Simulated here with a
    check that never fires during the stage and a growth moved to the middle of epoch 2."""
    kw = dict(tiny_run, algo="yes", num_epochs=4, schedule="1/0.5:0.5,1/1:0.5", exp_name="bad")
    steps_per_epoch = 400 // kw["batch_size"]  # cifar_root holds 400 training images
    monkeypatch.setitem(train_module.NAN_CHECK_EVERY, "cpu", 10**6)
    real_plan, real_augment, calls = train_module.progress_plan, train_module.augment_batch, []

    def mid_epoch_growth(*args):
        plan = real_plan(*args)
        return dict(plan, bounds=[0.375] + plan["bounds"][1:])  # step 15 of 40: the middle of epoch 2

    def poison_from_epoch_2(xb, spec, res, gen, train=True):
        x = real_augment(xb, spec, res, gen, train=train)
        if gen is not None:  # a training batch (the warm-up passes no generator)
            calls.append(1)
            if len(calls) > steps_per_epoch:
                x = x * float("nan")
        return x

    monkeypatch.setattr(train_module, "progress_plan", mid_epoch_growth)
    monkeypatch.setattr(train_module, "augment_batch", poison_from_epoch_2)
    with pytest.raises(UserError, match=r"training diverged in epoch 2, before the growth to stage 2 \(loss so far "
                                        r"nan; .*lower --lr.*last good checkpoint \(epoch 1\) is kept"):
        run(kw)
    assert len(calls) == 15  # it stopped at the growth
    saved = load_checkpoint(os.path.join(kw["out_dir"], "bad", "checkpoint.pt"))
    assert saved["checkpoint_epoch"] == 1 and saved["stage"] == 0
    assert all(torch.isfinite(t).all() for t in saved["model"].values() if t.is_floating_point())


def test_a_seed_near_the_limit_grows_in_width(tiny_run):
    summary = run(tiny_run, algo="yes", num_epochs=2, width=8, schedule="0.5/1:0.5,1/1:0.5", seed=2**63 - 1,
                  exp_name="big_seed")
    assert summary["epochs"] == 2


def test_a_budget_moved_in_training_resumes_from_where_it_was_moved(tiny_run, one_thread, monkeypatch):
    """--budget_base trained moves a run's end at its full-size epochs' ends; a run stopped right after one resumes
    on the moved clock: the next epoch's progress is the moved clock's at that epoch's seconds, not the plan's."""
    from lib.training import runstate
    from lib.training.clock import time_progress

    real_measure = runstate.measure_throughput

    def burst(*args, **kwargs):  # calibration at 1.3x the speed training keeps: the end moves later
        table, capture, seconds, steps = real_measure(*args, **kwargs)
        return {k: 1.3 * v for k, v in table.items()}, capture, seconds, steps

    monkeypatch.setattr(runstate, "measure_throughput", burst)
    kw = dict(tiny_run, algo="yes", num_epochs=12, width=8, budget=0.6, calibration_steps=2, exp_name="moved")
    real_save = checkpoint_module.save_checkpoint
    saved = {}

    def save_then_crash(path, state):
        real_save(path, state)
        if state["rebase"] is not None:
            saved.update(rebase=state["rebase"], epoch=state["epoch"])
            raise Crash

    monkeypatch.setattr(checkpoint_module, "save_checkpoint", save_then_crash)
    with pytest.raises(Crash):
        train(**kw)
    monkeypatch.setattr(checkpoint_module, "save_checkpoint", real_save)
    resumed = train(**kw, resume=True)
    rows = read_jsonl(os.path.join(kw["out_dir"], "moved", "metrics.jsonl"))
    after = rows[saved["epoch"]]  # the first epoch trained after the resume
    moved = saved["rebase"]
    assert after["progress"] == pytest.approx(time_progress(after["elapsed_train_s"], moved["train_budget_s"],
                                                            moved["anchor"]))
    assert after["progress"] != pytest.approx(after["elapsed_train_s"] / resumed["plan"]["train_budget_s"], rel=1e-3)
    assert [r["progress"] for r in rows] == sorted(r["progress"] for r in rows) and rows[-1]["progress"] == 1.0
