import pytest

from lib.errors import UserError
from lib.training.config import make_config, resolve_config
from lib.training.schedule import (DEFAULT_SCHEDULE, RESOLUTION_SCHEDULE, Stage, format_schedule, lr_at,
                                   parse_schedule, reg_scale, restrict_growth, size_at, snap_resolution, snap_width,
                                   stage_at, stage_bounds, stage_epochs, stage_sizes)


def test_default_schedule_parses_and_ends_full_size():
    stages = parse_schedule(DEFAULT_SCHEDULE)
    assert stages[-1].width_frac == 1 and stages[-1].res_frac == 1
    assert abs(sum(s.share for s in stages) - 1) < 1e-9
    assert parse_schedule(format_schedule(stages)) == stages


def test_json_form_equals_compact_form():
    assert parse_schedule('[[0.5, 0.5, 0.25], {"width_frac": 1, "res_frac": 1, "share": 0.75}]') == \
        parse_schedule("0.5/0.5:0.25,1/1:0.75")


@pytest.mark.parametrize("text, message", [
    ("1/1:0.5,0.5/0.5:0.5", "shrinks"),
    ("0.5/0.5:0.5,0.75/1:0.5", "not at full size"),
    ("0.5/0.5:0.5,1/1:0.4", "sum to 0.9"),
    ("0.5/1.5:0.5,1/1:0.5", "resolution 1.5"),
    ("0/1:0.5,1/1:0.5", "width 0"),
    ("half/1:1", "cannot read schedule"),
    ("", "cannot read schedule"),
])
def test_bad_schedules_name_the_problem(text, message):
    with pytest.raises(UserError, match=message):
        parse_schedule(text)


def test_stage_epochs_sum_and_reject_too_few_epochs():
    stages = parse_schedule("0.5/0.5:0.3,0.75/0.75:0.3,1/1:0.4")
    assert stage_epochs(stages, 10) == [3, 3, 4]
    assert sum(stage_epochs(stages, 37)) == 37
    with pytest.raises(UserError, match="only 2 epochs"):
        stage_epochs(stages, 2)
    with pytest.raises(UserError, match="no whole epoch"):
        stage_epochs(parse_schedule("0.5/0.5:0.05,1/1:0.95"), 5)


@pytest.mark.parametrize("full, frac, expect", [(64, 0.5, 32), (64, 0.75, 48), (16, 0.5, 8), (16, 0.75, 12),
                                                (64, 1.0, 64), (4, 0.5, 2), (16, 0.01, 4)])
def test_snap_width(full, frac, expect):
    assert snap_width(full, frac) == expect


@pytest.mark.parametrize("full, frac, expect", [(32, 0.5, 16), (32, 0.75, 24), (64, 0.5, 32), (28, 0.75, 20),
                                                (32, 0.1, 8), (28, 1.0, 28)])
def test_snap_resolution(full, frac, expect):
    assert snap_resolution(full, frac) == expect


def test_stage_at_and_size_at_follow_progress():
    stages = parse_schedule("0.5/0.5:0.25,0.75/0.75:0.25,1/1:0.5")
    bounds = stage_bounds([s.share for s in stages])
    assert bounds == [0.25, 0.5, 1.0]
    assert [stage_at(bounds, p) for p in (0, 0.249, 0.25, 0.6, 1.0)] == [0, 0, 1, 2, 2]
    assert size_at(stages, 64, 32, 0.0) == (32, 16)
    assert size_at(stages, 64, 32, 0.3) == (48, 24)
    assert size_at(stages, 64, 32, 0.99) == (64, 32)
    widths = [size_at(stages, 64, 32, p / 100)[0] for p in range(101)]
    assert widths == sorted(widths)  # growth is monotone


def test_lr_warms_up_then_reaches_zero_at_the_end():
    assert lr_at(0.0, 0.2, 0.1) == 0
    assert lr_at(0.1, 0.2, 0.1) == pytest.approx(0.2)
    assert lr_at(0.55, 0.2, 0.1) == pytest.approx(0.1)
    assert lr_at(1.0, 0.2, 0.1) == 0
    assert lr_at(1.3, 0.2, 0.1) == 0
    lrs = [lr_at(p / 100, 0.2, 0.1) for p in range(10, 101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_restrict_growth_ablations():
    stages = parse_schedule("0.5/0.25:0.5,1/1:0.5")
    assert restrict_growth(stages, "width") == (Stage(0.5, 1.0, 0.5), Stage(1, 1.0, 0.5))
    assert restrict_growth(stages, "resolution") == (Stage(1.0, 0.25, 0.5), Stage(1.0, 1, 0.5))
    assert stage_sizes(restrict_growth(stages, "resolution"), 16, 32) == [(16, 8), (16, 32)]
    with pytest.raises(UserError, match="unknown --grow"):
        restrict_growth(stages, "depth")


def test_a_grow_ablation_that_leaves_nothing_to_grow_is_refused():
    """--grow width on a resolution-only schedule would train at full size and call it progressive."""
    with pytest.raises(UserError, match="--grow width keeps only the width growth of the schedule "
                                        "1/0.5:0.3,1/0.75:0.3,1/1:0.4, which has none.*--grow both"):
        restrict_growth(parse_schedule(RESOLUTION_SCHEDULE), "width")
    with pytest.raises(UserError, match="--grow resolution .*which has none"):
        restrict_growth(parse_schedule("0.5/1:0.5,1/1:0.5"), "resolution")
    with pytest.raises(UserError, match="--grow width .*which has none"):  # checked with the config, before any work
        resolve_config(make_config(algo="yes", grow="width", budget=0.5, schedule=RESOLUTION_SCHEDULE))
    assert restrict_growth(parse_schedule("0.5/0.5:0.5,1/1:0.5"), "width") == (Stage(0.5, 1.0, 0.5), Stage(1, 1, 0.5))


def test_rewarm_after_growth_dips_then_rejoins_the_schedule():
    base = [lr_at(p / 100, 0.2, 0.1) for p in range(101)]
    rew = [lr_at(p / 100, 0.2, 0.1, last_growth=0.4, rewarm_frac=0.1) for p in range(101)]
    assert rew[:40] == base[:40]  # before the growth: unchanged
    assert rew[40] == 0 and 0 < rew[45] < base[45]  # restarts from zero, ramps up
    assert rew[50:] == base[50:]  # after the re-warm-up: the usual decay, still reaching 0 at the end
    assert rew[100] == 0


def test_lr_restart_gives_each_stage_its_own_decay_to_zero():
    base = [lr_at(p / 100, 0.2, 0.1) for p in range(101)]
    spans = [(0.0, 0.3), (0.3, 0.6), (0.6, 1.0)]
    span_at = lambda p: next(s for s in spans if p < s[1]) if p < 1 else spans[-1]  # noqa: E731
    rst = [lr_at(p / 100, 0.2, 0.1, restart_span=span_at(p / 100)) for p in range(101)]
    assert rst[:11] == base[:11]  # the first warm-up is unchanged
    assert rst[10] == pytest.approx(0.2) and rst[29] == pytest.approx(0.2 / 20)  # first stage: 0.1 -> 0.3
    assert rst[30] == pytest.approx(0.2) and rst[60] == pytest.approx(0.2)  # back at the peak at each growth
    assert rst[45] == pytest.approx(0.1) and rst[80] == pytest.approx(0.1)  # halfway through a stage: half
    assert rst[100] == 0
    assert [lr_at(p / 100, 0.2, 0.1, restart_span=(0.0, 1.0)) for p in range(101)] == base  # one stage = no restart


def test_reg_scale_is_linear_in_resolution_from_start_to_full():
    assert reg_scale(16, 16, 32, 0.2) == pytest.approx(0.2)
    assert reg_scale(24, 16, 32, 0.2) == pytest.approx(0.6)
    assert reg_scale(32, 16, 32, 0.2) == pytest.approx(1.0)
    assert reg_scale(32, 32, 32, 0.0) == 1.0  # no resolution growth: full regularisation throughout
    assert reg_scale(16, 16, 32, 1.0) == 1.0  # the default: constant
