import pytest

from lib.training.config import make_config, parse_duration
from lib.errors import UserError


@pytest.mark.parametrize("text, seconds", [("20m", 1200), ("1h30m", 5400), ("90s", 90), ("1.5h", 5400), ("45", 45)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("kwargs, message", [
    (dict(dataset="mnist"), "unknown dataset 'mnist'"),
    (dict(algo="maybe"), "unknown --algo"),
    (dict(budget=1.5, algo="yes"), "out of range"),
    (dict(budget=0.5, time_budget="10m", algo="yes"), "not both"),
    (dict(budget=0.5), "applies to --algo yes"),
    (dict(algo="short"), "needs a budget"),
    (dict(time_budget="ten minutes", algo="yes"), "cannot read time budget"),
    (dict(batch_size=0), "--batch_size must be a positive"),
    (dict(width=-8), "--width must be a positive"),
    (dict(lr=float("nan")), "--lr must be a finite"),
    (dict(resume=True, overwrite=True), "contradict"),
    (dict(colour="red"), "unknown parameter"),
    (dict(init="magic"), "unknown --init 'magic'"),
    (dict(bn_recal=-2), "--bn_recal must be a whole number >= 0"),
    (dict(overwrite="False"), "--overwrite is an on/off flag: give True or False, got 'False'"),
    (dict(compile="off"), "--compile is an on/off flag"),
    (dict(download="no"), "--download is an on/off flag"),
    (dict(seed="0"), "--seed must be a whole number >= 0, got '0'"),
    (dict(seed=1.5), "--seed must be a whole number"),
    (dict(seed=2**70), "--seed .* is too large"),
    (dict(out_dir=5), "--out_dir must be a string, got 5"),
    (dict(data_root=None), "--data_root must be a string, got None"),
    (dict(calibration_steps=0), "--calibration_steps must be a whole number >= 1"),
    (dict(eval_every=0), "--eval_every must be a whole number >= 1"),
    (dict(eval_every=2.5), "--eval_every must be a whole number >= 1 .*got 2.5"),
    (dict(momentum=5), "--momentum must be below 1"),
    (dict(budget="0.5", algo="yes"), "--budget must be a number"),
    (dict(early_cap=1.0, algo="yes", budget=0.6), r"--early_cap 1.0 must be a fraction .* in \[0, 1\)"),
    (dict(early_cap=-0.2, algo="yes", budget=0.6), "--early_cap -0.2 must be a fraction"),
    (dict(early_cap=True, algo="yes", budget=0.6), "--early_cap True must be a fraction"),
    (dict(early_cap="0.4", algo="yes", budget=0.6), "--early_cap '0.4' must be a fraction"),
    (dict(early_cap=0.45, algo="yes"), "--early_cap 0.45 caps the early stages' time within a budget; add --budget"),
    (dict(budget_base="measured", algo="yes", budget=0.6), "unknown --budget_base 'measured'; choose trained .* or "
                                                           "calibrated"),
])
def test_bad_config_names_the_problem(kwargs, message):
    with pytest.raises(UserError, match=message):
        make_config(**kwargs)


@pytest.mark.parametrize("budget", [0.0, -0.5, 1.0, 2.0])
def test_budget_outside_zero_one_is_rejected(budget):
    with pytest.raises(UserError, match="out of range"):
        make_config(algo="yes", budget=budget)


@pytest.mark.parametrize("name", ["../../x", "a/b", "/abs", "a\\b", ".", "..", "   ", "nul\0name"])
def test_path_like_run_names_are_refused_with_the_rule(name):
    with pytest.raises(UserError, match=r"--exp_name .* is not a plain name: it names one folder.*not be empty, "
                                        r"'\.' or '\.\.', nor contain '/'"):
        make_config(exp_name=name)
    assert make_config(exp_name="R18_prog-2.b").resolved_exp_name() == "R18_prog-2.b"
    assert make_config(exp_name="").resolved_exp_name() == "cifar10_no_w64_e100_s0"


def test_single_size_runs_resolve_to_constant_regularisation():
    from lib.training.config import TrainConfig, resolve_config

    assert resolve_config(make_config(algo="no", reg_start=0.0)).reg_start == 1.0
    assert resolve_config(make_config(algo="short", budget=0.5)).reg_start == 1.0
    assert resolve_config(make_config(algo="yes")).reg_start == TrainConfig.reg_start == 0.0


def test_growth_shrink_is_a_fraction_and_only_a_progressive_run_keeps_it():
    from lib.training.config import resolve_config

    assert make_config().growth_shrink == 1.0  # off by default: a growth keeps every weight
    assert resolve_config(make_config(algo="yes", growth_shrink=0.8)).growth_shrink == 0.8
    assert resolve_config(make_config(algo="no", growth_shrink=0.8)).growth_shrink == 1.0  # nothing grows
    for bad in (0, 0.0, -0.1, 1.5, float("nan"), True, "0.8"):
        with pytest.raises(UserError, match=r"--growth_shrink .* must be a fraction in \(0, 1\]"):
            make_config(algo="yes", growth_shrink=bad)


def test_a_config_recorded_before_a_field_existed_reads_as_that_run_behaved():
    import dataclasses

    from lib.training.config import saved_config

    old = dataclasses.asdict(make_config(algo="yes"))
    del old["reg_start"]  # written before --reg_start: every stage was regularised alike
    assert saved_config(old)["reg_start"] == 1.0
    assert saved_config(dict(old, reg_start=0.0))["reg_start"] == 0.0
    assert saved_config({})["lr"] == make_config().lr  # other missing fields: today's default


def test_a_path_object_is_a_path():
    import pathlib

    cfg = make_config(data_root=pathlib.Path("d"), out_dir=pathlib.Path("o") / "runs")
    assert (cfg.data_root, cfg.out_dir) == ("d", "o/runs")


@pytest.mark.parametrize("algo, extra", [("no", {}), ("short", dict(budget=0.5))])
def test_a_schedule_is_refused_where_it_would_be_ignored(algo, extra):
    from lib.training.config import resolve_config

    with pytest.raises(UserError, match="cannot read schedule 'garbage'"):
        resolve_config(make_config(algo=algo, schedule="garbage", **extra))
    with pytest.raises(UserError, match=f"--schedule '1/0.5:0.5,1/1:0.5' applies to --algo yes only: --algo {algo}"):
        resolve_config(make_config(algo=algo, schedule="1/0.5:0.5,1/1:0.5", **extra))
    assert resolve_config(make_config(algo=algo, schedule="1/1:1", **extra)).schedule == "1/1:1"  # as recorded


def test_too_few_epochs_for_the_stages_is_refused_before_any_work():
    from lib.training.config import resolve_config

    with pytest.raises(UserError, match="schedule has 3 stages but only 2 epochs"):
        resolve_config(make_config(algo="yes", num_epochs=2))
    with pytest.raises(UserError, match=r"stage 1 \(share 0.1\) gets no whole epoch out of 3"):
        resolve_config(make_config(algo="yes", num_epochs=3, schedule="1/0.5:0.1,1/1:0.9"))
    assert resolve_config(make_config(algo="yes", num_epochs=2, budget=0.5))  # a budget plans in seconds instead


def test_early_cap_is_recorded_for_progressive_runs_only():
    from lib.training.config import resolve_config

    assert resolve_config(make_config(algo="yes", budget=0.6, early_cap=0.45)).early_cap == 0.45
    assert resolve_config(make_config(algo="short", budget=0.6, early_cap=0.45)).early_cap == 0.0  # one stage
    assert make_config(algo="yes", time_budget="10m", early_cap=0.45).early_cap == 0.45


def test_the_default_cap_applies_under_a_budget_and_is_idle_without_one():
    """--early_cap's default (0.3) caps a budgeted progressive run; without a budget there is nothing to cap
    within, so the default is recorded as 0 there (what ran) rather than refused like an explicit other value."""
    from lib.training.config import DEFAULT_EARLY_CAP, resolve_config, saved_config

    assert DEFAULT_EARLY_CAP == 0.3
    assert resolve_config(make_config(algo="yes", budget=0.6)).early_cap == DEFAULT_EARLY_CAP
    assert resolve_config(make_config(algo="yes", time_budget="10m")).early_cap == DEFAULT_EARLY_CAP
    assert resolve_config(make_config(algo="yes", num_epochs=30)).early_cap == 0.0  # no budget: nothing capped
    assert resolve_config(make_config(algo="yes", num_epochs=30, early_cap=0)).early_cap == 0.0
    assert saved_config({"algo": "yes"})["early_cap"] == 0.0  # a record older than the flag ran uncapped


def test_only_a_progressive_budget_run_records_its_budget_as_moved_by_training():
    """--budget_base trained re-estimates the baseline's time in a progressive --budget run; every other run records
    calibrated, as a run from before the flag reads (so an older baseline or short run is the same run)."""
    from lib.training.config import resolve_config, saved_config

    assert resolve_config(make_config(algo="yes", budget=0.6)).budget_base == "trained"
    assert resolve_config(make_config(algo="yes", budget=0.6, budget_base="calibrated")).budget_base == "calibrated"
    for kw in (dict(algo="no"), dict(algo="short", budget=0.6), dict(algo="yes", time_budget="10m"),
               dict(algo="yes", num_epochs=30)):
        assert resolve_config(make_config(**kw)).budget_base == "calibrated"
    assert saved_config({"algo": "yes"})["budget_base"] == "calibrated"
