"""Figures of runs, schedules and results (seaborn on matplotlib); each function returns its Figure."""
import os

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .records import atomic_open

ARM_PALETTE = {"baseline": "#4c72b0", "progressive": "#dd8452"}
SOURCE_PALETTE = {"paper": "#8c8c8c", "ours": "#55a868"}
FIGURE_TAG = {"Source": "progressive ResNet18 lib.plots"}  # PNG text chunk marking the figures written here


def _time_unit(seconds):
    """(divisor, label) that keeps a time axis readable."""
    if seconds >= 3 * 3600:
        return 3600.0, "h"
    if seconds >= 300:
        return 60.0, "min"
    return 1.0, "s"


def curves_frame(runs):
    """{arm label: Run or metrics DataFrame} -> one long DataFrame with an `arm` column, one row per epoch."""
    frames = []
    for arm, run in runs.items():
        metrics = getattr(run, "metrics", run)
        frames.append(pd.DataFrame(metrics).assign(arm=arm))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plot_accuracy(frame):
    """Test accuracy (%) against epoch and against cumulative training wall-clock time, one line per arm."""
    scale, unit = _time_unit(frame["elapsed_train_s"].max())
    data = frame.assign(train_time=frame["elapsed_train_s"] / scale)
    fig, (ax_epoch, ax_time) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    kw = dict(data=data, y="test_acc", hue="arm", palette=_palette(data), marker="o")
    sns.lineplot(x="epoch", ax=ax_epoch, **kw)
    sns.lineplot(x="train_time", ax=ax_time, **kw)
    ax_epoch.set(xlabel="epoch", ylabel="test accuracy (%)", title="accuracy vs epoch")
    ax_time.set(xlabel=f"training time ({unit})", title="accuracy vs wall-clock training time")
    fig.tight_layout()
    return fig


def plot_schedule(frame):
    """Width (channels) and training resolution (px) of each arm per epoch."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    for ax, column, label in ((axes[0], "width", "width (channels)"), (axes[1], "resolution", "resolution (px)")):
        sns.lineplot(data=frame, x="epoch", y=column, hue="arm", palette=_palette(frame), drawstyle="steps-mid",
                     marker="o", ax=ax)
        ax.set(xlabel="epoch", ylabel=label, title=f"{column} schedule")
    fig.tight_layout()
    return fig


def plot_schedule_explorer(per_epoch):
    """Explorer view of a planned schedule: width, resolution, relative cost per epoch, cumulative cost.

    per_epoch: lib.explore.explore_schedule(...)["per_epoch"].
    """
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.5), sharex=True)
    (ax_w, ax_r), (ax_c, ax_cum) = axes
    sns.lineplot(data=per_epoch, x="epoch", y="width", drawstyle="steps-mid", ax=ax_w, color=ARM_PALETTE["progressive"])
    sns.lineplot(data=per_epoch, x="epoch", y="resolution", drawstyle="steps-mid", ax=ax_r,
                 color=ARM_PALETTE["progressive"])
    sns.barplot(data=per_epoch, x="epoch", y="relative_cost", ax=ax_c, color=ARM_PALETTE["progressive"],
                native_scale=True)
    cum = per_epoch.melt(id_vars="epoch", value_vars=["baseline_cumulative_cost", "cumulative_cost"],
                         var_name="arm", value_name="cost")
    cum["arm"] = cum["arm"].map({"baseline_cumulative_cost": "baseline", "cumulative_cost": "progressive"})
    sns.lineplot(data=cum, x="epoch", y="cost", hue="arm", palette=ARM_PALETTE, ax=ax_cum)
    ax_w.set(ylabel="width (channels)", title="width over training")
    ax_r.set(ylabel="resolution (px)", title="resolution over training")
    ax_c.set(ylabel="cost (full-size epochs)", title="relative cost of each epoch")
    ax_cum.set(ylabel="cost (full-size epochs)", title="cumulative cost")
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    fig.tight_layout()
    return fig


def plot_run(metrics, epoch):
    """One run's test accuracy and training loss per epoch, stages shaded, `epoch` marked."""
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
    for ax, column, label in ((ax_acc, "test_acc", "test accuracy (%)"), (ax_loss, "train_loss", "training loss")):
        for stage, rows in metrics.groupby("stage"):
            ax.axvspan(rows["epoch"].min() - 0.5, rows["epoch"].max() + 0.5, alpha=0.08 * (1 + stage % 2), color="grey")
        sns.lineplot(data=metrics, x="epoch", y=column, marker="o", ax=ax, color=ARM_PALETTE["progressive"])
        ax.axvline(epoch, color="black", linestyle="--", linewidth=1)
        ax.set(xlabel="epoch", ylabel=label)
    ax_acc.set_title("test accuracy (shaded: stages)")
    ax_loss.set_title("training loss")
    fig.tight_layout()
    return fig


def results_frame(table):
    """lib.report.results_table -> long DataFrame (dataset, metric, source, value) of the results figure."""
    rows = []
    for _, r in table.iterrows():
        for metric, paper, ours in (("time saved (%)", "published_time_saved_pct", "time_saved_pct"),
                                    ("accuracy change (pp)", "published_acc_change_pp", "acc_change_pp")):
            rows.append(dict(dataset=r["dataset"], metric=metric, source="paper", value=r.get(paper)))
            rows.append(dict(dataset=r["dataset"], metric=metric, source="ours", value=r.get(ours)))
    return pd.DataFrame(rows).dropna(subset=["value"])


def plot_results(table):
    """Time saved (%) and accuracy change (pp) per dataset, the paper's next to ours."""
    data = results_frame(table)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("time saved (%)", "accuracy change (pp)")):
        part = data[data["metric"] == metric]
        if len(part):
            sns.barplot(data=part, x="dataset", y="value", hue="source", palette=SOURCE_PALETTE, errorbar=None, ax=ax)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set(xlabel="", ylabel=metric, title=f"{metric.split(' (')[0]}: progressive vs baseline")
    fig.tight_layout()
    return fig


def save_figure(fig, path, dpi=120):
    """Save fig atomically (folders created; format from the file's extension, PNG by default); -> path.

    A PNG carries the text chunk FIGURE_TAG, by which is_own_figure recognises it later.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fmt = os.path.splitext(path)[1][1:].lower() or "png"
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format=fmt, dpi=dpi, bbox_inches="tight", **({"metadata": FIGURE_TAG} if fmt == "png" else {}))
    return path


def is_own_figure(path):
    """True when path is a PNG written by save_figure (it carries FIGURE_TAG)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return all(image.text.get(k) == v for k, v in FIGURE_TAG.items())
    except (OSError, ValueError, AttributeError):  # not an image, not a PNG (no text chunks), unreadable
        return False


def _palette(frame):
    arms = list(dict.fromkeys(frame["arm"]))
    return {a: ARM_PALETTE.get(a, c) for a, c in zip(arms, sns.color_palette(n_colors=len(arms)))}
