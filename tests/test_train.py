"""End-to-end training on tiny generated data: learning, output files, budgets, bad input."""
import json
import os
import subprocess
import sys

import pytest
import torch

from lib.errors import UserError
from lib.records import read_jsonl
import lib.training.loop as train_module
from lib.training.loop import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRIC_KEYS = {"epoch", "stage", "width", "resolution", "lr", "train_loss", "train_acc", "test_loss", "test_acc",
               "epoch_train_s", "elapsed_train_s", "images_per_s"}
SUMMARY_KEYS = {"test_acc", "val_acc", "train_time_s", "total_time_s", "epochs", "algo", "dataset",
                "final_width", "final_resolution", "train_flops"}
ENV_KEYS = {"python", "torch", "torchvision", "device", "device_name", "git_commit"}


def run(kw, **overrides):
    return train(**{**kw, **overrides})


def run_dir(kw, name):
    return os.path.join(kw["out_dir"], name)


def test_progressive_run_learns_and_writes_documented_files(tiny_run):
    # a steady start (zero-init residual branches): at this toy's 10 steps an epoch and lr 0.2, whether the plain
    # start spikes depends on the CPU's kernels, and a spiked 4-epoch run ends near 30 % on one CPU, 90 % on another
    summary = run(tiny_run, algo="yes", num_epochs=4, width=8, exp_name="prog", zero_init_residual=True,
                  schedule="0.5/0.5:0.3,0.75/0.75:0.3,1/1:0.4")
    d = run_dir(tiny_run, "prog")
    assert set(os.listdir(d)) >= {"config.json", "metrics.jsonl", "summary.json", "env.json", "checkpoint.pt"}
    rows = read_jsonl(os.path.join(d, "metrics.jsonl"))
    assert len(rows) == 4 and all(METRIC_KEYS <= set(r) for r in rows)
    widths, res = [r["width"] for r in rows], [r["resolution"] for r in rows]
    assert widths == sorted(widths) and res == sorted(res) and widths[0] < 8 and res[0] < 32
    assert (widths[-1], res[-1]) == (8, 32)
    saved = json.load(open(os.path.join(d, "summary.json")))
    assert SUMMARY_KEYS <= set(saved) and saved == json.loads(json.dumps(summary, default=str))
    assert saved["final_width"] == 8 and saved["final_resolution"] == 32 and saved["epochs"] == 4
    assert ENV_KEYS <= set(json.load(open(os.path.join(d, "env.json"))))
    assert json.load(open(os.path.join(d, "config.json")))["algo"] == "yes"
    assert summary["test_acc"] > 50  # 10 easy classes: chance is 10%
    assert len(summary["growth"]) == 2


def test_default_progressive_recipe_grows_width_and_resolution(tiny_run):
    summary = run(tiny_run, algo="yes", num_epochs=4, width=8, exp_name="default")
    rows = read_jsonl(os.path.join(run_dir(tiny_run, "default"), "metrics.jsonl"))
    assert [r["width"] for r in rows] == [4, 8, 8, 8]  # 8 x 1/2, then 8 x 3/4 = 6 rounds to 8 (multiples of 4)
    assert [r["resolution"] for r in rows] == [16, 24, 32, 32]
    assert [g["width"] for g in summary["growth"]] == [8, 8]
    cfg = json.load(open(os.path.join(run_dir(tiny_run, "default"), "config.json")))
    assert (cfg["init"], cfg["reg_start"], cfg["early_cap"]) == ("fresh", 0.0, 0.0)  # no budget: nothing to cap


def test_lr_restart_and_bn_recalibration_act_at_each_resolution_change(tiny_run):
    kw = dict(tiny_run, algo="yes", num_epochs=4, width=8, schedule="1/0.5:0.5,1/1:0.5", warmup_epochs=0)
    plain = run(kw, exp_name="plain")
    tuned = run(kw, exp_name="tuned", lr_restart=True, bn_recal=3)
    lrs = lambda name: [r["lr"] for r in read_jsonl(os.path.join(run_dir(kw, name), "metrics.jsonl"))]  # noqa: E731
    assert lrs("plain") == sorted(lrs("plain"), reverse=True)  # one decay over the whole run
    restarted = lrs("tuned")
    assert restarted[2] > 4 * restarted[1]  # back near the peak after the growth at epoch 3
    assert [g["bn_recal_batches"] for g in tuned["growth"]] == [3]
    assert [g["bn_recal_batches"] for g in plain["growth"]] == [0]
    assert tuned["test_acc"] > 25


def test_reg_start_weakens_crop_and_label_smoothing_at_low_resolution(tiny_run, monkeypatch):
    seen = []  # (crop padding, resolution) of every training batch, label smoothing of every stage's step
    real_augment, real_step = train_module.augment_batch, train_module.StageStep

    def augment(xb, spec, res, gen, train=True, **kw):
        if train:  # training batches (a budget's calibration passes no generator); evaluation is not
            seen.append(("crop" if gen is not None else "calibration", spec.crop_pad, res))
        return real_augment(xb, spec, res, gen, train=train, **kw)

    def step(net, optimizer, criterion, amp, **kw):
        seen.append(("smoothing", round(criterion.label_smoothing, 6)))
        return real_step(net, optimizer, criterion, amp, **kw)

    monkeypatch.setattr(train_module, "augment_batch", augment)
    monkeypatch.setattr(train_module, "StageStep", step)
    run(tiny_run, algo="yes", num_epochs=4, width=8, exp_name="reg", reg_start=0.0, label_smoothing=0.2)
    crops = {(s[1], s[2]) for s in seen if s[0] == "crop"}
    assert crops == {(0, 16), (2, 24), (4, 32)}  # CIFAR pads 4 px at full size; linear in resolution
    assert [s[1] for s in seen if s[0] == "smoothing"] == [0.0, 0.0, 0.1, 0.2]  # the warm-up's step, then stages
    seen.clear()
    run(tiny_run, algo="yes", num_epochs=4, width=8, exp_name="constant", label_smoothing=0.2, reg_start=1.0)
    assert {s[1] for s in seen if s[0] == "crop"} == {4}
    assert [s[1] for s in seen if s[0] == "smoothing"] == [0.2, 0.2, 0.2, 0.2]
    seen.clear()  # a budget's calibration times each stage with the augmentation it will train with
    run(tiny_run, algo="yes", num_epochs=4, width=8, exp_name="timed", reg_start=0.0, budget=0.9, calibration_steps=1)
    assert {(s[1], s[2]) for s in seen if s[0] == "calibration"} == {(0, 16), (2, 24), (4, 32)}


def test_growth_shrink_moves_the_weights_toward_a_seeded_fresh_network_at_each_growth(tiny_run, monkeypatch):
    calls = []  # (alpha, weights before, weights after) at each growth
    real = train_module.shrink_perturb

    def spy(model, fresh, alpha):
        before = [p.detach().clone() for p in model.parameters()]
        real(model, fresh, alpha)
        calls.append((alpha, before, [p.detach().clone() for p in model.parameters()],
                      [p.detach().clone() for p in fresh.parameters()]))
        return model

    monkeypatch.setattr(train_module, "shrink_perturb", spy)
    kw = dict(tiny_run, algo="yes", num_epochs=4, width=8)
    first = run(kw, exp_name="sp", growth_shrink=0.5)
    assert [c[0] for c in calls] == [0.5, 0.5]  # 16 -> 24 and 24 -> 32 px
    for _, before, after, fresh in calls:
        assert all(torch.allclose(a, 0.5 * b + 0.5 * f) for a, b, f in zip(after, before, fresh))
    fresh_draws = [c[3] for c in calls]
    calls.clear()
    again = run(kw, exp_name="sp_again", growth_shrink=0.5)  # the fresh networks come from the run's seed
    assert all(torch.equal(a, b) for x, y in zip(fresh_draws, [c[3] for c in calls]) for a, b in zip(x, y))
    assert again["test_acc"] == first["test_acc"]
    calls.clear()
    plain = run(kw, exp_name="plain")  # the default keeps the trained weights: nothing is shrunk
    assert calls == [] and plain["test_acc"] > 25
    rows = lambda name: read_jsonl(os.path.join(run_dir(kw, name), "metrics.jsonl"))  # noqa: E731
    assert rows("sp")[0]["train_loss"] == rows("plain")[0]["train_loss"]  # same until the first growth
    assert rows("sp")[-1]["train_loss"] != rows("plain")[-1]["train_loss"]
    assert json.load(open(os.path.join(run_dir(kw, "sp"), "config.json")))["growth_shrink"] == 0.5


def test_baseline_stays_full_size_and_beats_chance(tiny_run):
    summary = run(tiny_run, algo="no", exp_name="base", num_epochs=5)  # 3 epochs: 21-40 %, by seed and threads
    rows = read_jsonl(os.path.join(run_dir(tiny_run, "base"), "metrics.jsonl"))
    assert {(r["width"], r["resolution"]) for r in rows} == {(4, 32)}
    assert summary["test_acc"] > 25 and summary["growth"] == []


def test_lr_warms_up_then_decays_linearly_to_zero(tiny_run):
    # 4 epochs of 10 steps, warm-up over half of them; each row holds the LR of its epoch's last step
    run(tiny_run, algo="no", num_epochs=4, warmup_epochs=2, exp_name="lr")
    lrs = [r["lr"] for r in read_jsonl(os.path.join(run_dir(tiny_run, "lr"), "metrics.jsonl"))]
    peak = tiny_run["lr"]
    assert lrs[0] < lrs[1] <= peak  # warm-up rises towards the peak
    assert lrs[1] > lrs[2] > lrs[3]  # then decays
    assert lrs == pytest.approx([peak * 9 / 20, peak * 19 / 20, peak * 11 / 20, peak * 1 / 20])  # linear, to 0


def test_same_seed_gives_identical_metrics(tiny_run):
    a = run(tiny_run, algo="yes", width=8, exp_name="a")
    b = run(tiny_run, algo="yes", width=8, exp_name="b")
    strip = lambda rows: [{k: v for k, v in r.items() if not k.endswith("_s")} for r in rows]
    ra = strip(read_jsonl(os.path.join(run_dir(tiny_run, "a"), "metrics.jsonl")))
    rb = strip(read_jsonl(os.path.join(run_dir(tiny_run, "b"), "metrics.jsonl")))
    ra = [{k: v for k, v in r.items() if k != "images_per_s"} for r in ra]
    rb = [{k: v for k, v in r.items() if k != "images_per_s"} for r in rb]
    assert ra == rb and a["test_acc"] == b["test_acc"]


def test_device_warm_up_is_untimed_and_changes_nothing(tiny_run, monkeypatch):
    calls = []
    real = train_module.warm_up
    monkeypatch.setattr(train_module, "warm_up", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    warm = run(tiny_run, algo="yes", width=8, exp_name="warm")
    assert calls == [(4, 16, 1)]  # the default recipe's first stage: half of width 8, 32 px x 0.5
    assert warm["device_warmup_s"] > 0
    monkeypatch.setattr(train_module._Run, "_warm_up", lambda self: 0.0)
    cold = run(tiny_run, algo="yes", width=8, exp_name="cold")
    assert cold["device_warmup_s"] == 0.0
    assert warm["weights_sha1"] == cold["weights_sha1"]  # model init, augmentation and shuffling are untouched


def test_zero_init_residual_reaches_every_model_the_run_builds(tiny_run, monkeypatch):
    built = []
    real = train_module.resnet18
    monkeypatch.setattr(train_module, "resnet18", lambda *a, **k: built.append(real(*a, **k)) or built[-1])
    kw = dict(tiny_run, algo="yes", num_epochs=2, width=8, schedule="0.5/0.5:0.5,1/1:0.5")
    zero = run(kw, exp_name="zero", zero_init_residual=True)
    assert built and all(m.config.zero_init_residual for m in built)
    assert json.load(open(os.path.join(run_dir(kw, "zero"), "config.json")))["zero_init_residual"] is True
    built.clear()
    plain = run(kw, exp_name="plain")
    assert built and not any(m.config.zero_init_residual for m in built)
    assert zero["weights_sha1"] != plain["weights_sha1"]
    assert plain["num_classes"] == 10 and isinstance(plain["warnings"], list)


def test_no_checkpoint_is_timed_growth_ones_included(tiny_run, monkeypatch):
    """README, what is timed: checkpoints are not training time, whether at an epoch's end or at a growth."""
    running = []
    real = train_module._Run._checkpoint

    def spy(self, epoch, batch, epoch_state, clock):
        running.append((epoch_state is not None, clock.t0 is not None))
        return real(self, epoch, batch, epoch_state, clock)

    monkeypatch.setattr(train_module._Run, "_checkpoint", spy)
    run(tiny_run, algo="yes", num_epochs=4, width=8, exp_name="ckpt", schedule="0.5/0.5:0.5,1/1:0.5")
    assert (True, False) in running  # the growth's mid-epoch checkpoint was written, with the clock stopped
    assert not any(timed for _, timed in running) and len(running) >= 4


def test_short_algo_scales_epochs_to_the_budget(tiny_run):
    summary = run(tiny_run, algo="short", budget=0.5, num_epochs=4, exp_name="short")
    assert summary["epochs"] == 2 and summary["epochs_equivalent"] == pytest.approx(2.0)
    rows = read_jsonl(os.path.join(run_dir(tiny_run, "short"), "metrics.jsonl"))
    assert {r["width"] for r in rows} == {4}


def test_budget_run_records_plan_and_measurements(tiny_run, one_thread):
    summary = run(tiny_run, algo="yes", budget=0.5, num_epochs=6, width=8, exp_name="budget",
                  calibration_steps=2, schedule="0.5/0.5:0.3,0.75/0.75:0.3,1/1:0.4")
    plan = summary["plan"]
    assert len(plan["images_per_s"]) == 3 and len(plan["seconds"]) == 3
    assert plan["budget_s"] == pytest.approx(0.5 * plan["baseline_predicted_s"])
    assert plan["calibration_steps"] == 3 * 2  # 3 distinct sizes (the last is the full-size reference) x 2 steps
    assert summary["predicted_saving"] == pytest.approx(0.5)
    assert len(summary["stages"]) == 3 and all("seconds" in s and "train_flops" in s for s in summary["stages"])
    assert summary["train_time_s"] > 0 and summary["epochs"] >= 1
    # each growth happens once the plan's share of the budget for the earlier stages has been spent
    assert summary["growth"], "the budget should reach at least the second stage"
    for g in summary["growth"]:
        assert plan["time_bounds"][g["stage"] - 1] <= g["progress"] < plan["time_bounds"][g["stage"] - 1] + 0.15


def test_eval_every_evaluates_every_nth_epoch_and_always_the_last(tiny_run, one_thread):
    val = dict(tiny_run, val_split=40)
    summary = run(val, num_epochs=5, exp_name="every2", eval_every=2)
    rows = read_jsonl(os.path.join(run_dir(val, "every2"), "metrics.jsonl"))
    evaluated = [r["epoch"] for r in rows if r["test_acc"] is not None]
    assert evaluated == [2, 4, 5] and [r["epoch"] for r in rows if r["val_acc"] is not None] == evaluated
    assert all(r["train_loss"] is not None for r in rows)  # every epoch is still recorded
    assert summary["test_acc"] == rows[-1]["test_acc"] and summary["val_acc"] == rows[-1]["val_acc"]
    every = run(val, num_epochs=5, exp_name="every1")  # evaluation changes nothing that is trained
    assert every["weights_sha1"] == summary["weights_sha1"] and every["test_acc"] == summary["test_acc"]
    # a budget run ends on the clock, not on an epoch count: its last (maybe partial) epoch is still evaluated
    budget = run(val, algo="yes", budget=0.5, num_epochs=6, width=8, exp_name="budget", calibration_steps=2,
                 eval_every=1000)
    rows = read_jsonl(os.path.join(run_dir(val, "budget"), "metrics.jsonl"))
    assert [r["test_acc"] is not None for r in rows] == [False] * (len(rows) - 1) + [True]
    assert budget["test_acc"] == rows[-1]["test_acc"] is not None and budget["val_acc"] is not None


def test_finished_run_is_not_overwritten_without_flag(tiny_run):
    run(tiny_run, num_epochs=1, exp_name="done")
    with pytest.raises(UserError, match="already holds a finished run.*--overwrite"):
        run(tiny_run, num_epochs=1, exp_name="done")
    assert run(tiny_run, num_epochs=1, exp_name="done", overwrite=True)["epochs"] == 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(batch_size=10_000), "larger than the 400 training images"),
    (dict(train_subset=5000), "5000"),
    (dict(algo="yes", schedule="1/1:0.5,0.5/0.5:0.5"), "shrinks"),
    (dict(algo="yes", schedule="0.5/0.5:0.5,0.5/0.5:0.5"), "not at full size"),
    (dict(algo="yes", num_epochs=2), "only 2 epochs"),
    (dict(algo="yes", init="magic"), "magic"),
    (dict(algo="yes", time_budget="0.01s", calibration_steps=2), "shorter than calibration"),
    (dict(dataset="cifar100"), "--download"),
    (dict(algo="yes", reg_start=1.5), "reg_start"),
    (dict(algo="yes", growth_shrink=0), "growth_shrink"),
])
def test_bad_input_is_a_user_error(tiny_run, kwargs, message):
    with pytest.raises(UserError, match=message):
        train(**{**tiny_run, **kwargs})
    assert not os.path.exists(tiny_run["out_dir"]) or os.listdir(tiny_run["out_dir"]) == []  # no run folder left


def cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "train.py", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_cli_keeps_the_original_interface(tiny_run):
    out = cli("--num_epochs", "3", "--dataset", "cifar10", "--exp_name", "R18_progressive", "--algo", "yes",
              "--data_root", tiny_run["data_root"], "--out_dir", tiny_run["out_dir"], "--width", "8",
              "--batch_size", "40", "--device", "cpu", "--quiet")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["algo"] == "yes"
    assert os.path.exists(os.path.join(tiny_run["out_dir"], "R18_progressive", "summary.json"))


@pytest.mark.parametrize("args, message", [
    (["--dataset", "cifar10", "--data_root", "/nonexistent"], "/nonexistent"),
    (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["--algo", "yes", "--budget", "1.5"], "out of range"),
    (["--algo", "yes", "--budget", "0"], "out of range"),
])
def test_cli_errors_are_one_line_without_traceback(args, message):
    out = cli(*args, "--quiet")
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1


def test_lib_train_stays_the_function_after_submodules_are_imported():
    import lib
    import lib.training.loop  # noqa: F401  (a submodule named like the function would shadow it)

    assert callable(lib.train) and lib.train is train


def test_compile_compiles_once_per_stage(tiny_run):
    """torch.compile (inductor on the CPU here): one graph per stage, no recompilation storm. The width-8 model's
    4-channel first stage is the shortcut tests/test_compile.py checks (it hung here while compiled channels_last)."""
    summary = run(tiny_run, algo="yes", width=8, compile=True, exp_name="compiled",
                  schedule="0.5/0.5:0.34,0.75/0.75:0.33,1/1:0.33")
    rows = read_jsonl(os.path.join(run_dir(tiny_run, "compiled"), "metrics.jsonl"))
    assert [r["compilations"] for r in rows] == [1, 2, 3]
    assert summary["compilations"] == 3 and summary["final_width"] == 8
