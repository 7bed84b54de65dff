"""Fitting a progressive schedule to a time budget: measured throughput per stage, then a pure plan."""
import math
import statistics
import time

import torch

from ..errors import UserError
from .clock import wait_for

WARMUP_STEPS = 2  # untimed steps per stage before timing (allocator, cudnn autotune, caches)


def plan_budget(stages, images_per_s, n_train, budget_s, overhead_s=None, early_cap_s=None):
    """Stretch the stages' epoch shares so their predicted time equals budget_s (seconds).

    stages: schedule stages (shares = fraction of epochs); images_per_s: measured training
    throughput of each stage's size; n_train: images per epoch; overhead_s: seconds each stage
    spends before it trains at that speed (a CUDA graph capture, a compilation; default none).
    The epoch ratios between stages are the schedule's, so the last stage (full size) keeps its
    share of the learning. early_cap_s: the most seconds of training (overhead aside) the stages
    before the last may take together; where the shares would give them more, they keep their
    ratios within that time and the last stage gets the rest (None: no cap). Returns
    {"epochs": [...], "seconds": [...] (overhead included), "time_bounds": [...], "predicted_s": budget_s}.
    """
    overhead_s = list(overhead_s) if overhead_s is not None else [0.0] * len(stages)
    if len(images_per_s) != len(stages) or min(images_per_s) <= 0:
        raise ValueError(f"need one positive throughput per stage, got {images_per_s}")
    if len(overhead_s) != len(stages) or min(overhead_s) < 0:
        raise ValueError(f"need one overhead >= 0 per stage, got {overhead_s}")
    if early_cap_s is not None and early_cap_s < 0:
        raise ValueError(f"early_cap_s must be >= 0, got {early_cap_s}")
    train_s = budget_s - sum(overhead_s)
    if train_s <= 0:
        raise UserError(f"the budget leaves {train_s:.1f} s for training after calibration and "
                        f"{sum(overhead_s):.1f} s of step capture; give a larger budget")
    sec_per_unit = [s.share * n_train / ips for s, ips in zip(stages, images_per_s)]  # s per unit share-epoch
    scale = train_s / sum(sec_per_unit)  # epochs per unit of share
    scales = [scale] * len(stages)
    early_s = scale * sum(sec_per_unit[:-1])
    if early_cap_s is not None and len(stages) > 1 and early_s > early_cap_s:
        scales = [scale * early_cap_s / early_s] * (len(stages) - 1) + [(train_s - early_cap_s) / sec_per_unit[-1]]
    seconds = [k * t + o for k, t, o in zip(scales, sec_per_unit, overhead_s)]
    bounds, cum = [], 0.0
    for t in seconds:
        cum += t
        bounds.append(cum / budget_s)
    bounds[-1] = 1.0
    return {
        "epochs": [k * s.share for k, s in zip(scales, stages)],
        "seconds": seconds,
        "time_bounds": bounds,
        "predicted_s": float(sum(seconds)),
    }


def baseline_seconds(num_epochs, n_train, full_images_per_s):
    """Predicted training time of the full-size baseline (s)."""
    return num_epochs * n_train / full_images_per_s


SPEED_TOLERANCE = 1.5  # a stage that trained this many times faster or slower than calibrated is reported
MIN_JUDGED_S = 0.5  # a stage that trained less than this is too brief to compare with its calibration


def trained_speed(images, busy_s):
    """Images per second of a stretch of training (busy_s: its seconds, captures excluded); None when it trained
    nothing or for less than MIN_JUDGED_S: too brief to judge a speed from."""
    return images / busy_s if images and busy_s >= MIN_JUDGED_S else None


def rebased_budget(plan, budget, num_epochs, n_train, images, busy_s, tolerance=SPEED_TOLERANCE):
    """--budget re-estimated from training: the baseline's seconds at the speed the full-size stage has kept so far.

    The calibration times a few steps, and on a shared machine its speed may not last (on a 2-core CPU the full-size
    stage trained at 0.80-1.35x its calibrated speed): a budget that is a fraction of that estimate would give a
    progressive run less (or more) time than the same fraction of the baseline's epochs takes. The full-size
    stage runs the baseline's very step, so its measured speed is the baseline's. plan: the calibration's plan;
    images, busy_s: what the full-size stage has trained so far and its seconds (captures excluded). The
    measured speed is kept within `tolerance` times the calibrated one either way: beyond
    that the machine changed, not the estimate, and speed_warning reports it. -> {"images_per_s",
    "baseline_s", "budget_s", "train_budget_s"}, or None before the stage has trained a whole epoch's images
    (or MIN_JUDGED_S): too little to estimate from.
    """
    measured = trained_speed(images, busy_s)
    if images < n_train or measured is None:
        return None
    planned = plan["images_per_s"][-1]
    ips = min(max(measured, planned / tolerance), planned * tolerance)
    base_s = baseline_seconds(num_epochs, n_train, ips) + plan["capture_s"][-1]
    total_s = budget * base_s
    return dict(images_per_s=ips, baseline_s=base_s, budget_s=total_s, train_budget_s=total_s - plan["calibration_s"])


def speed_vs_plan(planned_images_per_s, stage_records):
    """Each stage's measured training speed over the speed its calibration planned with: about 1 when the
    machine kept its speed. stage_records: summary.json's per-stage dicts (images, seconds, capture_s).
    None for a stage that trained too briefly to judge."""
    out = []
    for ips, st in zip(planned_images_per_s, stage_records):
        measured = trained_speed(st["images"], st["seconds"] - st["capture_s"])
        out.append(measured / ips if measured is not None and ips > 0 else None)
    return out


def speed_warning(ratios, train_s, baseline_predicted_s=None, tolerance=SPEED_TOLERANCE):
    """One line when a stage trained much faster or slower than its calibration measured (the machine's load
    changed between the two), so the budget was planned from speeds it did not keep; "" otherwise.

    baseline_predicted_s: the calibration's estimate of the baseline when the budget is a fraction of it
    (--budget); the line then re-estimates the baseline at the speed the full-size stage trained at."""
    off = [(k, r) for k, r in enumerate(ratios, 1) if r is not None and not 1 / tolerance <= r <= tolerance]
    if not off:
        return ""
    speeds = ", ".join(f"stage {k} at {r:.2f}x" for k, r in off)
    line = (f"{speeds} the speed the budget's calibration measured: the machine's speed changed between the "
            f"calibration and the training (other work on it?), so the plan used speeds it did not keep")
    if baseline_predicted_s and ratios[-1]:
        base = baseline_predicted_s / ratios[-1]
        line += (f"; --budget is a fraction of the baseline's time, estimated at {baseline_predicted_s:.1f} s, "
                 f"which at the full-size speed of training is about {base:.1f} s (this run: {train_s:.1f} s, "
                 f"{train_s / base:.2f} of it)")
    return line + ("; on a machine free of other work, or with more --calibration_steps, the plan holds; "
                   "--time_budget fixes the wall-clock time instead")


def check_time_budget(budget_s, calibration_s, smallest_epoch_s, baseline_s=None, calibration_steps=None):
    """A budget must cover the calibration and at least one epoch of the cheapest stage, and calibration may take
    at most half of it: a plan squeezed into what is left would train a few steps and call them a run.

    baseline_s: the baseline's predicted seconds when the budget was given as a fraction of it (--budget), so the
    error names that fraction and the one that would do; None for a wall-clock --time_budget. calibration_steps:
    the timed steps per size (fewer are suggested only where there can be fewer).
    """
    fewer_steps = calibration_steps is None or calibration_steps > 1
    given = (f"time budget {budget_s:.3g} s" if baseline_s is None else
             f"--budget {budget_s / baseline_s:g} ({budget_s:.3g} s of the baseline's predicted {baseline_s:.3g} s)")

    def fix(need_s, time_hint):
        if baseline_s is None:
            return f"give at least {need_s:.3g} s, or {time_hint}"
        if need_s < baseline_s:
            return f"give --budget {math.ceil(100 * need_s / baseline_s) / 100:g} or more"
        return (f"the baseline is predicted to take only {baseline_s:.3g} s, so no fraction of it will do: train more "
                f"epochs (--num_epochs)" + (", or give fewer --calibration_steps" if fewer_steps else ""))

    need = calibration_s + smallest_epoch_s
    if budget_s < need:
        raise UserError(f"{given} is shorter than calibration ({calibration_s:.3g} s) plus one epoch of the smallest "
                        f"stage ({smallest_epoch_s:.3g} s); " + fix(need, "train on fewer images per epoch "
                                                                         "(--train_subset)"))
    if calibration_s > 0.5 * budget_s:
        raise UserError(f"calibration took {calibration_s:.3g} s of the {given}, more than half, so too little is "
                        f"left to train; " + fix(2 * calibration_s, "give fewer --calibration_steps" if fewer_steps else
                                                 "train on fewer images per epoch (--train_subset)"))


def _untimed_calls(step, source):
    """The calls a fresh step makes before it runs at its steady speed (allocator, autotune, its CUDA graph capture)."""
    for _ in range(max(WARMUP_STEPS, step.step.warmup_calls)):
        step(*next(source))


class StepMarks:
    """Time stamps between consecutive steps, taken without stopping the device: the steps run back to back, as
    training runs them.

    On a CPU a mark is the host clock (a step is done when its call returns). On CUDA a mark is an event recorded
    on the device's stream, so an interval is the device's time from one step's end to the next one's, and the
    host keeps queueing work ahead as it does in training; a host sync after every step would add its latency and
    the host's launch time to every step (it timed the full-size step about 5 % slow on an H200).
    """

    def __init__(self, device):
        self.device, self.marks = device, []

    def mark(self):
        if self.device.type == "cuda":
            event = torch.cuda.Event(enable_timing=True)
            event.record(torch.cuda.current_stream(self.device))
            self.marks.append(event)
        else:
            self.marks.append(time.perf_counter())

    def intervals(self):
        """Seconds between consecutive marks (waits for the device to reach the last one)."""
        if self.device.type == "cuda":
            self.marks[-1].synchronize()
            return [a.elapsed_time(b) / 1000.0 for a, b in zip(self.marks, self.marks[1:])]
        return [b - a for a, b in zip(self.marks, self.marks[1:])]


def warm_up(make_step, key, batches, device):
    """Run a throwaway model's step at key (width, resolution, group) until it is warm; -> seconds it took.

    A fresh process pays once for loading the device's libraries and kernels (seconds on CUDA, a
    second on a CPU); a run does this before its clock starts, so that cost is never charged to
    whichever method trains first in a process, nor to a budget's calibration. make_step and batches
    are measure_throughput's. RNG states are restored (the run's own GPU's too, and no other
    GPU's: touching one would open a context there), so the run that follows is the same with or
    without it.
    """
    t0 = time.perf_counter()
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        step = make_step(*key)
        _untimed_calls(step, batches(key[2]))
        wait_for(device)
        del step
    return time.perf_counter() - t0


def measure_throughput(make_step, keys, batches, steps, device):
    """Images/s of the training step each distinct (width, resolution, group) in keys will run on device.

    make_step(width, resolution, group) -> step(x_uint8, y), one optimizer step on a fresh model; its
    attribute `step` is the lib.training.step.StageStep behind it (its warm-up calls, where a CUDA graph is
    captured, are run untimed and the capture time is reported). batches(group): an iterator of
    (x_uint8, y) batches of `group` loader batches each, that may be cycled; a key of group g is timed
    over ceil(steps / g) steps, the same images as group 1. The steps run back to back and each is timed
    alone (StepMarks); throughput is one image over the median per-image step time, robust to a passing
    load. Global RNG state is restored afterwards so calibration does not change the run it plans.
    Returns ({key: images_per_s}, {key: capture seconds}, seconds spent, steps timed).
    """
    t_start = time.perf_counter()
    table, capture, timed = {}, {}, 0
    with torch.random.fork_rng(devices=[]):
        for w, r, g in dict.fromkeys(keys):
            step, source = make_step(w, r, g), batches(g)
            _untimed_calls(step, source)
            marks, images = StepMarks(device), []
            marks.mark()
            for _ in range(max(1, math.ceil(steps / g))):
                x, y = next(source)
                step(x, y)
                marks.mark()
                images.append(len(y))
            step_s = [s / n for s, n in zip(marks.intervals(), images)]  # waits for the last step
            table[(w, r, g)] = 1.0 / max(statistics.median(step_s), 1e-12)
            capture[(w, r, g)] = step.step.capture_s
            timed += len(step_s)
            del step
    return table, capture, time.perf_counter() - t_start, timed
