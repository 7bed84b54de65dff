"""What the explorer notebook's widgets call: a schedule from slider values, and a browser of run folders."""
import math
import os

import matplotlib.pyplot as plt
import pandas as pd

from ..data.datasets import get_spec
from ..errors import UserError
from ..growth.flops import flops_per_image
from ..records import read_jsonl
from ..training.budget import plan_budget
from ..training.config import DEFAULT_EARLY_CAP
from ..training.runstate import early_cap_seconds
from ..training.schedule import (DEFAULT_SCHEDULE, Stage, format_schedule, parse_schedule, stage_bounds,
                                 stage_epochs, stage_sizes)

NO_RUNS = "(no runs found)"
# the sliders' starting point: the default schedule's growths (first growth, reach full size) as fractions of training
DEFAULT_BOUNDARIES = tuple(round(b, 4) for b in stage_bounds([s.share for s in parse_schedule(DEFAULT_SCHEDULE)])[:-1])
DEFAULT_START = parse_schedule(DEFAULT_SCHEDULE)[0]  # the default schedule's first stage: start width and resolution


class View:
    """What a widget callback returns: its data, a text line and a figure.

    interact() displays a callback's return value; displaying a View prints its text and shows its
    figure (closed beforehand, so matplotlib's inline backend does not show it a second time).
    """

    def __init__(self, text, figure=None, data=None):
        self.text, self.figure, self.data = text, figure, data
        if figure is not None:
            plt.close(figure)

    def _ipython_display_(self):
        from IPython.display import display

        print(self.text)
        if self.figure is not None:
            display(self.figure)

    def __repr__(self):
        return self.text


# ----------------------------------------------------------------------------- schedule explorer

def slider_stages(num_stages=3, boundaries=DEFAULT_BOUNDARIES, start_width=DEFAULT_START.width_frac,
                  start_res=DEFAULT_START.res_frac):
    """Stages from slider values.

    boundaries = (first growth, reach full size), as fractions of training; the growths in between are
    evenly spaced (2 stages: one growth, at the second value). Width and resolution fractions rise evenly
    from start_width / start_res to 1. The defaults give lib.training.schedule.DEFAULT_SCHEDULE.
    """
    n = int(num_stages)
    if n < 1:
        raise UserError(f"number of stages must be >= 1, got {num_stages}")
    if n == 1:
        return parse_schedule("1/1:1")
    first, last = sorted(boundaries)
    points = [last] if n == 2 else [first + (last - first) * i / (n - 2) for i in range(n - 1)]
    edges = [0.0] + [round(p, 4) for p in points] + [1.0]
    shares = [round(b - a, 4) for a, b in zip(edges, edges[1:])]
    if min(shares) <= 0:
        raise UserError(f"stage boundaries {first:g} and {last:g} leave a stage with no training; spread them apart")
    shares[-1] = round(1 - sum(shares[:-1]), 4)
    fracs = [(round(start_width + (1 - start_width) * i / (n - 1), 4), round(start_res + (1 - start_res) * i / (n - 1), 4))
             for i in range(n)]
    return parse_schedule([Stage(w, r, s) for (w, r), s in zip(fracs, shares)])


def explore_schedule(num_stages=3, boundaries=DEFAULT_BOUNDARIES, start_width=DEFAULT_START.width_frac,
                     start_res=DEFAULT_START.res_frac, epochs=100, budget=0.0, dataset="cifar10", width=64,
                     early_cap=DEFAULT_EARLY_CAP):
    """A schedule's sizes and cost per epoch, and its predicted saving against the full-size baseline.

    Cost model: an epoch at (w, r) costs flops_per_image(w, r) / flops_per_image(width, full resolution)
    full-size epochs (training FLOPs scale the same way). Without a budget the stages get whole epochs as
    lib.train gives them; with budget (fraction of the baseline's cost, in (0, 1)) the stages' epochs are
    stretched, keeping their ratios, until the predicted cost equals budget * epochs, and above a budget of
    early_cap the stages before the last keep the cost they get at early_cap and the last stage gets the rest
    (lib.plan_budget, given each stage's cost where training gives it measured speeds; early_cap 0: no cap,
    as --early_cap). Returns a dict; per_epoch is a DataFrame with one row per epoch of the longer arm
    (the progressive columns are NaN after its last epoch).
    """
    spec = get_spec(dataset)
    stages = slider_stages(num_stages, boundaries, start_width, start_res)
    sizes = stage_sizes(stages, width, spec.resolution)
    full = flops_per_image(width, spec.resolution, spec.in_channels, spec.num_classes)
    cost = [flops_per_image(w, r, spec.in_channels, spec.num_classes) / full for w, r in sizes]  # per epoch
    if budget:
        if not 0 < budget < 1:
            raise UserError(f"budget {budget:g} must be a fraction of the baseline's time in (0, 1), or 0 for none")
        if not 0 <= early_cap < 1:
            raise UserError(f"early cap {early_cap:g} must be a fraction of the baseline's time in [0, 1), "
                            "or 0 for none")
        speeds = [1 / c for c in cost]  # full-size epochs of images per unit of cost; one epoch = one image here
        no_overhead = [0.0] * len(stages)  # the FLOPs model has no calibration or step capture
        cap = early_cap_seconds(early_cap, stages, speeds, 1, epochs, 0.0, no_overhead)  # as training plans it
        lengths = plan_budget(stages, speeds, 1, budget * epochs, early_cap_s=cap)["epochs"]
    else:
        lengths = [float(e) for e in stage_epochs(stages, int(epochs))]
    ends = [sum(lengths[:i + 1]) for i in range(len(lengths))]
    starts = [0.0] + ends[:-1]
    rows, cumulative = [], 0.0
    for e in range(1, max(math.ceil(ends[-1] - 1e-9), int(epochs)) + 1):
        row = dict(epoch=e, baseline_cumulative_cost=float(min(e, epochs)))
        if e - 1 < ends[-1] - 1e-9:  # the progressive run is still training in this epoch
            overlap = [max(0.0, min(e, b) - max(e - 1, a)) for a, b in zip(starts, ends)]  # epochs of each stage
            k = max(range(len(overlap)), key=lambda i: overlap[i])
            epoch_cost = sum(o * c for o, c in zip(overlap, cost))
            cumulative += epoch_cost
            row |= dict(stage=k + 1, width=sizes[k][0], resolution=sizes[k][1], relative_cost=epoch_cost,
                        cumulative_cost=cumulative)
        rows.append(row)
    progressive_cost = sum(l * c for l, c in zip(lengths, cost))
    return dict(schedule=format_schedule(stages), stages=stages, sizes=sizes, stage_epochs=lengths, stage_cost=cost,
                per_epoch=pd.DataFrame(rows), baseline_cost=float(epochs), progressive_cost=progressive_cost,
                predicted_saving=1 - progressive_cost / epochs)


def describe_schedule(data):
    """The explorer's text: the predicted saving line first, then the schedule and its stages."""
    stages = ", ".join(f"{e:.1f} ep at w{w}@{r}px" for e, (w, r) in zip(data["stage_epochs"], data["sizes"]))
    return (f"predicted saving vs baseline: {100 * data['predicted_saving']:.1f}%\n"
            f"schedule {data['schedule']}: {stages}; cost {data['progressive_cost']:.1f} of "
            f"{data['baseline_cost']:.0f} full-size epochs (FLOPs model)")


def show_schedule(num_stages=3, boundaries=DEFAULT_BOUNDARIES, start_width=DEFAULT_START.width_frac,
                  start_res=DEFAULT_START.res_frac, epochs=100, budget=0.0, dataset="cifar10", width=64,
                  early_cap=DEFAULT_EARLY_CAP):
    """The schedule widget's callback: explore_schedule(...) as a View (saving line + figure)."""
    from .plots import plot_schedule_explorer

    try:
        data = explore_schedule(num_stages, boundaries, start_width, start_res, epochs, budget, dataset, width,
                                early_cap)
    except UserError as exc:
        return View(f"cannot plan this schedule: {exc}")
    return View(describe_schedule(data), plot_schedule_explorer(data["per_epoch"]), data)


def schedule_sliders(epochs=100, budget=0.0, dataset="cifar10", width=64):
    """The schedule widget's controls, for interact(show_schedule, **schedule_sliders(...)); dataset and
    width stay fixed."""
    import ipywidgets as w

    style = dict(description_width="11em")
    layout = w.Layout(width="32em")
    return dict(
        num_stages=w.IntSlider(3, min=1, max=6, description="number of stages", style=style, layout=layout),
        boundaries=w.FloatRangeSlider(value=DEFAULT_BOUNDARIES, min=0.05, max=0.95, step=0.05,
                                      description="stage boundaries", style=style, layout=layout),
        start_width=w.FloatSlider(DEFAULT_START.width_frac, min=0.25, max=1.0, step=0.05,
                                  description="start width factor", style=style, layout=layout),
        start_res=w.FloatSlider(DEFAULT_START.res_frac, min=0.25, max=1.0, step=0.05,
                                description="start resolution factor", style=style, layout=layout),
        epochs=w.IntSlider(epochs, min=6, max=300, step=2, description="epochs", style=style, layout=layout),
        budget=w.FloatSlider(budget, min=0.0, max=0.95, step=0.05, description="budget (0 = none)",
                             style=style, layout=layout),
        early_cap=w.FloatSlider(DEFAULT_EARLY_CAP, min=0.0, max=0.9, step=0.05, description="early cap (0 = none)",
                                style=style, layout=layout),
        dataset=w.fixed(dataset),
        width=w.fixed(width),
    )


# ----------------------------------------------------------------------------- run browser

def find_run_folders(root):
    """Folders under root holding a metrics.jsonl (finished or still running), sorted."""
    found = []
    for folder, _, files in os.walk(root):
        if "metrics.jsonl" in files:
            found.append(folder)
    return sorted(found)


def run_epoch(run, epoch):
    """(metrics DataFrame, the row of `epoch`) of a run folder; epoch is 1-based, clipped to the run."""
    metrics = pd.DataFrame(read_jsonl(os.path.join(run, "metrics.jsonl")))
    if metrics.empty:
        return metrics, None
    row = metrics.iloc[min(max(int(epoch), 1), len(metrics)) - 1]
    return metrics, row


def show_run(run=NO_RUNS, epoch=1):
    """The run browser's callback: a run's curves with `epoch` marked, and which stage that epoch was in."""
    from .plots import plot_run

    if not run or run == NO_RUNS or not os.path.isdir(run):
        return View("no run folders found; train a run first (any notebook, run_all.py or train.py)")
    metrics, row = run_epoch(run, epoch)
    if row is None:
        return View(f"{run}: no finished epoch yet")
    finished = os.path.exists(os.path.join(run, "summary.json"))
    text = (f"{os.path.basename(run)} epoch {int(row['epoch'])}/{len(metrics)}{'' if finished else ' (running)'}: "
            f"stage {int(row['stage'])} at width {int(row['width'])}, {int(row['resolution'])} px; "
            + (f"test accuracy {row['test_acc']:.2f}%" if pd.notna(row.get("test_acc"))
               else "not evaluated this epoch (--eval_every)")
            + f", {row['elapsed_train_s']:.1f} s of training so far")
    return View(text, plot_run(metrics, int(row["epoch"])), dict(metrics=metrics, row=row))


def run_browser_widgets(root="outputs"):
    """Controls for interact(show_run, **run_browser_widgets(root)): a run picker and an epoch slider
    whose range follows the picked run."""
    import ipywidgets as w

    runs = find_run_folders(root) or [NO_RUNS]
    picker = w.Dropdown(options=runs, value=runs[0], description="run", layout=w.Layout(width="48em"))
    slider = w.IntSlider(1, min=1, max=1, description="epoch")

    def follow(change):
        n = len(read_jsonl(os.path.join(change["new"], "metrics.jsonl"))) if os.path.isdir(change["new"]) else 1
        slider.max = max(1, n)
        slider.value = slider.max

    picker.observe(follow, names="value")
    follow({"new": runs[0]})
    return dict(run=picker, epoch=slider)
