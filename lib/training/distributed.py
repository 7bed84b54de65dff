"""torch.distributed plumbing for torchrun: process info, DDP wrapping, and small collectives."""
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ..errors import UserError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def enabled(self):
        return self.world_size > 1


def setup(device_kind):
    """Join the process group torchrun describes in the environment; a single process needs nothing."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        if device_kind == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
    return info


def pick_device(name):
    """--device as a torch device: `auto` is CUDA when a GPU is visible, else the CPU."""
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu (or auto)")
    return torch.device("cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu")


def teardown(info):
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model, info, device, sync_bn=False):
    """The module to train: DDP around `model` (re-done after every growth, since parameters change)."""
    if not info.enabled:
        return model
    ids = [device.index if device.index is not None else info.local_rank] if device.type == "cuda" else None
    if not sync_bn:
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if device.type != "cuda":
        raise UserError("--sync_bn needs CUDA GPUs (PyTorch's SyncBatchNorm has no CPU version); drop --sync_bn")
    model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)


def unsync_batchnorm(model):
    """Undo convert_sync_batchnorm in place, sharing the same parameters and buffers."""
    for name, child in model.named_children():
        if isinstance(child, nn.SyncBatchNorm):
            bn = nn.BatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                child.track_running_stats, device=child.weight.device, dtype=child.weight.dtype)
            bn.weight, bn.bias = child.weight, child.bias
            bn.running_mean, bn.running_var = child.running_mean, child.running_var
            bn.num_batches_tracked = child.num_batches_tracked
            bn.train(child.training)
            setattr(model, name, bn)
        else:
            unsync_batchnorm(child)
    return model


def average_buffers(model, info):
    """Average BN running statistics over processes: every rank then holds the same model."""
    if info.enabled:
        for buf in model.buffers():
            if buf.is_floating_point():
                dist.all_reduce(buf, op=dist.ReduceOp.SUM)
                buf /= info.world_size


def all_reduce_sum(tensor, info):
    if info.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_value(value, info, device):
    """rank 0's float value on every process (keeps time-based schedules in lockstep)."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return float(t.item())


def broadcast_object(obj, info):
    """rank 0's picklable object on every process (one plan for all ranks)."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj, info):
    """[every rank's obj], indexed by rank, on every process."""
    if not info.enabled:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def main_first(fn, info):
    """fn() on rank 0, then on the others (e.g. one process downloads a dataset, the rest read it).

    A UserError on rank 0 is raised on every rank with rank 0's message, so no process waits forever.
    """
    if not info.enabled:
        return fn()
    error, result = None, None
    if info.is_main:
        try:
            result = fn()
        except UserError as exc:
            error = str(exc)
    error = broadcast_object(error, info)
    if error is not None:
        raise UserError(error)
    return result if info.is_main else fn()


def barrier(info):
    if info.enabled:
        dist.barrier()
