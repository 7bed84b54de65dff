"""The whole split held on the device as uint8, served in seeded, per-process batches of indices."""
import math

import torch


def epoch_seed(seed, epoch, stream=0):
    """Seed for one epoch's data order (stream 0) or augmentation (stream 1 + rank): a pure function."""
    return (seed * 1_000_003 + epoch * 7919 + stream * 104_729) % (2**63 - 1)


class DeviceLoader:
    """Holds x (uint8 [N, C, H, W]) and y (int64 [N]) on `device`; yields (x_uint8, y) batches.

    Training order is a permutation drawn from (seed, epoch) alone, so any epoch can be replayed
    (resume, determinism). With world_size > 1, every global batch of `batch_size` is split into
    equal per-process slices, so each process sees its own shard of every epoch. A stage that steps
    on `group` batches at once gets them as one batch of group * batch_size images, drawn from the
    same order, so a run's position is always a count of `batch_size` batches whatever its stage.
    """

    def __init__(self, x, y, batch_size, device, seed=0, train=True, rank=0, world_size=1):
        self.x = x.to(device, non_blocking=True).contiguous()  # uint8 [N, C, H, W]
        self.y = y.to(device, non_blocking=True)  # int64 [N]
        self.batch_size, self.seed, self.train = batch_size, seed, train
        self.rank, self.world_size = rank, world_size
        self.per_rank = batch_size // world_size if train else batch_size

    def __len__(self):
        n = len(self.y)
        if self.train:
            return n // self.batch_size  # drop the last partial batch: static shapes for compile
        shard = math.ceil(n / self.world_size)
        return math.ceil(shard / self.batch_size)

    def batches(self, epoch=0, start=0, group=1):
        """Yield (x_uint8, y) for this process, skipping the first `start` batches (resume mid-epoch).

        Training batches come `group` at a time as one batch (the epoch's last < group are left out,
        so every batch has one shape); evaluation ignores `group`.
        """
        n = len(self.y)
        if self.train:
            if isinstance(group, bool) or not isinstance(group, int) or group < 1:
                raise ValueError(f"group must be a whole number >= 1, got {group!r}")
            g = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
            order = torch.randperm(n, generator=g).to(self.x.device)  # [N]
            for i in range(start, len(self) - group + 1, group):
                lo = [(i + j) * self.batch_size + self.rank * self.per_rank for j in range(group)]
                idx = torch.cat([order[a:a + self.per_rank] for a in lo])  # [group * per_rank]
                yield self.x[idx], self.y[idx]
        else:
            lo, hi = self.rank * math.ceil(n / self.world_size), (self.rank + 1) * math.ceil(n / self.world_size)
            for i in range(lo + start * self.batch_size, min(hi, n), self.batch_size):
                j = min(i + self.batch_size, hi, n)
                yield self.x[i:j], self.y[i:j]

    def stream(self, epoch, start=0, group=1):
        """(epoch, (i, x_uint8, y)) forever: training batches from batch `start` of `epoch` on, epoch after epoch.

        i counts batches of batch_size, whatever the group: it is where a checkpoint resumes.
        """
        while True:
            for j, (xb, yb) in enumerate(self.batches(epoch, start, group)):
                yield epoch, (start + j * group, xb, yb)
            epoch, start = epoch + 1, 0
