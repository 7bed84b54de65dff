"""run_all.py: parameter checks before anything runs, end-to-end smoke runs, failures reported by name."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lib.reporting import notebook_runner as runner
from lib.errors import UserError
from lib.data.fakedata import write_fake_dataset

REPO = Path(__file__).resolve().parents[1]
PROGRESS_RE = r"\[{i}/{n}\] {name}\s+{status}\s+\d+\.\d+s"


def run_all(*args, timeout=300):
    return subprocess.run([sys.executable, str(REPO / "run_all.py"), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("text, value", [
    ("3", 3), ("-2", -2), ("0.5", 0.5), ("1e-3", 1e-3), ("True", True), ("false", False), ("None", None),
    ("0.5/0.5:0.3,1/1:0.7", "0.5/0.5:0.3,1/1:0.7"), ("cuda", "cuda"),
])
def test_parse_value_like_papermill(text, value):
    assert runner.parse_value(text) == value and type(runner.parse_value(text)) is type(value)


def test_parse_overrides():
    assert runner.parse_overrides(["num_epochs=20", "schedule=1/1:1", "x="]) == dict(num_epochs=20, schedule="1/1:1", x="")
    with pytest.raises(UserError, match="key=value"):
        runner.parse_overrides(["num_epochs"])


def test_check_parameters_names_the_valid_ones():
    notebook = runner.NOTEBOOKS / "cifar10.ipynb"
    runner.check_parameters(notebook, dict(num_epochs=5, lr=1, budget=0.5, download=True))  # int for a float is fine
    with pytest.raises(UserError, match=r"no parameter epochs; valid parameters: .*num_epochs"):
        runner.check_parameters(notebook, dict(epochs=5))
    with pytest.raises(UserError, match="width of cifar10.ipynb takes an int .*got 'wide'"):
        runner.check_parameters(notebook, dict(width="wide"))
    with pytest.raises(UserError, match="download .* takes a bool"):
        runner.check_parameters(notebook, dict(download=1))


def test_profiles_only_set_declared_parameters():
    for name in runner.DATASET_NOTEBOOKS:
        declared = runner.notebook_parameters(runner.NOTEBOOKS / f"{name}.ipynb")
        for profile in runner.PROFILES.values():
            runner.check_parameters(name, profile, declared)


def test_plan_jobs(tmp_path):
    jobs = runner.plan_jobs("quick", "cifar100,cifar10", data_root=tmp_path, out_root=tmp_path / "out",
                            overrides=dict(seed=2))
    assert [j.name for j in jobs] == ["cifar100", "cifar10", "summary"]
    c100 = jobs[0]
    assert c100.parameters["width"] == 16 and c100.parameters["seed"] == 2 and c100.parameters["train_subset"] == 5000
    assert c100.output == tmp_path / "out" / "quick" / "cifar100" / "cifar100_w16_e8_s2_n5000_t1000_b0.5.ipynb"
    assert c100.partial.name.endswith(".partial.ipynb") and c100.failed.name.endswith(".FAILED.ipynb")
    assert "--download" in c100.missing and "cifar-100-python" in c100.missing  # nothing under data_root
    write_fake_dataset("cifar10", tmp_path, train_per_class=1, test_per_class=1)
    assert runner.plan_jobs("quick", "cifar10", data_root=tmp_path, out_root=tmp_path)[0].missing == ""
    assert runner.plan_jobs("quick", "cifar10", data_root=tmp_path / "x", download=True)[0].missing == ""
    with pytest.raises(UserError, match="unknown dataset.*mnist"):
        runner.plan_jobs("smoke", "cifar10,mnist")


def test_folder_naming_parameters_must_be_plain_names(tmp_path):
    with pytest.raises(UserError, match=r"dataset '\.\./\.\./x' is not a plain name"):
        runner.plan_jobs("smoke", "cifar10", out_root=tmp_path, overrides=dict(dataset="../../x"))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("suffix", [".ipynb", ".partial.ipynb", ".FAILED.ipynb"])
def test_a_users_file_at_an_executed_notebook_name_is_never_deleted(tmp_path, suffix):
    job = runner.plan_jobs("smoke", "cifar10", out_root=tmp_path)[0]
    mine = job.output.with_suffix(suffix)
    mine.parent.mkdir(parents=True)
    mine.write_text("my own notes")
    with pytest.raises(UserError, match=rf"{re.escape(str(mine))}: not a notebook executed from cifar10.ipynb"):
        runner.plan_jobs("smoke", "cifar10", out_root=tmp_path)
    result = runner.execute(job)
    assert result.status == "failed" and "not a notebook executed from" in result.message
    assert mine.read_text() == "my own notes"


def test_a_users_results_file_is_never_deleted(tmp_path):
    mine = tmp_path / "smoke" / "results.md"
    mine.parent.mkdir()
    mine.write_text("# my results")
    with pytest.raises(UserError, match="results.md: not written by this project's results table"):
        runner.plan_jobs("smoke", "cifar10", out_root=tmp_path)
    summary = runner.plan_jobs("smoke", "cifar10", out_root=tmp_path / "elsewhere")[-1]
    summary.parameters.update(out_dir=str(mine.parent), runs_dir=str(mine.parent))
    [result] = runner.run_jobs([summary], log=lambda line: None)
    assert result.status == "failed" and "not written by this project" in result.message
    assert mine.read_text() == "# my results"


def test_unknown_parameter_is_rejected_before_anything_runs(tmp_path):
    result = run_all("--profile", "smoke", "--out_root", str(tmp_path), "-p", "num_epoch=3", timeout=60)
    assert result.returncode == 2
    assert "no parameter num_epoch; valid parameters:" in result.stderr and "num_epochs" in result.stderr
    assert not any(tmp_path.iterdir()), "nothing may run (or be written) after a bad parameter"
    result = run_all("--profile", "smoke", "--out_root", str(tmp_path), "-p", "width=wide", timeout=60)
    assert result.returncode == 2 and "takes an int" in result.stderr
    # a value of the right type that no arm can train with is refused as early, naming the notebook
    result = run_all("--profile", "smoke", "--out_root", str(tmp_path), "-p", "budget=1.5", timeout=60)
    assert result.returncode == 2 and "cifar10.ipynb: --budget 1.5 is out of range" in result.stderr
    result = run_all("--profile", "smoke", "--out_root", str(tmp_path), "-p", "schedule=1/1:0.5,1/0.5:0.5",
                     timeout=60)
    assert result.returncode == 2 and "cifar10.ipynb: " in result.stderr and "schedule" in result.stderr
    assert not any(tmp_path.iterdir()), "nothing may run (or be written) after a bad value"


def test_smoke_profile_end_to_end_and_rerun_reuses_runs(tmp_path, one_thread):
    result = run_all("--profile", "smoke", "--only", "fashionmnist", "--out_root", str(tmp_path), "--device", "cpu")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "without encryption" not in result.stderr  # kernels are asked for CurveZMQ where they support it
    assert re.search(PROGRESS_RE.format(i=1, n=2, name="fashionmnist", status="OK"), result.stdout)
    assert re.search(PROGRESS_RE.format(i=2, n=2, name="summary", status="OK"), result.stdout)
    out = tmp_path / "smoke"
    epochs = runner.PROFILES["smoke"]["num_epochs"]
    executed = out / "fashionmnist" / f"fashionmnist_w8_e{epochs}_s0_bs16_lr0.1_b0.75.ipynb"
    assert executed.exists() and not list(out.rglob("*.partial.ipynb")) and not list(out.rglob("*.FAILED.ipynb"))
    assert (out / "data" / "FashionMNIST" / "raw").is_dir()  # generated, no download
    md = (out / "results.md").read_text()
    assert "INCOMPLETE" not in md
    assert re.search(r"\| fashionmnist \| 95.2 / 95.2 \| .* \| \d+\.\d / \d+\.\d / \d+\.\d \|", md)  # base / prog / short
    again = run_all("--profile", "smoke", "--only", "fashionmnist", "--out_root", str(tmp_path), "--device", "cpu")
    assert again.returncode == 0, again.stdout + again.stderr
    assert executed.read_text().count("reusing the finished run") == 3  # every arm, not trained again


def test_failing_notebook_and_absent_dataset_are_reported(tmp_path, one_thread):
    data = tmp_path / "data"
    write_fake_dataset("cifar10", data, **runner.SMOKE_DATA["cifar10"])
    result = run_all("--profile", "smoke", "--only", "cifar10,tinyimagenet", "--data_root", str(data),
                     "--out_root", str(tmp_path), "--device", "cpu", "-p", "batch_size=1000")  # > the 320 images
    assert result.returncode == 1
    assert re.search(PROGRESS_RE.format(i=1, n=3, name="cifar10", status="FAILED"), result.stdout)
    assert re.search(PROGRESS_RE.format(i=2, n=3, name="tinyimagenet", status="MISSING"), result.stdout)
    assert "2 of 3 notebooks did not finish" in result.stderr
    failed = tmp_path / "smoke" / "cifar10" / "cifar10_w8_e10_s0_bs1000_lr0.1_b0.75.FAILED.ipynb"
    assert re.search(rf"cifar10: failed: UserError: --batch_size 1000 .*{re.escape(str(failed))}", result.stderr)
    assert failed.exists() and not failed.with_name("cifar10_w8_e10_s0_bs1000_lr0.1_b0.75.ipynb").exists()
    assert re.search(r"tinyimagenet: missing: dataset absent: .*tiny-imagenet-200 does not exist; pass --download",
                     result.stderr)
    md = (tmp_path / "smoke" / "results.md").read_text()
    assert md.startswith("**INCOMPLETE: no result for cifar10, tinyimagenet")
    assert os.path.exists(tmp_path / "smoke" / "summary.ipynb")
