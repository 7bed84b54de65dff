"""bench/budget.py end to end on tiny generated data: the table, and reusing a finished baseline."""
import importlib.util
import json
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _budget_script():
    spec = importlib.util.spec_from_file_location("bench_budget", os.path.join(REPO, "bench", "budget.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_budget_bench_writes_a_table_and_reuses_a_matching_baseline(cifar_root, tmp_path, capsys):
    bench = _budget_script()
    common = ["--data_root", cifar_root, "--out_dir", str(tmp_path), "--num_epochs", "20", "--width", "4",
              "--batch_size", "40", "--seeds", "0", "--train_subset", "0", "--device", "cpu"]
    assert bench.main(common + ["--arms", "no,yes", "--tag", "first"]) == 0
    first = json.load(open(tmp_path / "first" / "results.json"))
    assert set(first["stats"]) == {"no", "yes"}
    assert "| yes | 1 |" in open(tmp_path / "first" / "table.md").read()

    assert bench.main(common + ["--arms", "no,yes", "--tag", "second", "--budget", "0.6",
                                "--baseline_from", str(tmp_path / "first")]) == 0
    second = json.load(open(tmp_path / "second" / "results.json"))
    assert second["runs"]["no"] == first["runs"]["no"]  # the same baseline, not a new run
    assert not os.path.exists(tmp_path / "second" / "no_s0")
    assert second["stats"]["yes"]["predicted_saving"] == 0.4

    capsys.readouterr()
    assert bench.main(common[:-4] + ["--device", "cpu", "--width", "8", "--arms", "no", "--tag", "third",
                                     "--baseline_from", str(tmp_path / "first")]) == 2
    err = capsys.readouterr().err
    assert "different settings" in err and "width=4, here 8" in err
    assert bench.main(common + ["--arms", "no", "--tag", "fourth", "--baseline_from", str(tmp_path / "nowhere")]) == 2
    assert "no finished baseline run" in capsys.readouterr().err
