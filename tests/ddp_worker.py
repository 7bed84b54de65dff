"""Launched by torchrun from test_distributed.py: one training run, each rank reports its final weights."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.loop import train  # noqa: E402

if __name__ == "__main__":
    data_root, out_dir, report_dir = sys.argv[1:4]
    summary = train(dataset="cifar10", data_root=data_root, out_dir=out_dir, exp_name="ddp", algo="yes",
                    num_epochs=3, width=8, batch_size=40, device="cpu", quiet=True, seed=3)
    rank = os.environ["RANK"]
    with open(os.path.join(report_dir, f"rank{rank}.json"), "w") as f:
        json.dump({"weights_sha1": summary["weights_sha1"], "world_size": summary["world_size"],
                   "test_acc": summary["test_acc"]}, f)
