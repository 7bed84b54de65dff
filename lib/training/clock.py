"""The run's clock: training seconds spent (evaluation excluded) and progress in [0, 1], one value on every process."""
import time

import torch

from . import distributed as dist


def wait_for(device):
    """Block until the device has finished the work queued so far (a no-op on a CPU, whose ops finish in line)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class TrainClock:
    """Counts training time only while started; turns steps or seconds into the run's progress.

    Progress is steps done / total_steps for epoch runs, and seconds spent / budget_s for budget
    runs. Under torchrun every process uses rank 0's seconds, so all of them switch stages and
    set the learning rate from one clock.
    """

    def __init__(self, spent_s, total_steps, budget_s, info, device):
        self.spent_s, self.total_steps, self.budget_s = spent_s, total_steps, budget_s
        self.info, self.device = info, device
        self.t0 = None

    def start(self):
        self.t0 = time.perf_counter()

    def stop(self):
        """Stop counting (after waiting for the device, so queued work is counted)."""
        wait_for(self.device)
        self.spent_s = self.seconds()
        self.t0 = None

    def seconds(self):
        return self.spent_s + (time.perf_counter() - self.t0 if self.t0 is not None else 0.0)

    def progress(self, step):
        if self.budget_s is None:
            return step / self.total_steps
        return dist.broadcast_value(self.seconds() / self.budget_s, self.info, self.device)
