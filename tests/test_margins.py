"""bench/margins.py: progressive minus short and baseline, seed by seed, over frontier and ablation folders."""
import json

import pytest

from bench_support import load_bench


def _summary(name, test, val=None, data="d"):
    return dict(exp_name=name, test_acc=test, val_acc=val, data_sha1=data)


def _frontier(folder, runs):
    """A bench/frontier.py results.json: runs are (method, budget, seed, test accuracy)."""
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(dict(kind="frontier", runs=[
        dict(method=m, algo="x", budget=b, seed=s, path=str(folder / f"{m}_s{s}"), summary=_summary(f"{m}_s{s}", acc))
        for m, b, s, acc in runs])))
    return str(folder)


def _ablations(folder, budget, runs, lr=0.2, data="d"):
    """A bench/ablations.py results.json: runs are {recipe: {seed: test accuracy}} (seeds as JSON keys: strings),
    all trained on the data of digest data."""
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(dict(args=dict(budget=budget, lr=lr, num_epochs=100), table={},
                                                         warnings=[], runs={
        name: {str(s): _summary(f"{name}_s{s}", acc, data=data) for s, acc in by_seed.items()}
        for name, by_seed in runs.items()})))
    return str(folder)


@pytest.fixture
def bench():
    return load_bench("margins")


def test_margins_pair_each_seed_within_its_folder_and_average_over_folders(bench, tmp_path, capsys):
    frontier = _frontier(tmp_path / "f", [
        ("baseline", 1.0, 0, 85.0), ("progressive", 0.3, 0, 82.0), ("short", 0.3, 0, 83.25),
        ("baseline", 1.0, 1, 84.0), ("progressive", 0.3, 1, 83.5), ("short", 0.3, 1, 81.5),
        ("progressive", 0.6, 1, 84.5), ("short", 0.6, 1, 84.0)])
    # seed 2 from an ablation folder without a baseline, its progressive recipe named; another folder's
    # short of seed 0 at 0.3 must not be paired with the frontier's progressive run
    ablation = _ablations(tmp_path / "a", 0.3, {"both3": {2: 83.0}, "short": {2: 82.0}})
    other = _ablations(tmp_path / "o", 0.3, {"both3": {}, "short": {0: 10.0}})
    out = tmp_path / "new" / "margins.md"  # its folder is made
    assert bench.main([frontier, ablation, other, "--recipe", "both3", "--out", str(out)]) == 0
    text = out.read_text()
    assert text in capsys.readouterr().out
    assert "| 0.3 | 3 | s0 -1.25, s1 +2.00, s2 +1.00 | +0.58 ± 1.66 | s0 -3.00, s1 -0.50 | -1.75 ± 1.77 |" in text
    assert "| 0.6 | 1 | s1 +0.50 | +0.50 | s1 +0.50 | +0.50 |" in text
    assert f"command: python bench/margins.py {frontier} {ablation}" in text


def test_margins_refuse_a_seed_counted_twice_and_folders_that_hold_no_results(bench, tmp_path, capsys):
    one = _ablations(tmp_path / "one", 0.45, {"default": {0: 80.0}, "short": {0: 79.0}})
    two = _ablations(tmp_path / "two", 0.45, {"default": {0: 81.0}, "short": {0: 79.0}})
    out = tmp_path / "margins.md"
    assert bench.main([one, two, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "budget 0.45 seed 0" in err and one in err and two in err
    assert not out.exists()  # nothing half-written

    assert bench.main([str(tmp_path / "missing")]) == 2
    assert "no results.json" in capsys.readouterr().err

    torn = tmp_path / "torn"
    torn.mkdir()
    (torn / "results.json").write_text('{"kind": "fron')
    assert bench.main([str(torn)]) == 2
    assert "not readable as JSON" in capsys.readouterr().err

    assert bench.main([one, "--recipe", "both3"]) == 2
    err = capsys.readouterr().err
    assert "no runs of recipe 'both3'" in err and "default, short" in err and "--recipe" in err

    assert bench.main([one, "--metric", "val"]) == 2  # trained without a validation split
    assert "has no val_acc" in capsys.readouterr().err


def test_margins_compare_on_validation_when_asked(bench, tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(dict(kind="frontier", runs=[
        dict(method="progressive", budget=0.45, seed=0, path="p", summary=_summary("p", 70.0, val=81.0)),
        dict(method="short", budget=0.45, seed=0, path="s", summary=_summary("s", 75.0, val=80.0))])))
    rows = bench.margins(bench.gather([str(folder)])[0], "val_acc")
    assert rows == [(0.45, [(0, 1.0, None)])]


def test_a_folder_without_a_baseline_borrows_the_one_trained_on_the_same_data_with_the_same_settings(bench, tmp_path,
                                                                                                    capsys):
    base = _ablations(tmp_path / "base", 0.3, {"default": {3: 80.0}, "short": {3: 79.0}, "baseline": {3: 84.0}})
    alone = _ablations(tmp_path / "alone", 0.5, {"baseline": {4: 85.0}})  # bench/ablations.py --recipes ""
    mid = _ablations(tmp_path / "mid", 0.45, {"default": {3: 83.5, 4: 83.0}, "short": {3: 82.0, 4: 82.5}})
    other_data = _ablations(tmp_path / "od", 0.6, {"default": {3: 84.5}, "short": {3: 84.0}}, data="e")
    other_lr = _ablations(tmp_path / "ol", 0.6, {"default": {4: 84.0}, "short": {4: 83.0}}, lr=0.1)
    gathered, borrowed = bench.gather([base, alone, mid, other_data, other_lr])
    assert borrowed == {(0.45, 3): base, (0.45, 4): alone}  # not base's own seed 3 at 0.3, nor other data or lr
    assert gathered[0.45][3]["baseline"]["test_acc"] == 84.0 and gathered[0.45][4]["baseline"]["test_acc"] == 85.0
    assert "baseline" not in gathered[0.6][3] and "baseline" not in gathered[0.6][4]
    assert bench.main([base, alone, mid, other_data, other_lr]) == 0
    out = capsys.readouterr().out
    assert "| 0.45 | 2 | s3 +1.50, s4 +0.50 | +1.00 ± 0.71 | s3 -0.50, s4 -2.00 | -1.25 ± 1.06 |" in out
    assert f"- seed 3: the baseline of {base} (budget 0.45; its own folder has none)" in out
    assert f"- seed 4: the baseline of {alone} (budget 0.45; its own folder has none)" in out
    assert "a baseline borrowed where the folder has none" in out

    twin = _ablations(tmp_path / "twin", 0.3, {"default": {}, "short": {}, "baseline": {3: 84.5}})
    assert bench.main([base, mid, twin]) == 2  # which of two baselines to compare with is not for the table to pick
    err = capsys.readouterr().err
    assert f"seed 3 of {mid}" in err and base in err and twin in err


def test_the_command_a_header_gives_reads_back_as_it_was_typed(bench):
    """An empty argument (bench/ablations.py --recipes '': the baseline alone) or one with a space survives."""
    assert (bench.command_line("ablations.py", ["--recipes", "", "--tag", "a b", "--seeds", "0,1"])
            == "python bench/ablations.py --recipes '' --tag 'a b' --seeds 0,1")
