"""Growth and learning-rate schedules as pure functions of training progress (0 = start, 1 = end)."""
import json
import math
from dataclasses import dataclass

from ..errors import UserError

# Stages as "WIDTH_FRACTION/RESOLUTION_FRACTION:SHARE", comma separated; SHARE is the stage's
# fraction of the training epochs (the budget planner turns shares into seconds).
# Default: grow width and resolution together, 1/2 -> 3/4 -> full, over 30/30/40% of the epochs, new channels
# starting fresh (TrainConfig.init), with regularisation growing with resolution (TrainConfig.reg_start = 0)
# and, under a budget above 0.3 of the baseline's time, the early stages kept at the time they get at 0.3
# (TrainConfig.early_cap). Chosen on validation on a GPU and on a CPU (docs/results.md, "The default:
# width growth with a capped start"): the only recipe above the short control at every budget in both.
DEFAULT_SCHEDULE = "0.5/0.5:0.3,0.75/0.75:0.3,1/1:0.4"
# Resolution growth at full width (the default before width growth): the same shares.
RESOLUTION_SCHEDULE = "1/0.5:0.3,1/0.75:0.3,1/1:0.4"
BASELINE_SCHEDULE = "1/1:1"
WIDTH_QUANTUM = 4  # channels; stage widths are multiples of this (hardware-friendly sizes)
RESOLUTION_QUANTUM = 4  # px; stage resolutions are multiples of this
MIN_RESOLUTION = 8  # px; the network needs >= 8 px to survive three stride-2 stages


@dataclass(frozen=True)
class Stage:
    width_frac: float  # of the full width, in (0, 1]
    res_frac: float  # of the dataset's full resolution, in (0, 1]
    share: float  # of training (epochs), in (0, 1]; all shares sum to 1


def parse_schedule(text):
    """Parse '0.5/0.5:0.3,1/1:0.7' (or a JSON list of [w, r, share] / dicts) into validated stages."""
    if isinstance(text, (list, tuple)) and all(isinstance(s, Stage) for s in text):
        return validate_schedule(tuple(text))
    text = str(text).strip()
    try:
        if text.startswith("["):
            rows = json.loads(text)
            stages = tuple(Stage(**r) if isinstance(r, dict) else Stage(*map(float, r)) for r in rows)
        else:
            stages = tuple(_parse_stage(part) for part in text.split(","))
    except (ValueError, TypeError) as exc:
        raise UserError(
            f"cannot read schedule {text!r} ({exc}); write stages as WIDTH/RES:SHARE separated by commas, "
            f"fractions of full size, e.g. --schedule {DEFAULT_SCHEDULE}"
        ) from None
    return validate_schedule(stages)


def _parse_stage(part):
    size, share = part.split(":")
    width, res = size.split("/")
    return Stage(float(width), float(res), float(share))


def format_schedule(stages):
    """Inverse of parse_schedule for the compact form."""
    return ",".join(f"{s.width_frac:g}/{s.res_frac:g}:{s.share:g}" for s in stages)


def validate_schedule(stages):
    """Check a stage list is a possible growth plan; raise UserError naming the problem and the fix."""
    if not stages:
        raise UserError("schedule has no stages; give at least one, e.g. --schedule 1/1:1")
    for i, s in enumerate(stages):
        for name, v in (("width", s.width_frac), ("resolution", s.res_frac), ("share", s.share)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and 0 < v <= 1):
                raise UserError(f"schedule stage {i + 1}: {name} {v!r} must be a fraction in (0, 1]")
    for i in range(1, len(stages)):
        a, b = stages[i - 1], stages[i]
        if b.width_frac < a.width_frac or b.res_frac < a.res_frac:
            raise UserError(
                f"schedule shrinks at stage {i + 1} ({a.width_frac:g}/{a.res_frac:g} -> {b.width_frac:g}/{b.res_frac:g}); "
                "width and resolution may only stay or grow"
            )
    last = stages[-1]
    if last.width_frac != 1 or last.res_frac != 1:
        raise UserError(
            f"schedule ends at {last.width_frac:g}/{last.res_frac:g}, not at full size; make the last stage 1/1:SHARE"
        )
    total = sum(s.share for s in stages)
    if abs(total - 1) > 1e-6:
        raise UserError(f"schedule shares sum to {total:g}, not 1; rescale them so they add up to 1")
    return tuple(stages)


def restrict_growth(stages, grow):
    """Ablation: keep only width growth ('width'), only resolution growth ('resolution') or both."""
    if grow == "both":
        return tuple(stages)
    if grow == "width":
        kept = tuple(Stage(s.width_frac, 1.0, s.share) for s in stages)
    elif grow == "resolution":
        kept = tuple(Stage(1.0, s.res_frac, s.share) for s in stages)
    else:
        raise UserError(f"unknown --grow {grow!r}; choose width, resolution or both")
    if all(s.width_frac >= 1 and s.res_frac >= 1 for s in kept):  # nothing left to grow: a baseline in disguise
        example = "0.5/1:0.3,0.75/1:0.3,1/1:0.4" if grow == "width" else RESOLUTION_SCHEDULE
        raise UserError(f"--grow {grow} keeps only the {grow} growth of the schedule {format_schedule(stages)}, which "
                        f"has none: every stage would train at full size; give a --schedule that grows the {grow} "
                        f"(e.g. {example}), or --grow both")
    return kept


def snap_width(full_width, frac):
    """Stage width in channels: frac of full_width rounded to a multiple of WIDTH_QUANTUM."""
    if frac >= 1:
        return full_width
    q = WIDTH_QUANTUM if full_width >= 2 * WIDTH_QUANTUM else 1
    return int(min(full_width, max(q, q * round(full_width * frac / q))))


def snap_resolution(full_res, frac):
    """Stage resolution in px: frac of full_res rounded to a multiple of RESOLUTION_QUANTUM, >= MIN_RESOLUTION."""
    if frac >= 1:
        return full_res
    q = RESOLUTION_QUANTUM
    return int(min(full_res, max(MIN_RESOLUTION, q * round(full_res * frac / q))))


def stage_sizes(stages, full_width, full_res):
    """[(width, resolution)] of each stage, in channels and px."""
    return [(snap_width(full_width, s.width_frac), snap_resolution(full_res, s.res_frac)) for s in stages]


def stage_epochs(stages, num_epochs):
    """Whole epochs per stage (cumulative rounding, so they sum to num_epochs); every stage gets >= 1."""
    if num_epochs < len(stages):
        raise UserError(
            f"schedule has {len(stages)} stages but only {num_epochs} epochs; give --num_epochs >= {len(stages)} "
            "or fewer stages"
        )
    bounds, cum = [], 0.0
    for s in stages:
        cum += s.share
        bounds.append(round(cum * num_epochs))
    bounds[-1] = num_epochs
    epochs = [b - a for a, b in zip([0] + bounds[:-1], bounds)]
    if min(epochs) < 1:
        i = epochs.index(min(epochs))
        raise UserError(
            f"schedule stage {i + 1} (share {stages[i].share:g}) gets no whole epoch out of {num_epochs}; "
            "raise --num_epochs or that stage's share"
        )
    return epochs


def stage_bounds(lengths):
    """Cumulative end of each stage as a fraction of the total (last is exactly 1.0)."""
    total = float(sum(lengths))
    out, cum = [], 0.0
    for x in lengths:
        cum += x
        out.append(cum / total)
    out[-1] = 1.0
    return out


def epochs_to_progress(epochs, stage_epochs, stage_lengths):
    """Progress (fraction of the run) at which `epochs` epochs of images have been trained.

    Stage i trains stage_epochs[i] epochs over stage_lengths[i] units of progress (steps or
    seconds), at an even pace within the stage. Past the last epoch the answer is 1.
    """
    total, done, left = float(sum(stage_lengths)), 0.0, max(0.0, epochs)
    for e, length in zip(stage_epochs, stage_lengths):
        if left <= e:
            return (done + length * left / e) / total if e > 0 else done / total
        done, left = done + length, left - e
    return 1.0


def cut_stage(bounds, k, progress):
    """Stage bounds with stage k ended at `progress` (before its planned end), the rest of training shared by the
    later stages in their planned proportions: a stage that stops paying gives its time to those after it."""
    if not 0 <= k < len(bounds) - 1:
        raise ValueError(f"only a stage before the last can end early; got stage {k} of {len(bounds)}")
    start, end = bounds[k - 1] if k else 0.0, bounds[k]
    if not start <= progress <= end:
        raise ValueError(f"stage {k} runs from {start} to {end}; it cannot end at {progress}")
    stretch = (1.0 - progress) / (1.0 - end)  # > 1: the later stages' spans grow alike
    out = list(bounds[:k]) + [progress] + [progress + (b - end) * stretch for b in bounds[k + 1:]]
    out[-1] = 1.0
    return out


def stage_at(bounds, progress):
    """Index of the stage active at progress in [0, 1], given stage_bounds."""
    for i, b in enumerate(bounds):
        if progress < b - 1e-12:
            return i
    return len(bounds) - 1


def lr_at(progress, peak_lr, warmup_frac, last_growth=None, rewarm_frac=0.0, restart_span=None):
    """Linear warm-up from 0 to peak_lr over warmup_frac, then linear decay to 0 at progress 1.

    With rewarm_frac > 0, the rate is ramped up again from 0 over rewarm_frac of training after
    the last growth (at progress last_growth), so newly added units are not hit by a full step.
    With restart_span = (start, end), the progress span of the current stage, the rate restarts
    at peak_lr when the stage begins and decays linearly to 0 at its end (SGDR-style cycles).
    """
    p = min(max(progress, 0.0), 1.0)
    if warmup_frac > 0 and p < warmup_frac:
        lr = peak_lr * p / warmup_frac
    else:
        start, end = restart_span if restart_span is not None else (0.0, 1.0)
        begin = max(start, warmup_frac)  # where the decay starts: after the warm-up, or at the stage's start
        lr = peak_lr * max(0.0, end - p) / max(1e-12, end - begin)
    if rewarm_frac > 0 and last_growth is not None and last_growth <= p < last_growth + rewarm_frac:
        lr *= max(0.0, p - last_growth) / rewarm_frac
    return lr


def reg_scale(res, first_res, full_res, start):
    """Regularisation strength at a stage of `res` px, as a fraction of the full run's (EfficientNetV2).

    Linear in resolution: `start` at the first stage's resolution, 1 at full resolution. A schedule
    that does not change the resolution regularises fully throughout.
    """
    if full_res <= first_res:
        return 1.0
    t = min(max((res - first_res) / (full_res - first_res), 0.0), 1.0)
    return start + (1.0 - start) * t


def batch_multiple(res, full_res, most=None):
    """Batches of --batch_size a stage of `res` px steps on at once to hold a full-size step's pixels.

    The largest whole m with m * res**2 <= full_res**2 (and m <= `most`, the batches in an epoch):
    16 px of 32 steps on 4 batches, 24 px on 1.
    A stage's activations per step then stay within the full-size stage's (its memory), while the
    host's fixed cost per step is paid for m times the images.
    """
    m = max(1, int(full_res * full_res // (res * res)))
    return m if most is None else max(1, min(m, most))


def batch_lr_factor(m, rule):
    """Learning-rate multiplier of a step on m batches: 1 leaves the rate alone; sqrt(m) keeps the gradient
    noise's scale (Hoffer et al., 2017); m is the linear scaling rule (Goyal et al., 2017). Near the rate's
    stability limit the larger rates stall early training (docs/gpu.md)."""
    return {"sqrt": math.sqrt(m), "linear": float(m), "none": 1.0}[rule]


def stage_batch_multiples(mode, sizes, full_res, most=None):
    """Batches per step of each stage before any measurement: 'pixels' fills them, 'fixed' and 'auto' keep 1.

    'auto' chooses per stage from measured throughput when a budget is calibrated (runstate.calibrate_budget).
    """
    if mode == "pixels":
        return [batch_multiple(r, full_res, most) for _, r in sizes]
    return [1] * len(sizes)


def size_at(stages, full_width, full_res, progress, lengths=None):
    """(width, resolution) at a point of training; lengths default to the stages' shares."""
    bounds = stage_bounds(lengths if lengths is not None else [s.share for s in stages])
    return stage_sizes(stages, full_width, full_res)[stage_at(bounds, progress)]
