"""lib.reporting.report and .results_files: hand-made run records give the right comparison and results tables."""
import dataclasses
import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from lib.reporting import report, results_files  # noqa: E402
from lib.training.config import make_config, resolve_config  # noqa: E402
from lib.errors import UserError  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def write_run(root, name, dataset, algo, test_acc, train_time_s, env=None, **config):
    """A finished run folder as lib.train leaves it (the parts the report reads)."""
    folder = root / name
    folder.mkdir(parents=True)
    width, num_epochs = config.pop("width", 64), config.pop("num_epochs", 100)
    summary = dict(dataset=dataset, algo=algo, exp_name=name, seed=0, test_acc=test_acc, val_acc=None,
                   train_time_s=train_time_s, total_time_s=train_time_s + 5, epochs=num_epochs,
                   epochs_equivalent=num_epochs if algo == "no" else num_epochs * 0.5, final_width=width,
                   final_resolution=32, num_epochs=num_epochs, width=width)
    (folder / "summary.json").write_text(json.dumps(summary))
    cfg = dict(dataset=dataset, algo=algo, width=width, num_epochs=num_epochs, seed=0, train_subset=0, test_subset=0,
               batch_size=128, lr=0.2, **config)
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "env.json").write_text(json.dumps(env or dict(device="cuda:0", device_name="NVIDIA H100 80GB HBM3")))
    rows = [dict(epoch=e, stage=1, width=width, resolution=32, test_acc=test_acc, elapsed_train_s=e) for e in (1, 2)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(folder)


@pytest.fixture
def runs(tmp_path):
    write_run(tmp_path, "cifar10_no", "cifar10", "no", 90.0, 1000.0)
    write_run(tmp_path, "cifar10_yes", "cifar10", "yes", 88.5, 600.0)
    write_run(tmp_path / "deeper", "cifar10_yes_b0.3", "cifar10", "yes", 85.0, 300.0, budget=0.3)
    write_run(tmp_path, "cifar10_short_b0.3", "cifar10", "short", 83.5, 290.0, budget=0.3)
    write_run(tmp_path, "cifar10_short_b0.5", "cifar10", "short", 86.0, 500.0, budget=0.5)  # no progressive at 0.5
    write_run(tmp_path, "cifar10_yes_w32", "cifar10", "yes", 80.0, 100.0, width=32)  # no baseline of width 32
    write_run(tmp_path, "fashionmnist_no", "fashionmnist", "no", 93.0, 500.0,
              env=dict(device="cpu", device_name="x86_64", torch_threads=2))
    unfinished = tmp_path / "cifar100_no"
    unfinished.mkdir()
    (unfinished / "metrics.jsonl").write_text("")
    return tmp_path


def test_find_runs_only_finished(runs):
    found = report.find_runs(runs)
    assert [r.path for r in found] == sorted(r.path for r in found)
    assert "cifar100_no" not in [r.name for r in found] and len(found) == 7


def test_results_table_values(runs):
    table = report.results_table(report.find_runs(runs))
    c10 = table[table["dataset"] == "cifar10"].set_index("progressive_run")
    plain = c10.loc[str(runs / "cifar10_yes")]
    assert plain["baseline_acc"] == 90.0 and plain["progressive_acc"] == 88.5
    assert plain["time_saved_pct"] == pytest.approx(40.0)  # 1 - 600 / 1000
    assert plain["acc_change_pp"] == pytest.approx(-1.5)
    assert plain["hardware"] == "NVIDIA H100 80GB HBM3"
    budget = c10.loc[str(runs / "deeper" / "cifar10_yes_b0.3")]
    assert budget["baseline_run"] == str(runs / "cifar10_no")  # one baseline serves both progressive runs
    assert budget["time_saved_pct"] == pytest.approx(70.0) and budget["acc_change_pp"] == pytest.approx(-5.0)
    # the short run of the same budget stands beside it
    assert budget["short_run"] == str(runs / "cifar10_short_b0.3") and budget["short_acc"] == 83.5
    assert budget["short_time_s"] == 290.0 and budget["prog_vs_short_pp"] == pytest.approx(1.5)
    assert budget["short_acc_change_pp"] == pytest.approx(-6.5) and budget["short_time_saved_pct"] == pytest.approx(71.0)
    assert plain["short_run"] == "" and math.isnan(plain["short_acc"])  # no budget: no short run to compare with
    unpaired = c10.loc[str(runs / "cifar10_yes_w32")]
    assert unpaired["baseline_run"] == "" and math.isnan(unpaired["time_saved_pct"]) and unpaired["width"] == 32


def test_results_table_lists_every_published_dataset(runs):
    table = report.results_table(report.find_runs(runs))
    assert table["dataset"].drop_duplicates().tolist() == list(report.PUBLISHED)
    c10 = table[table["dataset"] == "cifar10"].iloc[0]
    assert c10["published_baseline_acc"] == 94.2 and c10["published_progressive_acc"] == 93.5
    assert c10["published_baseline_time_s"] == 7 * 3600 + 10 * 60
    assert c10["published_time_saved_pct"] == pytest.approx(100 * (1 - 210 / 430))
    assert c10["published_acc_change_pp"] == pytest.approx(-0.7)
    tiny = table[table["dataset"] == "tinyimagenet"].iloc[0]
    assert tiny["published_time_saved_pct"] == pytest.approx(100 * (1 - 630 / 1420)) and math.isnan(tiny["baseline_acc"])
    fmnist = table[table["dataset"] == "fashionmnist"].iloc[0]  # a baseline alone still shows
    assert fmnist["baseline_acc"] == 93.0 and math.isnan(fmnist["progressive_acc"])
    assert fmnist["hardware"] == "CPU x86_64, 2 threads"


def test_write_results_files(runs, tmp_path):
    out = tmp_path / "results"
    table, paths = results_files.build_results(str(runs), str(out))
    assert sorted(os.listdir(out)) == sorted(results_files.RESULT_FILES)
    md = open(paths["results.md"]).read()
    assert not md.startswith("**INCOMPLETE")
    row = next(line for line in md.splitlines() if line.startswith("| cifar10 ") and "88.5" in line)
    assert "94.2 / 93.5" in row and "7h10m / 3h30m" in row and "51.2%" in row
    assert "90.0 / 88.5 / –" in row and "-1.5" in row and "16m40s / 10m00s / –" in row and "40.0%" in row
    row = next(line for line in md.splitlines() if line.startswith("| cifar10 ") and "85.0" in line)
    assert "90.0 / 85.0 / 83.5" in row and "| +1.5 |" in row and "16m40s / 5m00s / 4m50s" in row
    assert "Accuracy against training time" not in md and "frontier.png" not in paths
    assert "| tinyimagenet | 61.9 / 61.8 | 23h40m / 10h30m | 55.6% | – / –" in md
    back = pd.read_csv(paths["results.csv"])
    assert back["time_saved_pct"].dropna().round(6).tolist() == table["time_saved_pct"].dropna().round(6).tolist()
    with open(paths["results.png"], "rb") as f:
        assert f.read(4) == b"\x89PNG"
    _, paths = results_files.build_results(str(runs), str(out), incomplete="cifar100,tinyimagenet")
    first = open(paths["results.md"]).readline()
    assert first.startswith("**INCOMPLETE: no result for cifar100, tinyimagenet from this run")
    assert "rows below for them, if any, are earlier runs" in first  # the table may still hold older runs


def test_write_results_never_replaces_a_file_it_did_not_write(runs, tmp_path):
    out = tmp_path / "results"
    results_files.build_results(str(runs), str(out))
    results_files.build_results(str(runs), str(out))  # its own files are replaced
    (out / "results.csv").write_text("my,own,table\n")
    with pytest.raises(UserError, match="results.csv: not written by this project's results table"):
        results_files.build_results(str(runs), str(out))
    assert (out / "results.csv").read_text() == "my,own,table\n"
    assert sorted(os.listdir(out)) == sorted(results_files.RESULT_FILES)


def test_run_arm_neither_reads_nor_replaces_a_folder_that_is_not_a_run(tmp_path):
    folder = tmp_path / "arm"
    folder.mkdir()
    (folder / "config.json").write_text("my own settings, not JSON")
    with pytest.raises(UserError, match="is not a run folder of this project: it holds config.json that is not"):
        report.run_arm(dataset="cifar10", out_dir=str(tmp_path), exp_name="arm", num_epochs=3, width=8)
    assert os.listdir(folder) == ["config.json"]


def test_comparison_table(runs):
    table = report.comparison_table(report.load_run(str(runs / "cifar10_no")), report.load_run(str(runs / "cifar10_yes")))
    assert table.loc["baseline", "time_saved_pct"] == 0
    assert table.loc["progressive", "time_saved_pct"] == pytest.approx(40.0)
    assert table.loc["progressive", "acc_change_pp"] == pytest.approx(-1.5)
    assert table.loc["progressive", "final_size"] == "w64@32px"
    assert list(table.index) == ["baseline", "progressive"] and "acc_vs_short_pp" not in table


def test_comparison_table_with_the_short_arm(runs):
    load = lambda name: report.load_run(str(runs / name))  # noqa: E731
    table = report.comparison_table(load("cifar10_no"), load("deeper/cifar10_yes_b0.3"), load("cifar10_short_b0.3"))
    assert list(table.index) == ["baseline", "progressive", "short"]
    assert table.loc["short", "time_saved_pct"] == pytest.approx(71.0)
    assert table.loc["short", "acc_change_pp"] == pytest.approx(-6.5)
    assert table.loc["progressive", "acc_vs_short_pp"] == pytest.approx(1.5)
    assert table.loc["short", "acc_vs_short_pp"] == 0


FRONTIER_RESULTS = dict(
    kind="frontier", title="cifar10, width 16: CPU x86_64", header="3 budgets, seeds 0", table_md="| method |\n|---|",
    stats=[dict(method="baseline", budget=1.0, seeds=1, train_time_s=100.0, train_time_s_std=0.0, test_acc=80.0,
                test_acc_std=0.0),
           dict(method="progressive", budget=0.5, seeds=1, train_time_s=52.0, train_time_s_std=0.0, test_acc=78.0,
                test_acc_std=0.0)])


def test_results_include_the_newest_frontier(runs, tmp_path):
    out = tmp_path / "results"
    older, newer = runs / "frontier" / "old", runs / "frontier" / "new"
    for folder, title in ((older, "old one"), (newer, "new one")):
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(dict(FRONTIER_RESULTS, title=title)))
    os.utime(older / "results.json", (1, 1))
    (runs / "frontier" / "results.json").write_text(json.dumps(dict(kind="ablations")))  # not a frontier
    assert results_files.find_frontier(str(runs))[0] == str(newer)
    os.utime(newer / "results.json", (1, 1))  # equal mtimes (a fresh clone): the folder decides, never walk order
    assert results_files.find_frontier(str(runs))[0] == str(older)  # "old" > "new"
    stamped = dict(FRONTIER_RESULTS, title="new one", written_at="2026-01-02T00:00:00Z")
    (newer / "results.json").write_text(json.dumps(stamped))
    os.utime(newer / "results.json", (1, 1))
    assert results_files.find_frontier(str(runs))[0] == str(newer)  # a written_at stamp beats one without
    (older / "results.json").write_text(json.dumps(dict(stamped, written_at="2026-01-01T00:00:00Z")))
    assert results_files.find_frontier(str(runs))[0] == str(newer)  # and the later stamp wins over a later mtime
    _, paths = results_files.build_results(str(runs), str(out))
    assert sorted(os.listdir(out)) == sorted(results_files.RESULT_FILES + (results_files.FRONTIER_FILE,))
    md = open(paths["results.md"]).read()
    assert f"From `{newer}`" in md and "3 budgets, seeds 0" in md and "![accuracy against training time](frontier.png)" in md
    assert "warning:" not in md
    (newer / "results.json").write_text(json.dumps(dict(stamped, warnings=["seed 1 short budget 0.3: slower"])))
    _, paths = results_files.build_results(str(runs), str(out))
    assert "\n\nwarning: seed 1 short budget 0.3: slower\n\n![accuracy" in open(paths["results.md"]).read()
    with open(paths[results_files.FRONTIER_FILE], "rb") as f:
        assert f.read(4) == b"\x89PNG"
    _, paths = results_files.build_results(str(runs), str(out), frontier_dir=str(tmp_path / "elsewhere"))
    assert not os.path.exists(out / results_files.FRONTIER_FILE)  # no frontier there: the old figure is removed
    assert "Accuracy against training time" not in open(paths["results.md"]).read()


def test_experiment_names_share_the_baseline():
    plain = report.experiment_names("cifar10", 64, 100)
    assert plain["baseline"] == "cifar10_no_w64_e100_s0" and plain["progressive"] == "cifar10_yes_w64_e100_s0"
    varied = report.experiment_names("cifar10", 16, 8, seed=1, train_subset=5000, lr=0.1,
                                     schedule="0.5/0.5:0.5,1/1:0.5", budget=0.5)
    assert varied["baseline"] == "cifar10_no_w16_e8_s1_n5000_lr0.1"
    assert varied["progressive"] == "cifar10_yes_w16_e8_s1_n5000_lr0.1_sch0.5-0.5-0.5-1-1-0.5_b0.5"
    assert varied["notebook"] == "cifar10_" + varied["tag"]
    assert varied["short"] == "cifar10_short_w16_e8_s1_n5000_lr0.1_b0.5"  # the schedule does not change it


def test_run_arm_reuses_a_finished_run_and_refuses_other_settings(tmp_path, monkeypatch):
    import lib.training.loop

    cfg = resolve_config(make_config(dataset="cifar10", out_dir=str(tmp_path), exp_name="arm", num_epochs=3, width=8))
    folder = tmp_path / "arm"
    folder.mkdir()
    saved = dataclasses.asdict(cfg)
    del saved["val_split"]  # written before the field existed: it had its default
    (folder / "config.json").write_text(json.dumps(saved))
    (folder / "summary.json").write_text(json.dumps(dict(test_acc=50.0)))
    monkeypatch.setattr(lib.training.loop, "train", lambda *a, **k: pytest.fail("a finished run was trained again"))
    run = report.run_arm(dataset="cifar10", out_dir=str(tmp_path), exp_name="arm", num_epochs=3, width=8,
                         device="cpu", quiet=True)  # device and quiet do not change what is computed
    assert run.summary == dict(test_acc=50.0)
    with pytest.raises(UserError, match="other settings.*num_epochs: 3 -> 4"):
        report.run_arm(dataset="cifar10", out_dir=str(tmp_path), exp_name="arm", num_epochs=4, width=8)
    # a record that left the schedule to a default cannot pass for a run of today's default
    (folder / "config.json").write_text(json.dumps(dict(dataclasses.asdict(cfg), schedule="")))
    with pytest.raises(UserError, match="other settings.*schedule: '' -> '1/1:1'"):
        report.run_arm(dataset="cifar10", out_dir=str(tmp_path), exp_name="arm", num_epochs=3, width=8)
