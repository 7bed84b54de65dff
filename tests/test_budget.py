import itertools
import time
import types

import pytest
import torch

from lib.training import budget as budget_module
from lib.training.budget import check_time_budget, plan_budget
from lib.errors import UserError
from lib.training.schedule import lr_at, parse_schedule, stage_at

STAGES = parse_schedule("0.5/0.5:0.3,0.75/0.75:0.3,1/1:0.4")
FAKE_IPS = [4000.0, 1500.0, 700.0]  # images/s of each stage on a made-up device


@pytest.mark.parametrize("budget_s", [10.0, 120.0, 3600.0])
def test_plan_fills_the_budget_and_keeps_epoch_ratios(budget_s):
    plan = plan_budget(STAGES, FAKE_IPS, 10_000, budget_s)
    assert sum(plan["seconds"]) == pytest.approx(budget_s)
    assert plan["predicted_s"] == pytest.approx(budget_s)
    e = plan["epochs"]
    assert e[0] / e[2] == pytest.approx(0.3 / 0.4) and e[1] / e[2] == pytest.approx(0.3 / 0.4)
    # seconds follow epochs / throughput
    for ep, sec, ips in zip(e, plan["seconds"], FAKE_IPS):
        assert sec == pytest.approx(ep * 10_000 / ips)
    assert plan["time_bounds"][-1] == 1.0
    assert plan["time_bounds"] == sorted(plan["time_bounds"])


@pytest.mark.parametrize("overhead", [None, [0.5, 0.4, 0.3]])
def test_early_cap_gives_the_early_stages_at_most_the_cap_and_the_rest_to_the_last(overhead):
    free = plan_budget(STAGES, FAKE_IPS, 10_000, 100.0, overhead)
    spent = [s - o for s, o in zip(free["seconds"], overhead or [0, 0, 0])]  # training seconds per stage
    early = spent[0] + spent[1]
    assert plan_budget(STAGES, FAKE_IPS, 10_000, 100.0, overhead, early_cap_s=early + 1) == free  # not binding
    capped = plan_budget(STAGES, FAKE_IPS, 10_000, 100.0, overhead, early_cap_s=early / 2)
    got = [s - o for s, o in zip(capped["seconds"], overhead or [0, 0, 0])]
    assert got[0] + got[1] == pytest.approx(early / 2)  # the early stages get the cap...
    assert sum(capped["seconds"]) == pytest.approx(100.0)  # ...the last stage the rest of the budget
    e, f = capped["epochs"], free["epochs"]
    assert e[0] / e[1] == pytest.approx(f[0] / f[1])  # the early stages keep their ratio
    assert e[0] == pytest.approx(f[0] / 2) and e[2] > f[2]
    for ep, sec, ips in zip(e, got, FAKE_IPS):
        assert sec == pytest.approx(ep * 10_000 / ips)
    assert capped["time_bounds"] == sorted(capped["time_bounds"]) and capped["time_bounds"][-1] == 1.0


def test_early_cap_from_the_budget_it_names(monkeypatch):
    """--early_cap B: above budget B the early stages keep the seconds they get at B (runstate.early_cap_seconds)."""
    from lib.training.runstate import early_cap_seconds

    base_s, calib_s, overhead = 400.0, 2.0, [0.5, 0.5, 0.5]
    assert early_cap_seconds(0.0, STAGES, FAKE_IPS, 10_000, base_s, calib_s, overhead) is None
    at = plan_budget(STAGES, FAKE_IPS, 10_000, 0.45 * base_s - calib_s, overhead)
    cap = early_cap_seconds(0.45, STAGES, FAKE_IPS, 10_000, base_s, calib_s, overhead)
    assert cap == pytest.approx(at["seconds"][0] + at["seconds"][1] - 1.0)
    above = plan_budget(STAGES, FAKE_IPS, 10_000, 0.6 * base_s - calib_s, overhead, cap)
    assert above["epochs"][:2] == pytest.approx(at["epochs"][:2])  # the same low-resolution epochs as at 0.45
    below = plan_budget(STAGES, FAKE_IPS, 10_000, 0.3 * base_s - calib_s, overhead, cap)
    assert below == plan_budget(STAGES, FAKE_IPS, 10_000, 0.3 * base_s - calib_s, overhead)  # the shares
    with pytest.raises(UserError, match="--early_cap 0.001 is 0.4 s.*give a larger --early_cap"):
        early_cap_seconds(0.001, STAGES, FAKE_IPS, 10_000, base_s, calib_s, overhead)
    # the default's cap, not asked for, stands aside where calibration alone takes its budget (a tiny run)
    assert early_cap_seconds(0.001, STAGES, FAKE_IPS, 10_000, base_s, calib_s, overhead, required=False) is None
    assert early_cap_seconds(0.45, STAGES, FAKE_IPS, 10_000, base_s, calib_s, overhead, required=False) == cap


def test_the_last_stage_is_full_size_and_longest_in_time():
    plan = plan_budget(STAGES, FAKE_IPS, 10_000, 100.0)
    assert (STAGES[-1].width_frac, STAGES[-1].res_frac) == (1, 1)
    assert plan["seconds"][-1] == max(plan["seconds"])


def test_slower_device_gets_fewer_epochs_in_the_same_budget():
    fast = plan_budget(STAGES, FAKE_IPS, 10_000, 100.0)
    slow = plan_budget(STAGES, [x / 2 for x in FAKE_IPS], 10_000, 100.0)
    assert sum(slow["epochs"]) == pytest.approx(sum(fast["epochs"]) / 2)


@pytest.mark.parametrize("speed", [0.5, 1.0, 2.0])
def test_lr_reaches_zero_at_budget_end_when_stages_run_off_plan(speed):
    """Simulate steps that take `speed` times the planned time: progress is time spent / budget."""
    budget_s, step_s = 60.0, 0.05 * speed
    plan = plan_budget(STAGES, FAKE_IPS, 10_000, budget_s)
    t, lrs, stages_seen = 0.0, [], []
    while t / budget_s < 1:
        p = t / budget_s
        lrs.append(lr_at(p, 0.4, 0.05))
        stages_seen.append(stage_at(plan["time_bounds"], p))
        t += step_s
    assert lrs[-1] <= 0.4 * step_s / budget_s / 0.95 + 1e-9  # the last step runs at ~zero LR
    assert stages_seen == sorted(stages_seen) and stages_seen[-1] == 2
    assert max(lrs) == pytest.approx(0.4, rel=0.01)


def test_time_budget_must_cover_calibration_and_one_epoch():
    check_time_budget(100.0, 5.0, 20.0)
    with pytest.raises(UserError, match=r"time budget 20 s is shorter than calibration \(5 s\).*at least 25 s"):
        check_time_budget(20.0, 5.0, 20.0)


def test_time_budget_must_leave_at_least_half_for_training():
    check_time_budget(10.0, 5.0, 1.0)  # exactly half is allowed
    with pytest.raises(UserError, match=r"calibration took 6 s of the time budget 10 s.*at least 12 s"):
        check_time_budget(10.0, 6.0, 1.0)


@pytest.mark.parametrize("budget_s, calibration_s, epoch_s, message", [
    (20.0, 5.0, 20.0, r"--budget 0.2 \(20 s of the baseline's predicted 100 s\) is shorter.*give --budget 0.25 or more"),
    (10.0, 6.0, 1.0, r"calibration took 6 s of the --budget 0.1 .*give --budget 0.12 or more"),
    (50.0, 90.0, 20.0, r"baseline is predicted to take only 100 s.*--num_epochs"),  # no fraction below 1 would do
])
def test_a_fractional_budget_names_the_fraction_that_would_do(budget_s, calibration_s, epoch_s, message):
    with pytest.raises(UserError, match=message):
        check_time_budget(budget_s, calibration_s, epoch_s, baseline_s=100.0)


def test_plan_rejects_nonpositive_budget():
    with pytest.raises(UserError, match="budget"):
        plan_budget(STAGES, FAKE_IPS, 10_000, -3.0)


class _FakeStep:
    """A step whose every call advances a fake clock by the next of `seconds`, on batches of 10 images."""

    def __init__(self, clock, seconds):
        self.clock, self.seconds = clock, iter(seconds)
        self.step = types.SimpleNamespace(warmup_calls=0, capture_s=0.25)

    def __call__(self, x, y):
        self.clock[0] += next(self.seconds)


def test_throughput_is_the_median_step_timed_back_to_back(monkeypatch):
    """Untimed warm-up calls are left out, one slow step (a passing load) does not move the figure, a key of
    group 2 is timed over half the steps of twice the images, and the seconds spent are the calibration's."""
    clock = [0.0]
    monkeypatch.setattr(budget_module.time, "perf_counter", lambda: clock[0])
    cold, steady = [100.0] * budget_module.WARMUP_STEPS, {1: [1.0, 1.0, 9.0, 1.0, 1.0], 2: [2.0, 30.0, 2.0]}
    made = []

    def make_step(w, r, g):
        made.append((w, r, g))
        return _FakeStep(clock, cold + steady[g])

    def batches(g):
        return itertools.repeat((None, [0] * 10 * g))

    table, capture, spent, timed = budget_module.measure_throughput(
        make_step, [(8, 16, 1), (8, 16, 2), (8, 16, 1)], batches, 5, torch.device("cpu"))
    assert made == [(8, 16, 1), (8, 16, 2)]  # each distinct key once
    assert table == {(8, 16, 1): pytest.approx(10.0), (8, 16, 2): pytest.approx(10.0)}  # 1 s per 10 images
    assert capture == {(8, 16, 1): 0.25, (8, 16, 2): 0.25}
    assert timed == 5 + 3 and spent == pytest.approx(2 * sum(cold) + 13.0 + 34.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA events")
def test_step_marks_on_cuda_time_queued_steps_within_the_wall_clock():
    device = torch.device("cuda")
    a = torch.randn(2048, 2048, device=device)
    marks = budget_module.StepMarks(device)
    torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    marks.mark()
    for _ in range(5):
        a = (a @ a).tanh()
        marks.mark()
    seconds = marks.intervals()  # waits for the last step
    wall = time.perf_counter() - t0
    assert len(seconds) == 5 and min(seconds) > 0 and sum(seconds) <= wall


def _stage(images, seconds, capture_s=0.0):
    return dict(images=images, seconds=seconds, capture_s=capture_s)


def test_speed_vs_plan_is_measured_over_planned_speed_without_capture():
    ratios = budget_module.speed_vs_plan([1000.0, 500.0, 250.0],
                                         [_stage(2000, 2.0), _stage(2000, 2.5, capture_s=0.5), _stage(10, 0.1)])
    assert ratios[0] == pytest.approx(1.0) and ratios[1] == pytest.approx(2.0)
    assert ratios[2] is None  # trained too briefly to judge
    assert budget_module.speed_vs_plan([100.0], [_stage(0, 0.0)]) == [None]  # a stage never reached


def test_speed_warning_names_the_stages_off_plan_and_reestimates_the_baseline():
    assert budget_module.speed_warning([1.0, 1.3, 0.8], 50.0, 100.0) == ""
    assert budget_module.speed_warning([None, None, None], 50.0, 100.0) == ""
    line = budget_module.speed_warning([9.0, 1.2, 8.0], 300.0, 500.0)
    assert "stage 1 at 9.00x" in line and "stage 3 at 8.00x" in line and "stage 2" not in line
    assert "62.5 s" in line and "4.80 of it" in line  # the baseline at the full-size stage's real speed: 500 / 8
    assert "--time_budget" in line and "--calibration_steps" in line
    wall = budget_module.speed_warning([0.2, 0.2, 0.2], 30.0)  # a wall-clock budget: no baseline to re-estimate
    assert "stage 1 at 0.20x" in wall and "fraction" not in wall


def test_a_run_whose_calibration_misjudged_the_speed_warns_and_records_it(tiny_run, one_thread, monkeypatch, capsys):
    """A calibration timed on a machine five times faster than the one that trains (another job left it, say)
    plans from speeds the run does not keep: the summary and stderr say so."""
    from lib.training import runstate
    from lib import train

    real = runstate.measure_throughput

    def fast(*args, **kwargs):
        table, capture, seconds, steps = real(*args, **kwargs)
        return {k: 5 * v for k, v in table.items()}, capture, seconds, steps

    monkeypatch.setattr(runstate, "measure_throughput", fast)
    summary = train(**tiny_run, algo="yes", time_budget="6s", calibration_steps=2, exp_name="misjudged")
    judged = [r for r in summary["speed_vs_plan"] if r is not None]
    assert judged and max(judged) < 1 / budget_module.SPEED_TOLERANCE
    speed = [w for w in summary["warnings"] if "the speed the budget's calibration measured" in w]
    assert len(speed) == 1  # (five times the epochs at lr 0.2 on 400 images may also spike: a warning of its own)
    assert "warning: stage" in capsys.readouterr().err


def test_a_run_with_early_cap_plans_its_low_resolution_stages_as_at_the_cap(tiny_run, one_thread, monkeypatch):
    """--early_cap 0.3 (the default) under --budget 0.6: the 16 and 24 px stages get the epochs a 0.3 budget gives them, and
    the full-size stage the rest (speeds fixed, so both plans see the same machine)."""
    from lib.training import runstate
    from lib import train

    real = runstate.measure_throughput

    def fixed(*args, **kwargs):
        table, capture, seconds, steps = real(*args, **kwargs)
        return ({k: 4000.0 * (32 / k[1]) ** 2 for k in table}, {k: 0.0 for k in capture}, 0.01, steps)

    monkeypatch.setattr(runstate, "measure_throughput", fixed)
    kw = dict(tiny_run, algo="yes", num_epochs=10, budget=0.6)
    free = train(**kw, exp_name="free", early_cap=0.0)["plan"]
    capped = train(**kw, exp_name="capped")["plan"]  # the default cap: 0.3
    at_cap = train(**dict(kw, budget=0.3), exp_name="at_cap")["plan"]
    assert free["early_cap_s"] is None and capped["early_cap_s"] > 0
    assert capped["epochs"][:2] == pytest.approx(at_cap["epochs"][:2])
    assert capped["epochs"][2] > free["epochs"][2] and sum(capped["epochs"][:2]) < sum(free["epochs"][:2])
    assert sum(capped["seconds"]) == pytest.approx(sum(free["seconds"]))


PLAN = dict(images_per_s=[4000.0, 1500.0, 500.0], capture_s=[0.0, 0.0, 2.0], calibration_s=3.0)


def test_rebased_budget_is_the_fraction_of_the_baseline_at_the_speed_training_kept():
    """The full-size stage trained 400 images a second where calibration measured 500, so the 10-epoch baseline
    of 1,000 images an epoch takes 25 s (plus its 2 s capture), not 22."""
    new = budget_module.rebased_budget(PLAN, 0.5, 10, 1000, images=2000, busy_s=5.0)
    assert new["images_per_s"] == pytest.approx(400.0)
    assert new["baseline_s"] == pytest.approx(10 * 1000 / 400 + 2.0)
    assert new["budget_s"] == pytest.approx(0.5 * 27.0)
    assert new["train_budget_s"] == pytest.approx(0.5 * 27.0 - 3.0)  # calibration was spent from the same budget


def test_rebased_budget_waits_for_an_epoch_and_keeps_within_the_speed_tolerance():
    assert budget_module.rebased_budget(PLAN, 0.5, 10, 1000, images=999, busy_s=5.0) is None  # under an epoch
    assert budget_module.rebased_budget(PLAN, 0.5, 10, 1000, images=1000, busy_s=0.1) is None  # too brief to judge
    slow = budget_module.rebased_budget(PLAN, 0.5, 10, 1000, images=1000, busy_s=100.0)  # 10 images/s: 50x slower
    fast = budget_module.rebased_budget(PLAN, 0.5, 10, 1000, images=100_000, busy_s=1.0)
    assert slow["images_per_s"] == pytest.approx(500 / budget_module.SPEED_TOLERANCE)
    assert fast["images_per_s"] == pytest.approx(500 * budget_module.SPEED_TOLERANCE)


def test_a_moved_budget_keeps_progress_continuous_and_ends_at_the_new_budget():
    from lib.training.clock import TrainClock, time_progress

    clock = TrainClock(30.0, None, 60.0, types.SimpleNamespace(enabled=False), torch.device("cpu"))
    assert clock.progress(0) == pytest.approx(0.5)
    clock.retarget(90.0)  # the baseline turned out slower: 30 s more for the last half
    assert clock.anchor == (30.0, pytest.approx(0.5)) and clock.progress(0) == pytest.approx(0.5)
    assert time_progress(60.0, 90.0, clock.anchor) == pytest.approx(0.75)
    assert time_progress(90.0, 90.0, clock.anchor) == pytest.approx(1.0)
    clock.retarget(20.0)  # already past a budget that shrank: the run is over
    assert clock.progress(0) >= 1.0


@pytest.mark.parametrize("base", ["trained", "calibrated"])
def test_a_budget_is_a_fraction_of_the_baseline_at_the_speed_training_kept(tiny_run, one_thread, monkeypatch, base):
    """Calibration that measured 2x the speed the machine then keeps (a short burst on a shared machine): with
    --budget_base trained the run's end moves to 0.6 of the baseline's time at the full-size stage's trained speed,
    kept within 1.5x of the calibrated one, so it trains 1.5x as long as planned; with calibrated it ends where the
    plan said. (At 2x the bound binds whatever the CPU's own noise: this tiny run trained at 0.7-1.2x the speed
    its 2-step calibration measured, too noisy to assert an unbounded estimate against.)"""
    from lib.training import runstate
    from lib import train

    real = runstate.measure_throughput

    def burst(*args, **kwargs):
        table, capture, seconds, steps = real(*args, **kwargs)
        return {k: 2 * v for k, v in table.items()}, capture, seconds, steps

    monkeypatch.setattr(runstate, "measure_throughput", burst)
    summary = train(**tiny_run | dict(num_epochs=20, width=8), algo="yes", budget=0.6, budget_base=base,
                    calibration_steps=2, exp_name=base)
    plan, full = summary["plan"], summary["stages"][-1]
    trained_ips = full["images"] / (full["seconds"] - full["capture_s"])
    if base == "calibrated":
        assert summary["rebase"] is None
        assert summary["train_time_s"] == pytest.approx(plan["budget_s"], rel=0.05)
        return
    rebase = summary["rebase"]
    assert trained_ips < plan["images_per_s"][-1] / budget_module.SPEED_TOLERANCE  # the bound binds
    assert rebase["images_per_s"] == pytest.approx(plan["images_per_s"][-1] / budget_module.SPEED_TOLERANCE)
    assert rebase["budget_s"] == pytest.approx(0.6 * rebase["baseline_s"])
    assert rebase["budget_s"] == pytest.approx(budget_module.SPEED_TOLERANCE * plan["budget_s"])  # no capture on a CPU
    assert summary["train_time_s"] == pytest.approx(rebase["budget_s"], rel=0.05)
    assert summary["train_time_s"] > 1.1 * plan["budget_s"]
