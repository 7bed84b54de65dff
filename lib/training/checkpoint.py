"""Atomic checkpoints of a whole training state, loaded without running code, and the checks made before resuming."""
import dataclasses
import os
import threading

import torch

from .config import RESUME_FREE_KEYS, saved_config
from ..errors import UserError
from ..records import atomic_open

CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(path, state):
    """torch.save through atomic_open: the final name only ever holds a whole file.

    state may hold tensors, dicts, lists, tuples, str, int, float, bool and None only: load_checkpoint
    reads with weights_only=True, which refuses anything else.
    """
    with atomic_open(path, "wb") as f:
        torch.save(state, f)


def host_copy(obj):
    """A copy of a checkpoint state that training cannot change under it: tensors copied to host memory,
    dicts, lists and tuples rebuilt, other values (immutable scalars and strings) as they are."""
    if torch.is_tensor(obj):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: host_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(host_copy(v) for v in obj)
    return obj


class CheckpointWriter:
    """save(path, state) writes a checkpoint; with `background`, the write runs on a thread.

    On a GPU a checkpoint's serialisation and fsync (about 0.1-0.2 s for ResNet18 at width 64) is host
    time the GPU would sit idle through at every epoch's end; in the background only the copy of the
    state to host memory (host_copy) is paid in line. At most one write is in flight: the next save, and
    wait(), first finish the last one, so the file on disk is at most one checkpoint behind and an
    interrupted run still loses at most one epoch. A failed write is raised by the next save or wait.
    The thread is not a daemon: an interrupted process finishes its write before it exits.
    """

    def __init__(self, background=False):
        self.background, self.thread, self.error = background, None, None

    def save(self, path, state):
        self.wait()
        if self.background:
            self.thread = threading.Thread(target=self._write, args=(path, host_copy(state)), name="checkpoint")
            self.thread.start()
        else:
            self._write(path, state)
            self.wait()

    def wait(self):
        """Block until the write in flight is on disk; raise what made it fail (UserError for a disk error)."""
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.error is not None:
            (path, exc), self.error = self.error, None
            if isinstance(exc, OSError):
                raise UserError(f"could not write checkpoint {path} ({type(exc).__name__}: {exc}); free disk "
                                f"space or give another --out_dir, then rerun with --resume to continue from the "
                                f"last checkpoint written (or with --overwrite if there is none)") from None
            raise exc

    def _write(self, path, state):
        try:
            save_checkpoint(path, state)
        except Exception as exc:  # kept for wait(): a thread's exception would otherwise be lost
            self.error = (path, exc)


def load_checkpoint(path):
    """The state dict saved by save_checkpoint; UserError for a missing, corrupt or foreign file.

    weights_only=True: the unpickler builds only tensors and plain containers, so a file carrying
    any other object (code included) is refused without running it.
    """
    if not os.path.exists(path):
        raise UserError(
            f"--resume found no checkpoint at {path}; start the run without --resume (or check --exp_name/--out_dir)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip, EOF and weights-only refusals all mean the same thing here
        raise UserError(
            f"checkpoint {path} is corrupt or truncated, or not a checkpoint of this project ({type(exc).__name__}; "
            f"nothing in it was run); delete it, or start over with --overwrite"
        ) from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise UserError(f"checkpoint {path} is not a training checkpoint of this project; start over with --overwrite")
    return state


def config_differences(saved, current):
    """Keys whose values differ between two config dicts, ignoring keys that do not change the computation."""
    keys = sorted((set(saved) | set(current)) - set(RESUME_FREE_KEYS))
    return [k for k in keys if saved.get(k) != current.get(k)]


def check_same_config(saved, cfg, run_dir):
    """UserError naming every changed key unless cfg (a TrainConfig) may resume a run recorded with `saved` (a
    config dict from config.json or a checkpoint)."""
    before = saved_config(saved)  # a field added since: as the run behaved without it
    diff = config_differences(before, dataclasses.asdict(cfg))
    if diff:
        pairs = ", ".join(f"{k}: {before.get(k)!r} -> {getattr(cfg, k, None)!r}" for k in diff)
        raise UserError(f"checkpoint in {run_dir} was made with a different config ({pairs}); "
                        "resume with the same flags, or start over with --overwrite")
