"""bench/budget.py end to end on tiny generated data: the table, and reusing finished runs."""
import importlib.util
import json
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _budget_script():
    spec = importlib.util.spec_from_file_location("bench_budget", os.path.join(REPO, "bench", "budget.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_budget_bench_writes_a_table_and_reuses_only_matching_runs(cifar_root, tmp_path, capsys):
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
    assert bench.main(common + ["--arms", "no", "--tag", "fourth", "--reuse_from", str(tmp_path / "nowhere")]) == 2
    assert "no finished run" in capsys.readouterr().err


def test_budget_bench_refuses_a_path_like_tag_before_training(cifar_root, tmp_path, capsys):
    out = tmp_path / "bench"
    assert _budget_script().main(["--data_root", cifar_root, "--out_dir", str(out), "--tag", "../escaped"]) == 2
    assert "--tag '../escaped' is not a plain name" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
