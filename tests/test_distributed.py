"""Two processes with the gloo backend on the CPU: widening runs under torchrun, one plan, rank 0 first."""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _two_ranks(cifar_root, tmp_path, mode):
    out, reports = tmp_path / "runs", tmp_path / "reports"
    reports.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           os.path.join(REPO, "tests", "ddp_worker.py"), cifar_root, str(out), str(reports), mode]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, [json.load(open(reports / f"rank{r}.json")) for r in (0, 1)]


def test_two_process_run_keeps_ranks_identical_and_writes_one_folder(cifar_root, tmp_path):
    out, ranks = _two_ranks(cifar_root, tmp_path, "epochs")
    assert [g["width"] for g in ranks[0]["growth"]] == [8, 8]  # 4 -> 8 channels, then 24 -> 32 px; re-wrapped
    assert ranks[0]["world_size"] == 2
    assert ranks[0]["weights_sha1"] == ranks[1]["weights_sha1"]  # growth and training identical on every rank
    assert ranks[0]["test_acc"] == ranks[1]["test_acc"]
    assert os.listdir(out) == ["ddp"]
    files = set(os.listdir(out / "ddp"))
    assert {"summary.json", "metrics.jsonl", "checkpoint.pt", "config.json", "env.json"} <= files
    assert not any(f.startswith(".tmp") for f in files)
    rows = [json.loads(line) for line in open(out / "ddp" / "metrics.jsonl")]
    assert [r["epoch"] for r in rows] == [1, 2, 3]  # written once, by rank 0
    summary = json.load(open(out / "ddp" / "summary.json"))
    assert summary["world_size"] == 2 and summary["final_width"] == 8


def test_two_process_widening_budget_run_follows_one_plan(cifar_root, tmp_path):
    """Every rank calibrates, but all follow rank 0's plan and clock: same stage switches, same weights."""
    out, ranks = _two_ranks(cifar_root, tmp_path, "budget")
    assert ranks[0]["plan"] == ranks[1]["plan"]
    assert ranks[0]["growth"] and [g["step"] for g in ranks[0]["growth"]] == [g["step"] for g in ranks[1]["growth"]]
    assert ranks[0]["growth"][0]["stage"] == 1 and ranks[0]["growth"][0]["width"] == 8  # widened from 4
    assert ranks[0]["weights_sha1"] == ranks[1]["weights_sha1"]
    # --budget_base trained: each rank times its own full-size stage, and all end where rank 0's estimate says
    assert ranks[0]["rebase"] and ranks[0]["rebase"]["budget_s"] == ranks[1]["rebase"]["budget_s"]
    assert os.listdir(out) == ["ddp_budget"]


def test_two_process_run_with_filled_low_resolution_steps_keeps_ranks_identical(cifar_root, tmp_path):
    """--stage_batch pixels under torchrun: each rank joins its own shards of the grouped batches."""
    out, ranks = _two_ranks(cifar_root, tmp_path, "pixels")
    assert ranks[0]["weights_sha1"] == ranks[1]["weights_sha1"]
    first = ranks[0]["stages"][0]  # 16 px of 32: steps of 4 batches of 40 (2 steps of an epoch's 10 batches)
    assert first["resolution"] == 16 and first["images"] > 0 and first["images"] % 160 == 0
    rows = [json.loads(line) for line in open(out / "ddp_pixels" / "metrics.jsonl")]
    assert [r["epoch"] for r in rows] == [1, 2, 3]


def _main_first_worker(rank, port, folder, fail):
    import torch.distributed as tdist

    from lib.training import distributed as dist
    from lib.errors import UserError

    tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    info = dist.DistInfo(rank=rank, world_size=2)
    order = os.path.join(folder, "order.txt")

    def fetch():  # stands in for a download: rank 0 writes, the others must find it written
        if fail and rank == 0:
            raise UserError("could not download cifar10; check the network")
        if rank == 0:
            with open(order, "a") as f:
                f.write("downloaded\n")
        with open(order) as f:
            return f.read()

    try:
        result = dist.main_first(fetch, info)
    except UserError as exc:
        result = f"error: {exc}"
    with open(os.path.join(folder, f"rank{rank}.txt"), "w") as f:
        f.write(result)
    tdist.destroy_process_group()


@pytest.mark.parametrize("fail", [False, True])
def test_main_first_runs_rank0_first_and_shares_its_error(tmp_path, fail):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_main_first_worker, args=(port, str(tmp_path), fail), nprocs=2, join=True)
    got = [open(tmp_path / f"rank{r}.txt").read() for r in (0, 1)]
    if fail:
        assert got == ["error: could not download cifar10; check the network"] * 2  # no rank waits forever
    else:
        assert got == ["downloaded\n"] * 2  # rank 1 read what rank 0 had finished writing
