"""lib.reporting.plots: each figure draws the data it is given (checked through the plotted artists)."""
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from lib.reporting import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def metrics(widths, resolutions, accs, seconds_per_epoch):
    return pd.DataFrame(dict(epoch=range(1, len(accs) + 1), stage=[1 + (w != widths[0]) for w in widths],
                             width=widths, resolution=resolutions, test_acc=accs, train_loss=[2.0 - a / 100 for a in accs],
                             elapsed_train_s=np.cumsum(seconds_per_epoch)))


BASE = metrics([64] * 4, [32] * 4, [40.0, 60.0, 70.0, 75.0], [10.0] * 4)
PROG = metrics([32, 32, 64, 64], [16, 16, 32, 32], [30.0, 50.0, 68.0, 74.0], [3.0, 3.0, 10.0, 10.0])


def line_points(ax):
    """{legend label: (x, y)} of the lines drawn on ax (seaborn's legend handles share the labels)."""
    out = {}
    handles, labels = ax.get_legend_handles_labels()
    for line in ax.get_lines():
        xy = line.get_xydata()
        if len(xy) > 1:
            out.setdefault(line.get_color(), []).append(xy)
    colors = {label: h.get_color() for h, label in zip(handles, labels)}
    return {label: out[c][0] for label, c in colors.items() if c in out}


def test_curves_frame_stacks_arms():
    frame = plots.curves_frame({"baseline": BASE, "progressive": PROG})
    assert list(frame["arm"].unique()) == ["baseline", "progressive"]
    assert len(frame) == len(BASE) + len(PROG)


def test_plot_accuracy_draws_accuracy_against_epoch_and_time():
    fig = plots.plot_accuracy(plots.curves_frame({"baseline": BASE, "progressive": PROG}))
    ax_epoch, ax_time = fig.axes[:2]
    by_epoch, by_time = line_points(ax_epoch), line_points(ax_time)
    assert by_epoch["progressive"][:, 1].tolist() == PROG["test_acc"].tolist()
    assert by_epoch["baseline"][:, 0].tolist() == [1, 2, 3, 4]
    # x of the time panel is the cumulative training time, in seconds below 300 s
    assert by_time["progressive"][:, 0].tolist() == [3.0, 6.0, 16.0, 26.0]
    assert ax_time.get_xlabel() == "training time (s)"


def test_time_axis_switches_units():
    long = BASE.assign(elapsed_train_s=BASE["elapsed_train_s"] * 3600)  # 40 h in all
    fig = plots.plot_accuracy(plots.curves_frame({"baseline": long}))
    assert fig.axes[1].get_xlabel() == "training time (h)"
    assert line_points(fig.axes[1])["baseline"][-1, 0] == pytest.approx(40.0)


def test_plot_schedule_draws_widths_and_resolutions():
    fig = plots.plot_schedule(plots.curves_frame({"baseline": BASE, "progressive": PROG}))
    widths, resolutions = line_points(fig.axes[0]), line_points(fig.axes[1])
    assert set(widths["progressive"][:, 1]) == {32, 64}
    assert set(resolutions["baseline"][:, 1]) == {32}


def test_plot_run_marks_the_chosen_epoch():
    fig = plots.plot_run(PROG, 3)
    marks = [line for line in fig.axes[0].get_lines() if line.get_linestyle() == "--"]
    assert [m.get_xdata()[0] for m in marks] == [3]


def test_results_frame_and_figure_use_the_table_values():
    table = pd.DataFrame([
        dict(dataset="cifar10", published_time_saved_pct=51.2, time_saved_pct=40.0, published_acc_change_pp=-0.7,
             acc_change_pp=-1.5),
        dict(dataset="cifar100", published_time_saved_pct=49.7, time_saved_pct=math.nan, published_acc_change_pp=-0.9,
             acc_change_pp=math.nan),
    ])
    data = plots.results_frame(table)
    ours = data[(data["source"] == "ours") & (data["metric"] == "time saved (%)")]
    assert ours["dataset"].tolist() == ["cifar10"] and ours["value"].tolist() == [40.0]  # NaN rows dropped
    fig = plots.plot_results(table)
    heights = sorted(round(p.get_height(), 1) for p in fig.axes[0].patches if p.get_height())
    assert heights == [40.0, 49.7, 51.2]


def test_epochs_without_evaluation_leave_gaps_not_errors():
    sparse = PROG.assign(test_acc=[None, 50.0, None, 74.0])  # --eval_every 2
    fig = plots.plot_run(sparse, 4)
    curve = [line for line in fig.axes[0].get_lines() if line.get_linestyle() != "--"][0]
    assert curve.get_xdata().tolist() == [2, 4] and curve.get_ydata().tolist() == [50.0, 74.0]
    frame = plots.curves_frame({"progressive": sparse, "baseline": BASE})
    plots.plot_accuracy(frame)  # both arms drawn, the sparse one through its evaluated epochs


def test_save_figure_writes_a_png(tmp_path):
    fig = plots.plot_run(PROG, 1)
    path = plots.save_figure(fig, str(tmp_path / "deep" / "run.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_save_figure_is_atomic_and_tags_its_pngs(tmp_path, monkeypatch):
    path = tmp_path / "run.png"
    fig = plots.plot_run(PROG, 1)
    plots.save_figure(fig, str(path))
    before = path.read_bytes()
    assert plots.is_own_figure(str(path)) and os.listdir(tmp_path) == ["run.png"]

    def half_then_fail(target, **kwargs):
        (target.write if hasattr(target, "write") else open(target, "wb").write)(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        plots.save_figure(fig, str(path))
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["run.png"]


FRONTIER = [
    dict(method="baseline", budget=1.0, train_time_s=280.0, train_time_s_std=10.0, ratio=1.0, ratio_std=0.0,
         test_acc=82.0, test_acc_std=0.8),
    dict(method="progressive", budget=0.6, train_time_s=250.0, train_time_s_std=5.0, ratio=0.62, ratio_std=0.01,
         test_acc=81.0, test_acc_std=0.5),
    dict(method="progressive", budget=0.3, train_time_s=130.0, train_time_s_std=4.0, ratio=0.32, ratio_std=0.01,
         test_acc=77.0, test_acc_std=0.6),
    dict(method="short", budget=0.3, train_time_s=120.0, train_time_s_std=3.0, ratio=0.3, ratio_std=0.02,
         test_acc=74.0, test_acc_std=0.4),
    dict(method="short", budget=0.6, train_time_s=240.0, train_time_s_std=6.0, ratio=0.6, ratio_std=0.02,
         test_acc=79.0, test_acc_std=float("nan")),  # one seed: no std
]


def lines_by_arm(ax):
    """{arm: (x, y) of its line} for the lines drawn in an ARM_PALETTE colour."""
    arms = {matplotlib.colors.to_hex(c): arm for arm, c in plots.ARM_PALETTE.items()}
    return {arms[matplotlib.colors.to_hex(line.get_color())]: line.get_xydata() for line in ax.get_lines()
            if len(line.get_xydata()) > 1 and matplotlib.colors.to_hex(line.get_color()) in arms
            and line.get_linestyle() == "-"}


def error_bars(ax):
    """{label or colour: (points [n, 2], x error half-widths, y error half-widths)} of ax's errorbar containers."""
    out = {}
    for c in ax.containers:
        line, _, (xbars, ybars) = c.lines[0], c.lines[1], c.lines[2]
        points = np.array([seg.mean(0) for seg in ybars.get_segments()])
        xerr = [(seg[1, 0] - seg[0, 0]) / 2 for seg in xbars.get_segments()]
        yerr = [(seg[1, 1] - seg[0, 1]) / 2 for seg in ybars.get_segments()]
        key = c.get_label() if not c.get_label().startswith("_") else matplotlib.colors.to_hex(xbars.get_color()[0])
        out[key] = (points, xerr, yerr)
    return out


def test_plot_frontier_draws_a_line_per_method_and_the_baseline_as_a_point():
    fig = plots.plot_frontier(FRONTIER, title="cifar10 on CPU x86_64")
    ax = fig.axes[0]
    assert ax.get_title() == "cifar10 on CPU x86_64" and ax.get_xlabel() == "training time (s)"
    lines = lines_by_arm(ax)
    assert lines["progressive"].tolist() == [[130.0, 77.0], [250.0, 81.0]]  # sorted by time
    assert lines["short"].tolist() == [[120.0, 74.0], [240.0, 79.0]]
    assert "baseline" not in lines  # a point, not a line
    bars = error_bars(ax)
    base_points, base_xerr, base_yerr = bars["baseline"]
    assert base_points.tolist() == [[280.0, 82.0]] and base_xerr == [10.0] and base_yerr == pytest.approx([0.8])
    short_points, short_xerr, short_yerr = bars[plots.ARM_PALETTE["short"]]
    assert short_xerr == [3.0, 6.0] and short_yerr == pytest.approx([0.4, 0.0])  # a missing std draws no bar
    assert sorted(t.get_text() for t in ax.texts) == ["0.3", "0.3", "0.6", "0.6"]  # every budget labelled
    labels = ax.get_legend_handles_labels()[1]
    assert {"baseline", "progressive", "short"} <= set(labels)


def test_plot_frontier_against_the_time_ratio_from_a_frame():
    fig = plots.plot_frontier(pd.DataFrame(FRONTIER), x="ratio")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "training time / baseline's"
    assert lines_by_arm(ax)["progressive"][:, 0].tolist() == [0.32, 0.62]
