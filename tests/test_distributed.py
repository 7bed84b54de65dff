"""Two processes with the gloo backend on the CPU, launched by torchrun, train one progressive run."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_two_process_run_keeps_ranks_identical_and_writes_one_folder(cifar_root, tmp_path):
    out, reports = tmp_path / "runs", tmp_path / "reports"
    reports.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           os.path.join(REPO, "tests", "ddp_worker.py"), cifar_root, str(out), str(reports)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.load(open(reports / f"rank{r}.json")) for r in (0, 1)]
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
