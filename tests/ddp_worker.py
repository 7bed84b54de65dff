"""Launched by torchrun from test_distributed.py: one widening run, each rank reports its final weights."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.training.loop import train  # noqa: E402

WIDENING = "0.5/0.5:0.34,0.75/0.75:0.33,1/1:0.33"  # width and resolution grow: DDP is re-wrapped twice

if __name__ == "__main__":
    data_root, out_dir, report_dir, mode = sys.argv[1:5]
    kw = dict(dataset="cifar10", data_root=data_root, out_dir=out_dir, exp_name="ddp", algo="yes", width=8,
              batch_size=40, device="cpu", quiet=True, seed=3, schedule=WIDENING)
    if mode == "budget":  # stage switches follow the clock: every rank must follow rank 0's plan and clock
        kw.update(exp_name="ddp_budget", num_epochs=40, budget=0.5, calibration_steps=2)
    elif mode == "pixels":  # the 16 px stage steps on 4 batches: grouped shards, the LR scaled alike on every rank
        kw.update(exp_name="ddp_pixels", num_epochs=3, stage_batch="pixels")
    else:
        kw.update(num_epochs=3)
    summary = train(**kw)
    rank = os.environ["RANK"]
    with open(os.path.join(report_dir, f"rank{rank}.json"), "w") as f:
        json.dump({"weights_sha1": summary["weights_sha1"], "world_size": summary["world_size"],
                   "test_acc": summary["test_acc"], "growth": summary["growth"], "plan": summary["plan"],
                   "stages": summary["stages"], "rebase": summary.get("rebase")}, f)
