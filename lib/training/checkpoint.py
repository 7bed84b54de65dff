"""Atomic checkpoints of a whole training state, loaded without running code, and the checks made before resuming."""
import os

import torch

from .config import RESUME_FREE_KEYS
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
