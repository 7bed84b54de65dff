"""Out of GPU memory anywhere in a run is one line naming what was running and a smaller batch."""
import pytest
import torch

import lib.training.loop as loop_module
from lib.errors import UserError
from lib.training.loop import train


def _oom(*args, **kwargs):
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


@pytest.mark.parametrize("target, doing", [("evaluate_splits", "evaluating"), ("widen", "growing to width 8"),
                                           ("recalibrate_bn", "re-estimating BN statistics at 32 px")])
def test_out_of_memory_outside_the_step_is_one_clear_line(tiny_run, monkeypatch, target, doing):
    monkeypatch.setattr(loop_module, target, _oom)
    with pytest.raises(UserError, match=rf"out of memory at --batch_size 40 while {doing}; try --batch_size 20"):
        train(**dict(tiny_run, width=8), exp_name=f"oom_{target}", algo="yes", bn_recal=1,
              schedule="0.5/0.5:0.34,1/1:0.66")


def test_out_of_memory_while_calibrating_a_budget(tiny_run, monkeypatch):
    monkeypatch.setattr(loop_module, "calibrate_budget", _oom)
    with pytest.raises(UserError, match="out of memory at --batch_size 40 while calibrating the budget"):
        train(**tiny_run, exp_name="oom_calib", algo="yes", budget=0.5)
