"""A run's folder: what it may hold, refusing to clobber finished runs or anything else, and the data a run
trains, validates and tests on."""
import hashlib
import json
import os

from .checkpoint import CHECKPOINT_NAME, check_same_config
import torch

from ..data.datasets import balanced_indices, balanced_subset, load_dataset
from ..errors import UserError
from ..records import TEMP_PREFIX, read_json, write_json

SUMMARY_NAME = "summary.json"
METRICS_NAME = "metrics.jsonl"
CONFIG_NAME = "config.json"
ENV_NAME = "env.json"
RUN_FILES = (CONFIG_NAME, ENV_NAME, METRICS_NAME, CHECKPOINT_NAME, SUMMARY_NAME)  # what lib.train writes
OLD_CHECKPOINT_TEMP = CHECKPOINT_NAME + ".tmp"  # temp name of checkpoints written by earlier versions
CONFIG_KEYS = {"dataset", "algo", "num_epochs", "width", "seed"}  # config.json of every version holds these
SHOWN = 5  # foreign entries named in an error


def is_run_file(name):
    """True for a file name a run writes: one of RUN_FILES or the temp file of an atomic write of one."""
    temp = name.startswith(TEMP_PREFIX) and name.endswith(RUN_FILES)
    return name in RUN_FILES or name == OLD_CHECKPOINT_TEMP or temp


def foreign_entries(path):
    """What in folder `path` is not a run's: other files, subfolders ('name/'), links, and run file names
    without a run configuration beside them (config.json is written first and names the run's settings)."""
    with os.scandir(path) as scan:
        entries = list(scan)
    foreign = sorted(e.name + ("/" if e.is_dir(follow_symlinks=False) else "") for e in entries
                     if not (e.is_file(follow_symlinks=False) and is_run_file(e.name)))
    run_files = sorted({e.name for e in entries} & set(RUN_FILES))
    if run_files and not _is_run_config(os.path.join(path, CONFIG_NAME)):
        foreign.append(f"{CONFIG_NAME} that is not a run's configuration" if CONFIG_NAME in run_files
                       else f"{', '.join(run_files)} without a {CONFIG_NAME}")
    return foreign


def _is_run_config(path):
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and CONFIG_KEYS <= set(config)


def check_run_dir(path):
    """UserError unless `path` is absent or a run folder: only RUN_FILES (config.json a run's) and their temp files."""
    if not os.path.lexists(path):
        return
    if not os.path.isdir(path):
        raise UserError(f"{path} exists and is not a folder, so it cannot hold a run; nothing was changed. "
                        "Choose another --exp_name or --out_dir")
    foreign = foreign_entries(path)
    if foreign:
        shown = ", ".join(foreign[:SHOWN]) + (f" and {len(foreign) - SHOWN} more" if len(foreign) > SHOWN else "")
        raise UserError(f"{path} is not a run folder of this project: it holds {shown}, and a run folder holds only "
                        f"{', '.join(RUN_FILES)}; nothing was deleted or written. Choose another --exp_name or "
                        "--out_dir, or move those out of it")


def remove_run_files(path):
    """Delete the run in folder `path` (for --overwrite): its run files, after check_run_dir; the folder stays."""
    check_run_dir(path)
    if os.path.isdir(path):
        for name in os.listdir(path):
            if is_run_file(name):
                os.unlink(os.path.join(path, name))


FINISHED, RESUMABLE, NO_CHECKPOINT, NOT_STARTED = "finished", "resumable", "no checkpoint", "not started"


def run_progress(path):
    """How far the run in folder `path` got: FINISHED (it has a summary), RESUMABLE (a checkpoint),
    NO_CHECKPOINT (metrics were recorded before any checkpoint) or NOT_STARTED (none of these)."""
    if os.path.exists(os.path.join(path, SUMMARY_NAME)):
        return FINISHED
    if os.path.exists(os.path.join(path, CHECKPOINT_NAME)):
        return RESUMABLE
    return NO_CHECKPOINT if os.path.exists(os.path.join(path, METRICS_NAME)) else NOT_STARTED


def prepare_run_dir(cfg, is_main=True):
    """Path of out_dir/exp_name, checked against what is already there (finished, unfinished, empty, not a run).

    Nothing is created or deleted here: create_run_dir does that once the data has loaded.
    """
    path = os.path.join(cfg.out_dir, cfg.resolved_exp_name())
    if is_main or not cfg.overwrite:  # under --overwrite the main process may be deleting the run meanwhile
        check_run_dir(path)
    progress = run_progress(path)
    finished, resumable, started = progress == FINISHED, progress == RESUMABLE, progress != NOT_STARTED
    if cfg.resume:  # what resuming needs, checked before the data loads (resume_state checks the checkpoint itself)
        if finished:
            raise UserError(f"run {path} already finished; nothing to resume (use --overwrite to train it again)")
        if not resumable:
            why = ("it stopped before its first checkpoint was written; start over with --overwrite" if started else
                   "start the run without --resume (or check --exp_name/--out_dir)")
            raise UserError(f"--resume found no checkpoint at {os.path.join(path, CHECKPOINT_NAME)}; {why}")
        try:
            recorded = read_json(os.path.join(path, CONFIG_NAME))
        except (OSError, ValueError):  # missing or unreadable: the checkpoint's own copy is checked when it loads
            recorded = None
        if isinstance(recorded, dict):
            check_same_config(recorded, cfg, path)
        return path
    if (finished or started) and not cfg.overwrite:
        what = "a finished run" if finished else "an unfinished run"
        fix = "--overwrite to replace it" + ("" if finished else ", or --resume to continue it" if resumable else
                                             " (it has no checkpoint to resume from)")
        raise UserError(f"{path} already holds {what}; choose another --exp_name, or pass {fix}")
    return path


def create_run_dir(cfg, path, is_main=True):
    """Make the run folder checked by prepare_run_dir (under --overwrite, deleting the old run's files first)."""
    if not is_main or cfg.resume:
        return
    try:
        if cfg.overwrite:
            remove_run_files(path)
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot make the run folder {path}: {exc.strerror or exc}; choose another --out_dir or "
                        "--exp_name") from None


def write_run_records(path, config, env):
    """config.json and env.json of the run in folder `path`; a folder that cannot be written is a UserError."""
    try:
        write_json(os.path.join(path, CONFIG_NAME), config)
        write_json(os.path.join(path, ENV_NAME), env)
    except OSError as exc:
        raise UserError(f"cannot write to the run folder {path}: {exc.strerror or exc}; choose another --out_dir") \
            from None


def load_run_data(cfg):
    """(train_x, train_y, test_x, test_y, spec, val_x, val_y) on the CPU, subsets taken, sizes checked.

    The training subset (--train_subset) is taken first; the validation split (--val_split) is then carved
    out of it, so val_split images of train_subset are held out and the run trains on the rest.
    val_x, val_y are None without a validation split.
    """
    data = load_dataset(cfg.dataset, cfg.data_root, download=cfg.download)
    train_x, train_y, test_x, test_y = data.train_x, data.train_y, data.test_x, data.test_y
    if cfg.train_subset:
        train_x, train_y = _subset(train_x, train_y, cfg.train_subset, cfg.seed, "--train_subset", "training")
    val_x = val_y = None
    if cfg.val_split:
        train_x, train_y, val_x, val_y = carve_val_split(train_x, train_y, cfg.val_split, cfg.seed)
    if cfg.test_subset:
        test_x, test_y = _subset(test_x, test_y, cfg.test_subset, cfg.seed, "--test_subset", "test")
    if cfg.batch_size > len(train_y):
        raise UserError(
            f"--batch_size {cfg.batch_size} is larger than the {len(train_y)} training images; "
            f"give --batch_size <= {len(train_y)}"
        )
    return train_x, train_y, test_x, test_y, data.spec, val_x, val_y


def data_digest(*arrays):
    """sha1 of the arrays a run trains, validates and tests on (shapes, dtypes and bytes; None entries skipped).

    Recorded in checkpoints and summary.json, so a run is neither resumed nor reused on other data than it
    was trained on: a dataset folder may move (--data_root is free), its contents may not change.
    """
    h = hashlib.sha1()
    for a in arrays:
        if a is not None:
            a = a.contiguous()
            h.update(f"{a.dtype}{tuple(a.shape)};".encode())
            h.update(a.numpy().reshape(-1).view("uint8").data)
    return h.hexdigest()


def run_data_digest(cfg):
    """data_digest of the data `cfg` would train on, as lib.train would load it."""
    train_x, train_y, test_x, test_y, _, val_x, val_y = load_run_data(cfg)
    return data_digest(train_x, train_y, test_x, test_y, val_x, val_y)


def other_data(cfg, summary):
    """'trained on data with digest A; cfg's data has digest B' when a finished run's summary records data
    other than what `cfg` would train on; None when they are the same or the summary predates the record."""
    recorded = (summary or {}).get("data_sha1")
    if recorded is None:
        return None
    now = run_data_digest(cfg)
    if now == recorded:
        return None
    return (f"it was trained on other data than {cfg.dataset} under --data_root {cfg.data_root} holds now "
            f"(data sha1 {recorded[:12]}, now {now[:12]})")


def _subset(x, y, n, seed, flag, split):
    """balanced_subset, its error naming the flag and the split (0 = all is the other fix)."""
    try:
        return balanced_subset(x, y, n, seed)
    except UserError as exc:
        raise UserError(f"{flag} {n} of the {len(y)} {split} images: {exc} (0 takes them all)") from None


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
