"""Figures of runs, schedules and results (seaborn on matplotlib); each function returns its Figure."""
import os

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ..records import atomic_open

ARM_PALETTE = {"baseline": "#4c72b0", "progressive": "#dd8452", "short": "#8172b3"}
SOURCE_PALETTE = {"paper": "#8c8c8c", "ours": "#55a868", "short": ARM_PALETTE["short"]}
FIGURE_TAG = {"Source": "progressive ResNet18 lib.plots"}  # PNG text chunk marking the figures written here
FRONTIER_X = {"train_time_s": "training time", "ratio": "training time / baseline's"}  # x columns of plot_frontier


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

    per_epoch: lib.reporting.explore.explore_schedule(...)["per_epoch"].
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
    """lib.reporting.report.results_table -> long DataFrame (dataset, metric, source, value) of the results figure.

    Sources: paper (published), ours (our progressive run), short (our short run at the same budget).
    """
    rows = []
    for _, r in table.iterrows():
        for metric, paper, ours, short in (
                ("time saved (%)", "published_time_saved_pct", "time_saved_pct", "short_time_saved_pct"),
                ("accuracy change (pp)", "published_acc_change_pp", "acc_change_pp", "short_acc_change_pp")):
            for source, column in (("paper", paper), ("ours", ours), ("short", short)):
                rows.append(dict(dataset=r["dataset"], metric=metric, source=source, value=r.get(column)))
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
        ax.set(xlabel="", ylabel=metric, title=f"{metric.split(' (')[0]} vs baseline (ours: progressive)")
    fig.tight_layout()
    return fig


def plot_frontier(stats, x="train_time_s", title=""):
    """Test accuracy (%) against training time: one line per method through its budgets, the baseline as one point.

    stats: rows (list of dicts or DataFrame) of method, budget, test_acc, test_acc_std, x and x + "_std", one
    per method and budget (means and standard deviations over seeds, as bench/frontier.py writes them);
    x: "train_time_s" (seconds) or "ratio" (of the same seed's baseline time). Error bars are one std on
    both axes; each point is labelled with its budget.
    """
    data = pd.DataFrame(list(stats) if not isinstance(stats, pd.DataFrame) else stats).fillna({f"{x}_std": 0.0,
                                                                                              "test_acc_std": 0.0})
    scale, unit = _time_unit(data[x].max()) if x == "train_time_s" else (1.0, "")
    data = data.assign(x=data[x] / scale, x_std=data[f"{x}_std"] / scale).sort_values(["method", "x"])
    palette = _palette(data.rename(columns={"method": "arm"}))
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    lines = data[data["method"] != "baseline"]
    if len(lines):
        sns.lineplot(data=lines, x="x", y="test_acc", hue="method", palette=palette, marker="o", sort=True,
                     errorbar=None, ax=ax)
    for method, rows in data.groupby("method", sort=False):
        base = method == "baseline"
        ax.errorbar(rows["x"], rows["test_acc"], xerr=rows["x_std"], yerr=rows["test_acc_std"],
                    color=palette[method], fmt="*" if base else "none", markersize=14, capsize=3,
                    label="baseline" if base else None)
        if base:
            ax.axhline(rows["test_acc"].iloc[0], color=palette[method], linestyle=":", linewidth=1)
            continue
        for _, r in rows.iterrows():
            ax.annotate(f"{r['budget']:g}", (r["x"], r["test_acc"]), textcoords="offset points", xytext=(5, -12),
                        fontsize=8, color=palette[method])
    ax.set(xlabel=FRONTIER_X[x] + (f" ({unit})" if unit else ""), ylabel="test accuracy (%)",
           title=title or "test accuracy against training time")
    ax.legend(title="mean ± std over seeds; labels: budget", fontsize=8, title_fontsize=8)
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
