"""Atomic checkpoints of a whole training state, and the checks made before resuming from one."""
import os

import torch

from .config import RESUME_FREE_KEYS
from .errors import UserError

CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(path, state):
    """torch.save to a temp file, fsync, then rename: the final name only ever holds a whole file."""
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path):
    if not os.path.exists(path):
        raise UserError(
            f"--resume found no checkpoint at {path}; start the run without --resume (or check --exp_name/--out_dir)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # pickle, zip and EOF errors all mean the same thing here
        raise UserError(
            f"checkpoint {path} is corrupt or truncated ({type(exc).__name__}); delete it, or start over with --overwrite"
        ) from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise UserError(f"checkpoint {path} is not a training checkpoint of this project; start over with --overwrite")
    return state


def config_differences(saved, current):
    """Keys whose values differ between two config dicts, ignoring keys that do not change the computation."""
    keys = sorted((set(saved) | set(current)) - set(RESUME_FREE_KEYS))
    return [k for k in keys if saved.get(k) != current.get(k)]
