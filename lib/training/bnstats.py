"""BatchNorm running statistics re-estimated on a few batches (e.g. after the input resolution changes)."""
import torch
from torch import nn

from ..data.augment import augment_batch


def recalibrate_bn(model, batches):
    """Reset every BatchNorm's running mean/var and re-estimate them as a plain average over `batches`.

    batches: an iterable of input tensors [B, C, H, W] already on the model's device and format.
    Runs forward passes in train mode without gradients; weights are untouched. Returns how many
    batches were used (none leaves the statistics as they were).
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    saved = [m.momentum for m in bns]
    was_training = model.training
    used = 0
    with torch.no_grad():
        for x in batches:
            if used == 0:  # reset only once there is data to re-estimate from
                for m in bns:
                    m.reset_running_stats()
                    m.momentum = None  # None = cumulative average: every batch weighs the same
                model.train()
            model(x)
            used += 1
    for m, momentum in zip(bns, saved):
        m.momentum = momentum
    model.train(was_training)
    return used


def plain_batches(loader, spec, resolution, fmt, n, seed):
    """Up to n seeded random training batches, unaugmented, at `resolution`: (x [B, C, res, res], labels [B]) each."""
    order = torch.randperm(len(loader.y), generator=torch.Generator().manual_seed(seed))[:n * loader.per_rank]
    for chunk in order.to(loader.x.device).split(loader.per_rank):
        yield (augment_batch(loader.x[chunk], spec, resolution, None, train=False).contiguous(memory_format=fmt),
               loader.y[chunk])
