"""bench/budget.py and bench/frontier.py end to end on tiny generated data: tables, figures, reusing finished runs."""
import json
import os
import platform
import re
import shutil
import subprocess
import sys

import pytest

from bench_support import load_bench
from lib import records

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _budget_script():
    return load_bench("budget")


def test_budget_bench_writes_a_table_and_reuses_only_matching_runs(cifar_root, tmp_path, capsys, one_thread):
    bench = _budget_script()
    common = ["--data_root", cifar_root, "--out_dir", str(tmp_path), "--num_epochs", "20", "--width", "4",
              "--batch_size", "40", "--seeds", "0", "--train_subset", "0", "--device", "cpu"]
    assert bench.main(common + ["--arms", "no,yes,short", "--tag", "first"]) == 0
    first = json.load(open(tmp_path / "first" / "results.json"))
    assert set(first["stats"]) == {"no", "yes", "short"}
    assert "| yes | 1 |" in open(tmp_path / "first" / "table.md").read()

    assert bench.main(common + ["--arms", "no,yes,short", "--tag", "same", "--reuse_from", str(tmp_path / "first")]) == 0
    same = json.load(open(tmp_path / "same" / "results.json"))
    assert same["runs"]["no"] == first["runs"]["no"] and same["runs"]["short"] == first["runs"]["short"]
    assert sorted(os.listdir(tmp_path / "same")) == ["results.json", "table.md", "yes_s0"]  # only yes is trained

    assert bench.main(common + ["--arms", "no,short", "--tag", "second", "--budget", "0.6",
                                "--reuse_from", str(tmp_path / "first")]) == 0
    second = json.load(open(tmp_path / "second" / "results.json"))
    assert second["runs"]["no"] == first["runs"]["no"]
    assert os.path.exists(tmp_path / "second" / "short_s0" / "summary.json")  # another budget: trained anew
    assert second["runs"]["short"][0]["epochs_equivalent"] > first["runs"]["short"][0]["epochs_equivalent"]

    capsys.readouterr()
    assert bench.main(common + ["--width", "8", "--arms", "no", "--tag", "third",
                                "--reuse_from", str(tmp_path / "first")]) == 2
    err = capsys.readouterr().err
    assert "different settings" in err and "width=4, here 8" in err
    assert bench.main(common + ["--warmup_epochs", "3", "--arms", "no", "--tag", "longer_warmup",
                                "--reuse_from", str(tmp_path / "first")]) == 2
    assert "warmup_epochs=1.0, here 3.0" in capsys.readouterr().err  # a warm-up changes the run: not reused
    assert bench.main(common + ["--arms", "no", "--tag", "fourth", "--reuse_from", str(tmp_path / "nowhere")]) == 2
    assert "no finished run" in capsys.readouterr().err


def test_budget_bench_refuses_a_path_like_tag_before_training(cifar_root, tmp_path, capsys):
    out = tmp_path / "bench"
    assert _budget_script().main(["--data_root", cifar_root, "--out_dir", str(out), "--tag", "../escaped"]) == 2
    assert "--tag '../escaped' is not a plain name" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def _frontier_script():
    return load_bench("frontier")


def test_frontier_bench_trains_every_point_once_and_reuses_finished_runs(cifar_root, tmp_path, capsys, monkeypatch,
                                                                        one_thread):
    bench = _frontier_script()
    common = ["--data_root", cifar_root, "--out_dir", str(tmp_path), "--num_epochs", "16", "--width", "4",
              "--batch_size", "40", "--seeds", "0", "--train_subset", "0", "--calibration_steps", "2",
              "--val_split", "100", "--device", "cpu"]
    assert bench.main(common + ["--budgets", "0.7,0.4", "--tag", "first"]) == 0
    first = tmp_path / "first"
    assert sorted(os.listdir(first)) == ["b0.4", "b0.7", "frontier.png", "no_s0", "results.json", "table.md"]
    assert sorted(os.listdir(first / "b0.4")) == ["short_s0", "yes_s0"]
    results = json.load(open(first / "results.json"))
    assert results["kind"] == "frontier" and "CPU" in results["title"] and "CPU" in results["header"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", results["written_at"])  # find_frontier's order
    assert [(r["method"], r["budget"]) for r in results["stats"]] == [
        ("baseline", 1.0), ("progressive", 0.4), ("short", 0.4), ("progressive", 0.7), ("short", 0.7)]
    by = {(r["method"], r["budget"]): r for r in results["stats"]}
    short = {r["budget"]: r["summary"] for r in results["runs"] if r["method"] == "short"}
    progressive = by[("progressive", 0.4)]
    assert progressive["vs_short"] == pytest.approx(progressive["test_acc"] - short[0.4]["test_acc"])
    assert by[("baseline", 1.0)]["ratio"] == 1.0 and by[("short", 0.4)]["vs_short"] is None
    assert all(r["summary"]["val_acc"] is not None for r in results["runs"])  # 100 images held out of 400
    assert short[0.4]["epochs_equivalent"] == pytest.approx(0.4 * 16, abs=0.2)
    table = open(first / "table.md").read()
    assert "| val acc % |" in table and "| progressive | 0.4 | 1 |" in table and "| baseline | 1 (full) | 1 |" in table
    with open(first / "frontier.png", "rb") as f:
        assert f.read(4) == b"\x89PNG"

    # the same command again trains nothing; a run folder with other settings is refused
    budget_module = sys.modules["budget"]
    monkeypatch.setattr(budget_module, "train", lambda **kw: pytest.fail(f"{kw['exp_name']} was trained again"))
    assert bench.main(common + ["--budgets", "0.4", "--tag", "first"]) == 0
    again = json.load(open(first / "results.json"))
    assert [r["summary"] for r in again["runs"]] == [r["summary"] for r in results["runs"] if r["budget"] != 0.7]
    # a baseline that took 5x longer than its arms imply: both arms named, on stderr, under the table, in results
    summary_path = first / "no_s0" / "summary.json"
    saved = json.loads(summary_path.read_text())
    summary_path.write_text(json.dumps(dict(saved, train_time_s=5 * saved["train_time_s"])))
    capsys.readouterr()
    assert bench.main(common + ["--budgets", "0.4", "--tag", "first"]) == 0
    warned = json.load(open(first / "results.json"))["warnings"]
    speed = [w.split(":")[0] for w in warned if "another speed" in w]  # (not a tiny run's loss spike, if any)
    assert speed == ["seed 0 progressive budget 0.4", "seed 0 short budget 0.4"]
    assert "\n\nwarning: seed 0 short budget 0.4: it trained " in open(first / "table.md").read()
    assert "warning: seed 0 progressive budget 0.4: its full-size stage's speed put the baseline at" in \
        capsys.readouterr().err  # (--budget_base trained re-estimated it in training)
    summary_path.write_text(json.dumps(saved))
    capsys.readouterr()
    assert bench.main(common + ["--budgets", "0.4", "--tag", "first", "--lr", "0.1"]) == 2
    assert "holds a finished run with other settings (lr=0.2, here 0.1)" in capsys.readouterr().err
    monkeypatch.undo()

    # --reuse_from: the baseline and the short run of the same budget are taken from there, progressive is trained
    assert bench.main(common + ["--budgets", "0.4", "--tag", "second", "--reuse_from", str(first)]) == 0
    second = json.load(open(tmp_path / "second" / "results.json"))
    paths = {r["method"]: r["path"] for r in second["runs"]}
    assert paths == {"baseline": str(first / "no_s0"), "short": str(first / "b0.4" / "short_s0"),
                     "progressive": str(tmp_path / "second" / "b0.4" / "yes_s0")}
    # a comma list: the first folder holding a matching run wins (second has no baseline or short run of its own;
    # a budget table's short run of another budget is passed over for a frontier's of the same budget)
    table = tmp_path / "table" / "short_s0"  # a bench/budget.py folder: its short run was trained at budget 0.7
    shutil.copytree(first / "b0.4" / "short_s0", table)
    json.dump(dict(json.load(open(table / "config.json")), budget=0.7), open(table / "config.json", "w"))
    monkeypatch.setattr(budget_module, "train", lambda **kw: pytest.fail(f"{kw['exp_name']} was trained"))
    both = f"{tmp_path / 'second'},{table.parent},{first}"
    assert bench.main(common + ["--budgets", "0.4", "--tag", "second", "--reuse_from", both]) == 0
    monkeypatch.undo()
    again = {r["method"]: r["path"] for r in json.load(open(tmp_path / "second" / "results.json"))["runs"]}
    assert again == paths
    assert bench.main(common[:-4] + ["--device", "cpu", "--budgets", "0.4", "--tag", "third",
                                     "--reuse_from", str(first)]) == 2  # no val split here
    assert "different settings (val_split=100, here 0)" in capsys.readouterr().err


def test_frontier_match_time_gives_progressive_arms_the_measured_baselines_seconds(cifar_root, tmp_path, one_thread):
    bench = _frontier_script()
    args = ["--data_root", cifar_root, "--out_dir", str(tmp_path), "--num_epochs", "12", "--width", "4",
            "--batch_size", "40", "--seeds", "0", "--train_subset", "0", "--calibration_steps", "2",
            "--device", "cpu", "--budgets", "0.5", "--match_time"]
    assert bench.main(args) == 0
    (root,) = tmp_path.iterdir()
    assert root.name.endswith("_mt_cpu")  # its own folder: runs planned the other way are not mixed in
    baseline = json.load(open(root / "no_s0" / "summary.json"))
    config = json.load(open(root / "b0.5" / "yes_s0" / "config.json"))
    assert config["budget"] is None and config["time_budget"] == f"{0.5 * baseline['train_time_s']:.2f}s"
    assert json.load(open(root / "b0.5" / "short_s0" / "config.json"))["budget"] == 0.5  # short counts epochs
    progressive = json.load(open(root / "b0.5" / "yes_s0" / "summary.json"))
    assert progressive["train_time_s"] <= 0.5 * baseline["train_time_s"] + 0.2  # the last step may overrun a little
    assert "budget x the same seed's measured baseline time (--match_time)" in open(root / "table.md").read()


@pytest.mark.parametrize("budgets", ["0.4,1.2", "0", "abc", ","])
def test_frontier_bench_rejects_bad_budgets_before_training(budgets, tmp_path, capsys):
    bench = _frontier_script()
    assert bench.main(["--budgets", budgets, "--out_dir", str(tmp_path), "--data_root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --budgets {budgets!r}: give fractions of the baseline's training time in (0, 1)")
    assert not any(tmp_path.iterdir())


def test_frontier_bench_leaves_no_empty_folder_when_its_first_training_fails(tmp_path, capsys):
    bench = _frontier_script()
    out = tmp_path / "bench"
    assert bench.main(["--data_root", str(tmp_path / "nowhere"), "--out_dir", str(out), "--tag", "first",
                       "--device", "cpu"]) == 2
    assert "does not exist; run with --download" in capsys.readouterr().err
    assert not (out / "first").exists()
    (out / "kept").mkdir(parents=True)  # a folder that was there before is left as it was
    assert bench.main(["--data_root", str(tmp_path / "nowhere"), "--out_dir", str(out), "--tag", "kept",
                       "--device", "cpu"]) == 2
    assert (out / "kept").is_dir()


def test_a_result_folder_left_empty_by_a_failure_or_ctrl_c_is_removed_and_a_kept_one_stays(tmp_path):
    result_folder = load_bench("budget").result_folder
    for failure in (KeyboardInterrupt, RuntimeError):
        with pytest.raises(failure), result_folder(str(tmp_path / "new")):
            (tmp_path / "new" / "runs" / "a_s0").mkdir(parents=True)  # a run folder that got no file
            raise failure
        assert not (tmp_path / "new").exists()
    with pytest.raises(KeyboardInterrupt), result_folder(str(tmp_path / "new")):
        (tmp_path / "new" / "a_s0").mkdir()
        (tmp_path / "new" / "a_s0" / "metrics.jsonl").write_text("{}\n")  # a partial result is kept
        raise KeyboardInterrupt
    assert (tmp_path / "new" / "a_s0" / "metrics.jsonl").exists()
    (tmp_path / "old").mkdir()
    with pytest.raises(KeyboardInterrupt), result_folder(str(tmp_path / "old")):
        raise KeyboardInterrupt
    assert (tmp_path / "old").is_dir()  # not made by this call: left as it was
    with result_folder(str(tmp_path / "done")):
        pass
    assert (tmp_path / "done").is_dir()  # a call that ends normally writes its tables there next


@pytest.mark.parametrize("script", ["budget", "ablations", "frontier"])
def test_every_training_bench_names_bad_seeds_and_leaves_no_empty_folder(script, tmp_path, capsys):
    bench = load_bench(script)
    out = tmp_path / "bench"
    base = ["--data_root", str(tmp_path / "nowhere"), "--out_dir", str(out), "--tag", "t", "--device", "cpu"]
    assert bench.main(base + ["--seeds", "0,a"]) == 2
    assert "error: --seeds '0,a': give whole numbers separated by commas" in capsys.readouterr().err
    assert bench.main(base + ["--seeds", "0"]) == 2  # the first training fails: no dataset there
    assert "does not exist; run with --download" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir()), list(out.rglob("*"))


@pytest.mark.parametrize("script, args, message", [
    ("budget", ["--budget", "2"], "--budget 2.0 is out of range"),
    ("budget", ["--arms", "no,maybe"], "unknown --algo 'maybe'"),
    ("budget", ["--schedule", "garbage"], "garbage"),
    ("ablations", ["--budget", "2", "--val_split", "0"], "--budget 2.0 is out of range"),
    ("frontier", ["--schedule", "garbage"], "garbage"),
    ("frontier", ["--reg_start", "5"], "--reg_start 5.0 must be a fraction"),
    ("frontier", ["--early_cap", "2"], "--early_cap 2.0 must be a fraction"),
    ("frontier", ["--reuse_from", "typo_folder"], "--reuse_from: no folder typo_folder"),
])
def test_every_training_bench_refuses_a_bad_setting_before_the_baseline_trains(script, args, message, tmp_path,
                                                                                 capsys, monkeypatch):
    bench = load_bench(script)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "bench"
    # no dataset there: a baseline that trained first would fail on that instead
    base = ["--data_root", str(tmp_path / "nowhere"), "--out_dir", str(out), "--tag", "t", "--device", "cpu"]
    assert bench.main(base + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "does not exist" not in err, err
    assert not out.exists()


def test_frontier_stats_are_per_seed_against_the_same_seeds_baseline_and_short():
    bench = _frontier_script()

    def record(method, budget, seed, acc, seconds, val=None):
        summary = dict(test_acc=acc, train_time_s=seconds, val_acc=val, epochs_equivalent=10 * budget)
        return dict(method=method, budget=budget, seed=seed, path="", summary=summary)

    rows = bench.frontier_stats([
        record("baseline", 1.0, 0, 80.0, 100.0, 70.0), record("baseline", 1.0, 1, 82.0, 200.0, 72.0),
        record("progressive", 0.5, 0, 78.0, 50.0, 69.0), record("progressive", 0.5, 1, 81.0, 120.0, 70.0),
        record("short", 0.5, 0, 76.0, 50.0), record("short", 0.5, 1, 77.0, 100.0),
    ])
    prog = next(r for r in rows if r["method"] == "progressive")
    assert prog["ratio"] == pytest.approx(0.55) and prog["ratio_std"] == pytest.approx(0.0707, abs=1e-4)
    assert prog["vs_baseline"] == pytest.approx(-1.5) and prog["vs_short"] == pytest.approx(3.0)
    assert prog["vs_short_std"] == pytest.approx(1.4142, abs=1e-4) and prog["val_acc"] == pytest.approx(69.5)
    short = next(r for r in rows if r["method"] == "short")
    assert short["val_acc"] is None and short["vs_short"] is None and short["seeds"] == 2
    table = bench.frontier_table(rows, with_val=True)
    assert "| progressive | 0.5 | 2 | 85.0 ± 49.5 | 0.550 ± 0.071 | 79.50 ± 2.12 | -1.50 ± 0.71 | +3.00 ± 1.41 | " \
           "69.50 ± 0.71 | 5.0 |" in table
    one = bench.frontier_table(bench.frontier_stats([  # one seed has no spread to show
        record("baseline", 1.0, 0, 80.0, 100.0), record("progressive", 0.5, 0, 78.0, 50.0),
        record("short", 0.5, 0, 76.0, 50.0)]))
    assert "| progressive | 0.5 | 1 | 50.0 | 0.500 | 78.00 | -2.00 | +2.00 | 5.0 |" in one and "±" not in one


def test_frontier_names_the_arms_trained_at_another_speed_than_their_baseline():
    bench = _frontier_script()

    def record(method, budget, seed, seconds, predicted=None):
        summary = dict(test_acc=80.0, train_time_s=seconds, plan=predicted and dict(baseline_predicted_s=predicted))
        return dict(method=method, budget=budget, seed=seed, path="", summary=summary)

    on_speed = [record("baseline", 1.0, 0, 1000.0), record("progressive", 0.3, 0, 300.0, predicted=1150.0),
                record("short", 0.3, 0, 250.0)]
    assert bench.speed_drift(on_speed) == []  # 1.15x and 0.83x are within 0.2 either way
    slow = bench.speed_drift([record("baseline", 1.0, 1, 1000.0), record("progressive", 0.3, 1, 300.0, 1250.0),
                              record("short", 0.3, 1, 230.0), record("short", 0.6, 2, 999.0)])  # seed 2: no baseline
    assert len(slow) == 2
    assert slow[0].startswith("seed 1 progressive budget 0.3: its calibration put the baseline at 1250.0 s, 1.25x "
                              "the 1000.0 s its baseline took")
    assert slow[1].startswith("seed 1 short budget 0.3: it trained 230.0 s for 0.3 of the baseline's epochs, 0.77x")
    assert all("train the baseline again beside it" in line for line in slow)
    # the same check in bench/budget.py and bench/ablations.py: a baseline (no budget, no plan) is never judged
    assert _budget_script().baseline_speed_warning("seed 0 arm no", dict(train_time_s=2000.0), None, 1000.0) is None
    assert _budget_script().baseline_speed_warning("x", dict(train_time_s=100.0, plan={}), 0.5, 1000.0).startswith(
        "x: it trained 100.0 s for 0.5 of the baseline's epochs, 0.20x the 1000.0 s")
    # a progressive arm whose full-size stage re-estimated the baseline (--budget_base trained) is judged by that
    rebased = dict(train_time_s=600.0, plan=dict(baseline_predicted_s=1000.0), rebase=dict(baseline_s=1300.0))
    assert _budget_script().baseline_speed_warning("y", rebased, 0.5, 1000.0).startswith(
        "y: its full-size stage's speed put the baseline at 1300.0 s, 1.30x the 1000.0 s")
    assert _budget_script().baseline_speed_warning("y", dict(rebased, rebase=None), 0.5, 1000.0) is None


def test_tables_name_the_runs_trained_on_another_machine(tmp_path):
    def run(name, **env):
        folder = tmp_path / name
        folder.mkdir()
        if env:
            (folder / "env.json").write_text(json.dumps({"device": "cpu", "torch_threads": 2, **env}))
        return str(folder)

    one = [("seed 0 short", run("a", device_name="AMD EPYC")), ("seed 0 yes", run("b", device_name="AMD EPYC")),
           ("seed 1 yes", run("c"))]  # no env.json: not judged
    assert _budget_script().mixed_machine_warnings(one) == []
    two = one + [("seed 3 yes", run("d", device_name="Intel Xeon"))]
    (line,) = _budget_script().mixed_machine_warnings(two)
    assert line.startswith("these runs trained on 2 machines (2 on CPU AMD EPYC, 2 threads; CPU Intel Xeon, 2 "
                           "threads: seed 3 yes)")
    recs = [dict(path=p, summary={}) for _, p in two]
    assert _frontier_script().device_of(recs) == "CPU AMD EPYC, 2 threads and CPU Intel Xeon, 2 threads"
    threads = one + [("seed 4 yes", run("e", device_name="AMD EPYC", torch_threads=1))]
    assert "CPU AMD EPYC, 1 threads: seed 4 yes" in _budget_script().mixed_machine_warnings(threads)[0]


def test_a_run_names_its_cpu_model(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\n")
    assert records.cpu_name(str(info)) == "AMD EPYC 7B13"
    info.write_text("processor\t: 0\nBogoMIPS\t: 50.00\n")  # no model named (some ARM kernels)
    assert records.cpu_name(str(info)) == (platform.processor() or platform.machine())
    assert records.cpu_name(str(tmp_path / "absent")) == (platform.processor() or platform.machine())
    assert records.env_info("cpu")["device_name"] == records.cpu_name()


def test_ablations_compare_recipes_on_the_validation_split(cifar_root, tmp_path, capsys, one_thread):
    bench = load_bench("ablations")
    common = ["--data_root", cifar_root, "--out_dir", str(tmp_path), "--num_epochs", "12", "--width", "4",
              "--batch_size", "40", "--seeds", "0", "--train_subset", "0", "--recipes", "short", "--tag", "abl"]
    assert bench.main(common + ["--val_split", "100"]) == 0
    table = open(tmp_path / "abl" / "table.md").read()
    assert table.startswith("recipes compared on validation accuracy (100 class-balanced training images held out")
    assert "| val acc % (mean ± std) |" in table and "test acc" not in table.split("\n\n", 1)[1]
    results = json.load(open(tmp_path / "abl" / "results.json"))
    short = results["runs"]["short"]["0"]
    assert results["table"]["short"]["acc"][0] == short["val_acc"]
    assert results["table"]["short"]["test_acc"][0] == short["test_acc"]  # kept, not compared on
    assert results["table"]["short"]["train_time_s"][0] == short["train_time_s"]
    assert f"| {short['train_time_s']:.1f} ± 0.0 |" in table  # the time each arm took, beside its accuracy
    capsys.readouterr()
    assert bench.main(common + ["--val_split", "0"]) == 2  # finished runs held out another split
    assert "holds a finished run with other settings (val_split=100, here 0)" in capsys.readouterr().err
    assert bench.main(common + ["--val_split", "100", "--warmup_epochs", "2"]) == 2  # the warm-up reaches the runs
    assert "other settings (warmup_epochs=1.0, here 2.0)" in capsys.readouterr().err
    # a recipe whose flags changed since its run finished is not passed off as the old run
    bench.RECIPES["short"] = dict(algo="short", label_smoothing=0.0)
    try:
        assert bench.main(common + ["--val_split", "100"]) == 2
    finally:
        bench.RECIPES["short"] = dict(algo="short")
    assert "other settings (label_smoothing=0.1, here 0.0)" in capsys.readouterr().err
    # the header says how arms got their time, and that no budget applies to a baselines-only table
    timed = bench.parse_args(["--budget", "0.3"])
    assert bench.timing_note(timed, ["short"]).startswith("progressive arms get 0.3 x the measured time")
    assert bench.timing_note(bench.parse_args(["--calibrated"]), ["short"]).startswith("progressive arms get --budget")
    assert bench.timing_note(timed, []) == "the baseline alone (no --recipes), so no budget applies"
    # a column with nothing to compare with (--no_baseline) reads '–', not nan
    assert bench.pm((float("nan"), float("nan"))) == "–"
    assert bench.pm((1.5, 0.25), "{:+.2f}") == "+1.50 ± 0.25"


@pytest.mark.parametrize("args, message", [
    ([], "usage: bash bench/gpu_recipes.sh DATA_ROOT"),
    (["{missing}"], "no CIFAR-10 in .*missing"),
    (["{cifar}", "soon"], "SECONDS must be a whole number, got 'soon'"),
    (["{cifar}", "60", "0.45", "short", "0", "zero"], "START must be steady or plain, got 'zero'"),
])
def test_gpu_recipe_script_refuses_bad_input_before_training(cifar_root, tmp_path, args, message):
    args = [a.format(missing=tmp_path / "missing", cifar=cifar_root) for a in args]
    done = subprocess.run(["bash", os.path.join(REPO, "bench", "gpu_recipes.sh"), *args], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0 and re.search(message, done.stderr), done.stderr


def test_every_ablation_recipe_is_a_valid_run_and_spells_out_what_the_defaults_set():
    from lib.training.config import make_config, resolve_config

    recipes = load_bench("ablations").RECIPES
    for name, flags in recipes.items():
        cfg = resolve_config(make_config(**flags, budget=0.5, num_epochs=30))  # refused here if a flag is wrong
        assert cfg.algo == flags["algo"]
        if flags["algo"] == "yes" and name != "default":  # a name keeps its meaning when the defaults move
            assert {"schedule", "reg_start", "early_cap"} <= set(flags), name


def test_the_default_recipe_is_the_named_one_it_was_chosen_as():
    """The library's defaults plan exactly what the recipe both3_fresh_cap30_reg0 plans (its validation runs are
    the evidence for the default), and res3_reg0 is still the earlier default's resolution-only recipe."""
    from lib.training.config import make_config, resolve_config
    from lib.training.schedule import RESOLUTION_SCHEDULE

    recipes = load_bench("ablations").RECIPES
    for budget in (0.3, 0.6):
        chosen = resolve_config(make_config(**recipes["both3_fresh_cap30_reg0"], budget=budget, num_epochs=30))
        assert resolve_config(make_config(**recipes["default"], budget=budget, num_epochs=30)) == chosen
    earlier = resolve_config(make_config(**recipes["res3_reg0"], budget=0.6, num_epochs=30))
    assert (earlier.schedule, earlier.early_cap, earlier.reg_start) == (RESOLUTION_SCHEDULE, 0.0, 0.0)


def test_a_capped_recipe_shares_the_uncapped_runs_where_its_cap_does_not_bind():
    bench = load_bench("ablations")
    names = ["short", "res3_reg0", "res3_cap30_reg0", "res3_cap45_reg0", "res3_full60_reg0"]
    assert {n: bench.same_run_as(n, names, 0.3) for n in names} == dict(
        short=None, res3_reg0=None, res3_cap30_reg0="res3_reg0", res3_cap45_reg0="res3_reg0", res3_full60_reg0=None)
    assert bench.same_run_as("res3_cap30_reg0", names, 0.45) is None  # above the cap it is its own plan
    assert bench.same_run_as("res3_cap45_reg0", names, 0.45) == "res3_reg0"  # at the cap the shares still hold
    assert bench.same_run_as("res3_cap30_reg0", ["short", "res3_cap30_reg0"], 0.3) is None  # nothing to share with
    assert bench.same_run_as("res3_cap30_reg0", ["res3_reg05", "res3_cap30_reg0"], 0.3) is None  # other flags
    # only where arms plan from the budget fraction; with a baseline's measured seconds each arm trains
    assert bench.shared_runs(names, 0.3, True) == dict(res3_cap30_reg0="res3_reg0", res3_cap45_reg0="res3_reg0")
    assert bench.shared_runs(names, 0.3, False) == {}
