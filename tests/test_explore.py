"""lib.reporting.explore: what the explorer's widgets call changes with every slider, and says what it predicts."""
import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from lib.reporting import explore  # noqa: E402
from lib.errors import UserError  # noqa: E402
from lib.training.schedule import DEFAULT_SCHEDULE  # noqa: E402

SAVING_RE = re.compile(r"predicted saving vs baseline: (-?\d+\.\d)%")
DEFAULTS = dict(num_stages=3, boundaries=explore.DEFAULT_BOUNDARIES, start_width=explore.DEFAULT_START.width_frac,
                start_res=explore.DEFAULT_START.res_frac, epochs=100, budget=0.0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_default_sliders_give_the_default_schedule():
    assert explore.format_schedule(explore.slider_stages()) == DEFAULT_SCHEDULE
    assert explore.explore_schedule(**DEFAULTS)["schedule"] == DEFAULT_SCHEDULE


@pytest.mark.parametrize("slider, value", [
    ("num_stages", 4), ("num_stages", 1), ("boundaries", (0.2, 0.7)), ("start_width", 0.25),
    ("start_res", 0.75), ("epochs", 40), ("budget", 0.3),
])
def test_every_slider_changes_the_data(slider, value):
    before = explore.explore_schedule(**DEFAULTS)
    after = explore.explore_schedule(**{**DEFAULTS, slider: value})
    assert not before["per_epoch"].equals(after["per_epoch"])


def test_cost_accounting():
    data = explore.explore_schedule(**DEFAULTS)  # the default: width and resolution growth
    per_epoch = data["per_epoch"]
    assert len(per_epoch) == 100 and data["stage_epochs"] == [30.0, 30.0, 40.0]
    assert per_epoch["relative_cost"].iloc[-1] == pytest.approx(1.0)  # last stage is full size
    assert per_epoch["relative_cost"].iloc[0] < 0.1  # half width and half resolution: ~1/16 of the FLOPs
    assert per_epoch["cumulative_cost"].iloc[-1] == pytest.approx(data["progressive_cost"])
    assert data["predicted_saving"] == pytest.approx(1 - data["progressive_cost"] / 100)
    assert 0.3 < data["predicted_saving"] < 0.6
    res_only = explore.explore_schedule(**{**DEFAULTS, "start_width": 1.0})  # resolution only
    assert per_epoch["relative_cost"].iloc[0] < res_only["per_epoch"]["relative_cost"].iloc[0] < 0.3
    one_stage = explore.explore_schedule(**{**DEFAULTS, "num_stages": 1})
    assert one_stage["predicted_saving"] == pytest.approx(0.0)


def test_budget_stretches_the_stages_to_the_budget():
    data = explore.explore_schedule(**{**DEFAULTS, "budget": 0.4, "early_cap": 0.0})  # no cap: shares kept
    assert data["predicted_saving"] == pytest.approx(0.6)
    assert data["progressive_cost"] == pytest.approx(40.0)
    a, b, c = data["stage_epochs"]
    assert a / c == pytest.approx(0.3 / 0.4) and b / c == pytest.approx(0.3 / 0.4)  # schedule's ratios kept
    # the baseline's cumulative cost still runs to its 100 epochs
    assert data["per_epoch"]["baseline_cumulative_cost"].iloc[-1] == 100


def test_early_cap_keeps_the_early_stages_at_their_cost_at_the_cap_and_gives_the_rest_to_the_last():
    at_cap = explore.explore_schedule(**{**DEFAULTS, "budget": 0.3})
    capped = explore.explore_schedule(**{**DEFAULTS, "budget": 0.6})  # the default cap, 0.3, binds above 0.3
    free = explore.explore_schedule(**{**DEFAULTS, "budget": 0.6, "early_cap": 0.0})
    assert capped["progressive_cost"] == pytest.approx(60.0) == free["progressive_cost"]  # each fills its budget
    assert capped["stage_epochs"][:2] == pytest.approx(at_cap["stage_epochs"][:2])  # as many as at 0.3
    assert capped["stage_epochs"][2] > free["stage_epochs"][2] > at_cap["stage_epochs"][2]  # the rest: full size
    below = explore.explore_schedule(**{**DEFAULTS, "budget": 0.2})  # at or below the cap the shares hold
    assert below["stage_epochs"] == pytest.approx(explore.explore_schedule(**{**DEFAULTS, "budget": 0.2,
                                                                              "early_cap": 0.0})["stage_epochs"])
    assert explore.show_schedule(**{**DEFAULTS, "budget": 0.6, "early_cap": 1.5}).text.startswith(
        "cannot plan this schedule: early cap 1.5 must be a fraction")


def test_show_schedule_prints_the_saving_line_and_it_moves_with_a_slider():
    view = explore.show_schedule(**DEFAULTS)
    saving = float(SAVING_RE.search(view.text).group(1))
    assert saving == pytest.approx(100 * view.data["predicted_saving"], abs=0.05)
    assert view.figure is not None and len(view.figure.axes) == 4
    moved = explore.show_schedule(**{**DEFAULTS, "start_width": 0.25})
    assert float(SAVING_RE.search(moved.text).group(1)) > saving  # narrower start: cheaper


def test_impossible_slider_values_give_a_message_not_a_traceback():
    view = explore.show_schedule(**{**DEFAULTS, "num_stages": 4, "boundaries": (0.5, 0.5)})
    assert view.text.startswith("cannot plan this schedule") and view.figure is None
    with pytest.raises(UserError, match="no training"):
        explore.slider_stages(4, (0.5, 0.5))


def test_widget_wiring_calls_show_schedule_with_the_slider_values():
    from ipywidgets import interactive

    widget = interactive(explore.show_schedule, **explore.schedule_sliders())
    first = SAVING_RE.search(widget.result.text).group(1)
    sliders = {c.description: c for c in widget.children if hasattr(c, "description")}
    sliders["budget (0 = none)"].value = 0.5
    assert SAVING_RE.search(widget.result.text).group(1) == "50.0" != first


def write_run(folder, stages, finished=True):
    """A hand-made run folder: one metrics row per (stage, width, resolution) given."""
    folder.mkdir(parents=True)
    rows = [dict(epoch=i + 1, stage=s, width=w, resolution=r, test_acc=10.0 * (i + 1), train_loss=2.0 - 0.1 * i,
                 elapsed_train_s=1.5 * (i + 1)) for i, (s, w, r) in enumerate(stages)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if finished:
        (folder / "summary.json").write_text("{}")
    return str(folder)


def test_run_browser_reports_the_stage_of_the_chosen_epoch(tmp_path):
    run = write_run(tmp_path / "cifar10" / "cifar10_yes_w8", [(1, 4, 16), (1, 4, 16), (2, 8, 32)])
    write_run(tmp_path / "other" / "running", [(1, 8, 32)], finished=False)
    assert explore.find_run_folders(tmp_path) == sorted([run, str(tmp_path / "other" / "running")])
    early, late = explore.show_run(run, 1), explore.show_run(run, 3)
    assert "epoch 1/3: stage 1 at width 4, 16 px" in early.text
    assert "epoch 3/3: stage 2 at width 8, 32 px" in late.text
    assert early.data["row"]["test_acc"] == 10.0 and late.data["row"]["test_acc"] == 30.0
    assert "(running)" in explore.show_run(str(tmp_path / "other" / "running"), 1).text
    assert "test accuracy 30.00%" in late.text


def test_run_browser_names_an_epoch_that_was_not_evaluated(tmp_path):
    run = write_run(tmp_path / "sparse", [(1, 8, 32)] * 3)
    rows = [json.loads(line) for line in (tmp_path / "sparse" / "metrics.jsonl").read_text().splitlines()]
    rows[1]["test_acc"] = None  # as --eval_every 2 leaves epoch 2 of a 3-epoch run
    (tmp_path / "sparse" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    view = explore.show_run(run, 2)
    assert "not evaluated this epoch (--eval_every)" in view.text and "nan" not in view.text
    assert "test accuracy 30.00%" in explore.show_run(run, 3).text


def test_run_browser_widgets_follow_the_picked_run(tmp_path):
    short = write_run(tmp_path / "a", [(1, 8, 32)] * 2)
    long = write_run(tmp_path / "b", [(1, 8, 32)] * 5)
    controls = explore.run_browser_widgets(str(tmp_path))
    assert list(controls["run"].options) == [short, long]
    assert controls["epoch"].max == 2
    controls["run"].value = long
    assert controls["epoch"].max == 5


def test_run_browser_without_runs(tmp_path):
    controls = explore.run_browser_widgets(str(tmp_path))
    assert list(controls["run"].options) == [explore.NO_RUNS]
    assert explore.show_run(controls["run"].value, 1).text.startswith("no run folders found")
