"""Fitting a progressive schedule to a time budget: measured throughput per stage, then a pure plan."""
import statistics
import time

import torch

from .errors import UserError

WARMUP_STEPS = 2  # untimed steps per stage before timing (allocator, cudnn autotune, caches)


def plan_budget(stages, images_per_s, n_train, budget_s):
    """Stretch the stages' epoch shares so their predicted time equals budget_s (seconds).

    stages: schedule stages (shares = fraction of epochs); images_per_s: measured training
    throughput of each stage's size; n_train: images per epoch. The epoch ratios between stages
    are the schedule's, so the last stage (full size) keeps its share of the learning.
    Returns {"epochs": [...], "seconds": [...], "time_bounds": [...], "predicted_s": budget_s}.
    """
    if budget_s <= 0:
        raise UserError(f"the budget leaves {budget_s:.1f} s for training; give a larger budget")
    if len(images_per_s) != len(stages) or min(images_per_s) <= 0:
        raise ValueError(f"need one positive throughput per stage, got {images_per_s}")
    sec_per_unit = [s.share * n_train / ips for s, ips in zip(stages, images_per_s)]  # s per unit share-epoch
    scale = budget_s / sum(sec_per_unit)  # epochs per unit of share
    seconds = [scale * t for t in sec_per_unit]
    bounds, cum = [], 0.0
    for t in seconds:
        cum += t
        bounds.append(cum / budget_s)
    bounds[-1] = 1.0
    return {
        "epochs": [scale * s.share for s in stages],
        "seconds": seconds,
        "time_bounds": bounds,
        "predicted_s": float(sum(seconds)),
    }


def baseline_seconds(num_epochs, n_train, full_images_per_s):
    """Predicted training time of the full-size baseline (s)."""
    return num_epochs * n_train / full_images_per_s


def check_time_budget(budget_s, calibration_s, smallest_epoch_s):
    """A budget must cover the calibration and at least one epoch of the cheapest stage."""
    need = calibration_s + smallest_epoch_s
    if budget_s < need:
        raise UserError(
            f"time budget {budget_s:.0f} s is shorter than calibration ({calibration_s:.1f} s) plus one epoch of the "
            f"smallest stage ({smallest_epoch_s:.1f} s); give at least {need:.0f} s, or use --train_subset"
        )


def measure_throughput(make_model, run_step, sizes, batches, steps, sync):
    """Images/s of a training step for each distinct (width, resolution) in sizes.

    make_model(width) -> (model, optimizer); run_step(model, optimizer, x_uint8, y, resolution)
    runs one optimizer step; batches: an iterator of (x_uint8, y) that may be cycled. Global RNG
    state is restored afterwards so calibration does not change the run it plans.
    Throughput is one image over the median per-image step time, robust to a passing load.
    Returns ({(w, r): images_per_s}, seconds spent, steps timed).
    """
    t_start = time.perf_counter()
    table, timed = {}, 0
    with torch.random.fork_rng(devices=[]):
        for w, r in dict.fromkeys(sizes):
            model, opt = make_model(w)
            for _ in range(WARMUP_STEPS):
                x, y = next(batches)
                run_step(model, opt, x, y, r)
            step_s = []  # each step timed alone: the median ignores a step slowed by a passing load
            for _ in range(steps):
                x, y = next(batches)
                sync()
                t0 = time.perf_counter()
                run_step(model, opt, x, y, r)
                sync()
                step_s.append((time.perf_counter() - t0) / len(y))
            table[(w, r)] = 1.0 / max(statistics.median(step_s), 1e-12)
            timed += steps
            del model, opt
    return table, time.perf_counter() - t_start, timed
