"""What the project may delete or replace: only its own run folders, temp files and outputs, never a user's."""
import os
import subprocess
import sys

import pytest

from lib.training import rundir
from lib.errors import UserError
from lib.training.loop import train
from lib.records import atomic_open, write_text

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args):
    return subprocess.run([sys.executable, "train.py", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def tiny_cli(tiny_run, out_dir, exp_name, *extra):
    return cli("--dataset", "cifar10", "--data_root", tiny_run["data_root"], "--out_dir", str(out_dir),
               "--exp_name", exp_name, "--num_epochs", "1", "--width", "4", "--batch_size", "40", "--device", "cpu",
               "--quiet", *extra)


def test_overwrite_never_deletes_a_folder_that_is_not_a_run(tiny_run, tmp_path):
    victim = tmp_path / "scratch" / "victim"
    victim.mkdir(parents=True)
    (victim / "thesis.tex").write_text("a user's own work")
    out = tiny_cli(tiny_run, tmp_path / "scratch", "victim", "--overwrite")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "is not a run folder of this project: it holds thesis.tex" in out.stderr
    assert "nothing was deleted" in out.stderr
    assert os.listdir(victim) == ["thesis.tex"] and (victim / "thesis.tex").read_text() == "a user's own work"


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_run_is_never_written_into_a_folder_holding_other_things(tiny_run, overwrite):
    folder = os.path.join(tiny_run["out_dir"], "mixed")
    os.makedirs(os.path.join(folder, "notes"))
    with open(os.path.join(folder, "config.json"), "w") as f:
        f.write("{\"mine\": true}")  # a user's own config.json, beside a subfolder
    with pytest.raises(UserError, match=r"holds notes/, config.json that is not a run's configuration, .*"
                                        r"nothing was deleted or written"):
        train(**{**tiny_run, "num_epochs": 1}, exp_name="mixed", overwrite=overwrite)
    os.rmdir(os.path.join(folder, "notes"))
    with pytest.raises(UserError, match=r"holds config.json that is not a run's configuration"):
        train(**{**tiny_run, "num_epochs": 1}, exp_name="mixed", overwrite=overwrite)
    assert os.listdir(folder) == ["config.json"]
    assert open(os.path.join(folder, "config.json")).read() == "{\"mine\": true}"


def test_overwrite_of_a_real_run_replaces_it(tiny_run):
    first = train(**{**tiny_run, "num_epochs": 1}, exp_name="real")
    folder = os.path.join(tiny_run["out_dir"], "real")
    write_text(os.path.join(folder, "checkpoint.pt.tmp"), "")  # what a crash mid-save left behind once
    second = train(**{**tiny_run, "num_epochs": 2}, exp_name="real", overwrite=True)
    assert (first["epochs"], second["epochs"]) == (1, 2)
    assert sorted(os.listdir(folder)) == sorted(rundir.RUN_FILES)


def test_path_like_exp_name_is_refused_and_nothing_is_written(tiny_run, tmp_path):
    out = tiny_cli(tiny_run, tmp_path / "one" / "two", "../../x")  # other path-like names: tests/test_config.py
    assert out.returncode == 2 and "is not a plain name" in out.stderr and "Traceback" not in out.stderr
    assert list(tmp_path.iterdir()) == []  # no run anywhere, inside --out_dir or above it


def test_check_run_dir_names_what_it_found_and_accepts_run_files_and_their_temp_files(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for name in (*rundir.RUN_FILES, ".tmp_1a2b3c4d_metrics.jsonl", "checkpoint.pt.tmp"):
        (run / name).write_text("")
    rundir.check_run_dir(str(tmp_path / "absent"))
    with pytest.raises(UserError, match=r"it holds config.json that is not a run's configuration"):
        rundir.check_run_dir(str(run))  # all names right, but config.json is empty
    (run / "config.json").write_text('{"dataset": "cifar10", "algo": "no", "num_epochs": 1, "width": 4, "seed": 0}')
    rundir.check_run_dir(str(run))
    (run / "notes.txt").write_text("mine")
    (run / "plots").mkdir()
    with pytest.raises(UserError, match=r"it holds notes.txt, plots/"):
        rundir.check_run_dir(str(run))
    (run / "config.json").unlink()
    with pytest.raises(UserError, match=r"checkpoint.pt, env.json, metrics.jsonl, summary.json without a config.json"):
        rundir.check_run_dir(str(run))
    with pytest.raises(UserError, match="is not a folder"):
        rundir.check_run_dir(str(run / "notes.txt"))


def test_atomic_open_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "table.md"
    path.write_text("the complete old table")
    with pytest.raises(RuntimeError):
        with atomic_open(path) as f:
            f.write("half of a new tab")
            raise RuntimeError("disk full")
    assert path.read_text() == "the complete old table" and os.listdir(tmp_path) == ["table.md"]
    write_text(path, "new")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["table.md"]
