"""lib.reporting.stages and bench/stages.py: where each stage of a run ended, from hand-made metrics rows."""
import json
import math

import pytest

from bench_support import load_bench
from lib.reporting.stages import STAGE_COLUMNS, stage_ends


def rows(test_every=1, train_acc=(40.0, 60.0, 70.0, 75.0, 90.0, 95.0), stages=(1, 1, 2, 2, 3, 3)):
    """metrics.jsonl rows of a 6-epoch run in three stages (16, 24, 32 px); test accuracy every test_every epochs
    and at the end, as the loop writes them."""
    res = {1: 16, 2: 24, 3: 32}
    out = []
    for i, (stage, acc) in enumerate(zip(stages, train_acc)):
        tested = (i + 1) % test_every == 0 or i == len(stages) - 1
        out.append(dict(epoch=i + 1, stage=stage, width=64, resolution=res[stage], train_acc=acc,
                        test_acc=10.0 * (i + 1) if tested else None, epoch_train_s=1.0 + stage))
    return out


def test_stage_ends_give_each_stages_last_epoch_accuracy_and_time():
    ends = stage_ends(rows())
    assert list(ends.columns) == STAGE_COLUMNS
    assert ends["last_epoch"].tolist() == [2, 4, 6] and ends["epochs"].tolist() == [2, 2, 2]
    assert ends["resolution"].tolist() == [16, 24, 32] and ends["train_acc"].tolist() == [60.0, 75.0, 95.0]
    assert ends["test_acc"].tolist() == [20.0, 40.0, 60.0] and ends["seconds"].tolist() == [4.0, 6.0, 8.0]


def test_stage_ends_take_the_last_test_measured_and_nan_where_none_was():
    ends = stage_ends(rows(test_every=3))  # tested at epochs 3 and 6: none in stage 1, epoch 3 in stage 2
    assert math.isnan(ends["test_acc"][0]) and ends["test_acc"].tolist()[1:] == [30.0, 60.0]
    uneven = stage_ends(rows(stages=(1, 2, 2, 2, 2, 3)))  # one epoch at 16 px, four at 24, one at 32
    assert uneven["epochs"].tolist() == [1, 4, 1] and uneven["last_epoch"].tolist() == [1, 5, 6]
    assert stage_ends([]).empty and list(stage_ends([]).columns) == STAGE_COLUMNS


def _script():
    return load_bench("stages")


def _write_run(folder, metrics):
    folder.mkdir(parents=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))


def test_stages_bench_averages_each_budget_and_stage_over_seeds(tmp_path, capsys):
    bench = _script()
    _write_run(tmp_path / "b0.5" / "yes_s0", rows())
    _write_run(tmp_path / "b0.5" / "yes_s1", rows(train_acc=(40.0, 70.0, 70.0, 85.0, 90.0, 99.0)))
    _write_run(tmp_path / "b0.5" / "short_s0", rows())  # not a progressive run: left out
    assert bench.main([str(tmp_path)]) == 0
    table = (tmp_path / "stages.md").read_text()
    assert "| 0.5 | 1 | 64 | 16 | 2 | 2.0 ± 0.0 | 65.0 ± 7.1 | 20.0 ± 0.0 |" in table
    assert "| 0.5 | 3 | 64 | 32 | 2 | 6.0 ± 0.0 | 97.0 ± 2.8 | 60.0 ± 0.0 |" in table
    assert f"command: python bench/stages.py {tmp_path}" in capsys.readouterr().out

    # a frontier's results.json names its runs, reused ones elsewhere included; one seed has no spread
    elsewhere = tmp_path / "other" / "yes_s0"
    _write_run(elsewhere, rows(test_every=3))
    frontier = tmp_path / "frontier"
    frontier.mkdir()
    (frontier / "results.json").write_text(json.dumps(dict(kind="frontier", runs=[
        dict(method="baseline", budget=1.0, seed=0, path=str(tmp_path / "nowhere")),
        dict(method="progressive", budget=0.3, seed=0, path=str(elsewhere))])))
    assert bench.main([str(frontier)]) == 0
    table = (frontier / "stages.md").read_text()
    assert "| 0.3 | 1 | 64 | 16 | 1 | 2.0 | 60.0 | – |" in table
    assert "| 0.3 | 2 | 64 | 24 | 1 | 4.0 | 75.0 | 30.0 |" in table


@pytest.mark.parametrize("args", [[], ["--help"], ["EMPTY"]])
def test_stages_bench_refuses_a_folder_without_progressive_runs(args, tmp_path, capsys):
    args = [str(tmp_path) if a == "EMPTY" else a for a in args]
    assert _script().main(args) == 2
    err = capsys.readouterr().err
    assert (f"error: {tmp_path}: no progressive runs found" in err) if args and args[0] != "--help" else \
        err.startswith("usage: python bench/stages.py FOLDER")
    assert not (tmp_path / "stages.md").exists()
