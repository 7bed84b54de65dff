"""A run's folder: refusing to clobber finished runs, and the data a run trains and tests on."""
import os
import shutil

from .checkpoint import CHECKPOINT_NAME
from .datasets import balanced_subset, load_dataset
from .errors import UserError

SUMMARY_NAME = "summary.json"
METRICS_NAME = "metrics.jsonl"


def prepare_run_dir(cfg, is_main=True):
    """Path of out_dir/exp_name, checked against what is already there (finished, unfinished, empty)."""
    path = os.path.join(cfg.out_dir, cfg.resolved_exp_name())
    finished = os.path.exists(os.path.join(path, SUMMARY_NAME))
    started = os.path.exists(os.path.join(path, CHECKPOINT_NAME)) or os.path.exists(os.path.join(path, METRICS_NAME))
    if cfg.resume:
        if finished:
            raise UserError(f"run {path} already finished; nothing to resume (use --overwrite to train it again)")
        return path
    if (finished or started) and not cfg.overwrite:
        what = "a finished run" if finished else "an unfinished run"
        fix = "--overwrite to replace it" + ("" if finished else ", or --resume to continue it")
        raise UserError(f"{path} already holds {what}; choose another --exp_name, or pass {fix}")
    if is_main:
        if os.path.isdir(path) and cfg.overwrite:
            shutil.rmtree(path)
        os.makedirs(path, exist_ok=True)
    return path


def load_run_data(cfg):
    """(train_x, train_y, test_x, test_y, spec) on the CPU, subsets taken, sizes checked."""
    data = load_dataset(cfg.dataset, cfg.data_root, download=cfg.download)
    train_x, train_y, test_x, test_y = data.train_x, data.train_y, data.test_x, data.test_y
    if cfg.train_subset:
        train_x, train_y = balanced_subset(train_x, train_y, cfg.train_subset, cfg.seed)
    if cfg.test_subset:
        test_x, test_y = balanced_subset(test_x, test_y, cfg.test_subset, cfg.seed)
    if cfg.batch_size > len(train_y):
        raise UserError(
            f"--batch_size {cfg.batch_size} is larger than the {len(train_y)} training images; "
            f"give --batch_size <= {len(train_y)}"
        )
    return train_x, train_y, test_x, test_y, data.spec
