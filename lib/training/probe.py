"""The transfer probe: how the network does at the next stage's resolution, and when a stage has stopped paying."""
import torch
from torch import nn

from .bnstats import plain_batches

PROBE_IMAGES = 1024  # training images the probe scores (the same ones every epoch); about 1/3 of one batch's
# forward-backward cost per 1,000 images, counted in the run's time
PROBE_SEED = 7  # which images: a fixed draw, the same for every run of a dataset
MIN_GAIN = 0.01  # a probe loss counts as better only when it is at least 1 % below the stage's best so far


def probe_batches(loader, spec, resolution, fmt):
    """The probe at `resolution`: PROBE_IMAGES fixed, unaugmented training images, as (x [B, C, res, res], labels)."""
    n = max(1, min(PROBE_IMAGES, len(loader.y)) // loader.per_rank)
    return list(plain_batches(loader, spec, resolution, fmt, n, PROBE_SEED))


def probe_loss(model, batches, amp):
    """(mean cross-entropy, accuracy %) of `model` on the probe's (x, labels) batches, BN on each batch's own
    statistics (as the next stage's first steps see it), its running statistics and the weights untouched."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None) for m in bns]
    was_training = model.training
    loss_sum, correct, count = 0.0, 0, 0
    try:
        for m in bns:
            m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch: unchanged
        model.train()
        with torch.no_grad():
            for x, y in batches:
                with amp():
                    out = model(x).float()  # [B, classes]
                loss_sum += nn.functional.cross_entropy(out, y, reduction="sum").double()  # on the device: one sync
                correct += (out.argmax(1) == y).sum()
                count += len(y)
    finally:
        for m, (momentum, tracked) in zip(bns, saved):
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)
        model.train(was_training)
    return float(loss_sum) / count, 100.0 * float(correct) / count


def stage_has_stalled(losses, patience, min_gain=MIN_GAIN):
    """True once the last `patience` probe losses of a stage (one per epoch, oldest first) all failed to beat the
    stage's best before them by min_gain (relative): what the stage still learns no longer carries to the next
    resolution. patience 0 never stalls."""
    if patience < 1 or len(losses) <= patience:
        return False
    best = min(losses[:-patience])
    return all(x > best * (1 - min_gain) for x in losses[-patience:])
