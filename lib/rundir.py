"""A run's folder: refusing to clobber finished runs, and the data a run trains, validates and tests on."""
import os
import shutil

from .checkpoint import CHECKPOINT_NAME
import torch

from .datasets import balanced_indices, balanced_subset, load_dataset
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
    """(train_x, train_y, test_x, test_y, spec, val_x, val_y) on the CPU, subsets taken, sizes checked.

    The training subset (--train_subset) is taken first; the validation split (--val_split) is then carved
    out of it, so val_split images of train_subset are held out and the run trains on the rest.
    val_x, val_y are None without a validation split.
    """
    data = load_dataset(cfg.dataset, cfg.data_root, download=cfg.download)
    train_x, train_y, test_x, test_y = data.train_x, data.train_y, data.test_x, data.test_y
    if cfg.train_subset:
        train_x, train_y = balanced_subset(train_x, train_y, cfg.train_subset, cfg.seed)
    val_x = val_y = None
    if cfg.val_split:
        train_x, train_y, val_x, val_y = carve_val_split(train_x, train_y, cfg.val_split, cfg.seed)
    if cfg.test_subset:
        test_x, test_y = balanced_subset(test_x, test_y, cfg.test_subset, cfg.seed)
    if cfg.batch_size > len(train_y):
        raise UserError(
            f"--batch_size {cfg.batch_size} is larger than the {len(train_y)} training images; "
            f"give --batch_size <= {len(train_y)}"
        )
    return train_x, train_y, test_x, test_y, data.spec, val_x, val_y


def carve_val_split(x, y, n, seed):
    """(train_x, train_y, val_x, val_y): n seeded, class-balanced examples of (x, y) held out for validation.

    The two parts are disjoint and together are all of (x, y); the training part keeps its order. Every
    class keeps at least one training example, else a UserError says how large the split may be.
    """
    classes, counts = torch.unique(y, return_counts=True)
    per_class, remainder = divmod(n, len(classes))
    wants = per_class + (torch.arange(len(classes)) < remainder)
    if n >= len(y) or bool((wants >= counts).any()):
        most = (int(counts.min()) - 1) * len(classes)
        raise UserError(f"--val_split {n} leaves a class without training images ({len(y)} training images, "
                        f"{int(counts.min())} in the smallest class); give --val_split of at most {most}, "
                        f"or 0 for no validation split")
    val = balanced_indices(y, n, seed)
    keep = torch.ones(len(y), dtype=torch.bool)
    keep[val] = False
    return x[keep], y[keep], x[val], y[val]
