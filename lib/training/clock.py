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

    A budget may move while the run trains (retarget): progress then goes on from where it is at
    that moment, (anchor_s, anchor_p), and reaches 1 at the new budget_s, so the learning rate
    never jumps.
    """

    def __init__(self, spent_s, total_steps, budget_s, info, device, anchor=(0.0, 0.0)):
        self.spent_s, self.total_steps, self.budget_s = spent_s, total_steps, budget_s
        self.info, self.device = info, device
        self.anchor = tuple(anchor)
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
        return dist.broadcast_value(time_progress(self.seconds(), self.budget_s, self.anchor), self.info, self.device)

    def retarget(self, budget_s):
        """End the run at budget_s seconds instead, progress going on from its value now."""
        now = self.seconds()
        self.anchor = (now, time_progress(now, self.budget_s, self.anchor))
        self.budget_s = budget_s


def time_progress(seconds, budget_s, anchor=(0.0, 0.0)):
    """A budget run's progress after `seconds` of training: linear from anchor (seconds, progress) to 1 at
    budget_s; >= 1 once budget_s is spent (at once when it is no later than the anchor)."""
    anchor_s, anchor_p = anchor
    if budget_s <= anchor_s:
        return max(1.0, anchor_p)
    return anchor_p + (1.0 - anchor_p) * (seconds - anchor_s) / (budget_s - anchor_s)
