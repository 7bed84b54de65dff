"""Bad input met at run time: one clear error, no run folder left behind that was never a run, nothing deleted."""
import os
import pickle
import shutil

import numpy as np
import pytest

import lib.training.loop as loop_module
from lib.errors import UserError
from lib.training.config import TrainConfig
from lib.training.loop import train


def test_a_train_config_is_checked_like_keywords_and_keywords_override_it(tiny_run):
    with pytest.raises(UserError, match="unknown --algo 'maybe'"):
        train(TrainConfig(**tiny_run, algo="maybe"))
    with pytest.raises(UserError, match="unknown parameter.*colour"):
        train(TrainConfig(**tiny_run), colour="red")
    summary = train(TrainConfig(**tiny_run, exp_name="cfg"), num_epochs=1)
    assert summary["epochs"] == 1


def test_data_errors_leave_no_run_folder(tiny_run, tmp_path):
    with pytest.raises(UserError, match="--train_subset 5000 of the 400 training images: .*0 takes them all"):
        train(**tiny_run, exp_name="subset", train_subset=5000)
    with pytest.raises(UserError, match="--test_subset 500 of the 100 test images"):
        train(**tiny_run, exp_name="subset", test_subset=500)
    with pytest.raises(UserError, match="does not exist"):
        train(**dict(tiny_run, data_root=str(tmp_path / "none")), exp_name="missing")
    assert not os.path.exists(tiny_run["out_dir"]), os.listdir(tiny_run["out_dir"])


def test_an_empty_split_is_named(tiny_run, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_run["data_root"], root)
    with open(root / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({"data": np.zeros((0, 3072), np.uint8), "labels": []}, f)
    with pytest.raises(UserError, match="the test split holds no images"):
        train(**dict(tiny_run, data_root=str(root)), exp_name="empty")


def test_a_run_folder_that_cannot_be_made_is_one_line(tiny_run, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match=f"cannot make the run folder {blocker}/run: .*choose another --out_dir"):
        train(**dict(tiny_run, out_dir=str(blocker)), exp_name="run")
    with pytest.raises(UserError, match="cannot make the run folder .*choose another --out_dir or --exp_name"):
        train(**tiny_run, exp_name="x" * 300)  # longer than a file name may be
    assert blocker.read_text() == "not a folder"


def test_running_out_of_cpu_memory_is_one_line(tiny_run, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 360000000000 bytes. Error code 12 (Cannot allocate memory)")

    monkeypatch.setattr(loop_module, "resnet18", fail)
    with pytest.raises(UserError, match="out of memory at --width 4, --batch_size 40 while .*smaller --batch_size"):
        train(**tiny_run, exp_name="oom")
    monkeypatch.setattr(loop_module, "resnet18", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("other")))
    with pytest.raises(RuntimeError, match="other"):  # any other failure is not dressed up as one
        train(**tiny_run, exp_name="other", overwrite=True)


def test_ctrl_c_names_resume_only_when_there_is_a_checkpoint(tiny_run, monkeypatch, capsys):
    import train as cli

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    args = ["--data_root", tiny_run["data_root"], "--out_dir", tiny_run["out_dir"], "--width", "4", "--num_epochs",
            "2", "--batch_size", "40", "--device", "cpu", "--quiet", "--exp_name", "run"]
    monkeypatch.setattr(loop_module._Run, "train", interrupt)
    assert cli.main(args) == 130
    assert "nothing to resume: run the same command again" in capsys.readouterr().err
    monkeypatch.undo()
    train(**dict(tiny_run, num_epochs=2), exp_name="run")
    monkeypatch.setattr(loop_module._Run, "train", interrupt)
    assert cli.main(args) == 130  # a finished run is not sent to --resume, which would refuse it
    assert "holds a finished run (summary.json): pass --overwrite" in capsys.readouterr().err
    monkeypatch.undo()
    os.unlink(os.path.join(tiny_run["out_dir"], "run", "summary.json"))
    monkeypatch.setattr(loop_module._Run, "train", interrupt)
    assert cli.main(args) == 130
    assert "keeps its last checkpoint: continue with the same command plus --resume" in capsys.readouterr().err
    os.unlink(os.path.join(tiny_run["out_dir"], "run", "checkpoint.pt"))  # metrics recorded, no checkpoint yet
    assert cli.main(args) == 130
    assert "nothing to resume: run the same command plus --overwrite" in capsys.readouterr().err


def test_no_fewer_calibration_steps_are_suggested_below_one():
    from lib.training.budget import check_time_budget

    with pytest.raises(UserError, match="give fewer --calibration_steps"):
        check_time_budget(1.0, 0.9, 0.5, baseline_s=1.2, calibration_steps=2)
    with pytest.raises(UserError) as info:
        check_time_budget(1.0, 0.9, 0.5, baseline_s=1.2, calibration_steps=1)
    assert "calibration_steps" not in str(info.value) and "--num_epochs" in str(info.value)


def test_a_diverged_run_names_what_to_lower():
    from lib.training.config import make_config
    from lib.training.step import diverged_fix

    assert diverged_fix(make_config(lr=0.4)) == "lower --lr (now 0.4)"
    assert (diverged_fix(make_config(weight_decay=1e6, momentum=0.99))
            == "lower --lr (now 0.2) or --weight_decay (now 1e+06) or --momentum (now 0.99)")


def test_a_file_where_the_dataset_folder_belongs_is_named(tmp_path):
    from lib.data.datasets import load_dataset

    (tmp_path / "cifar-10-batches-py").write_text("")
    with pytest.raises(UserError, match="cifar-10-batches-py is a file, not the dataset's folder"):
        load_dataset("cifar10", str(tmp_path), download=True)  # nor is it downloaded over


def test_cifar_labels_of_the_wrong_type_are_named(tiny_run, tmp_path):
    from lib.data.datasets import load_dataset

    root = tmp_path / "data"
    shutil.copytree(tiny_run["data_root"], root)
    with open(root / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({"data": np.zeros((2, 3072), np.uint8), "labels": ["cat", "dog"]}, f)
    with pytest.raises(UserError, match=r"test_batch: 'labels' is <U3 \(2,\), expected 2 integers"):
        load_dataset("cifar10", str(root))
