"""What a run leaves behind: atomic JSON files, an append-only metrics log, and the environment."""
import json
import os
import platform
import subprocess
import sys
import tempfile


def write_json(path, obj):
    """Write JSON atomically (temp file in the same folder, then rename): never a half-written file."""
    _write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def _write_atomic(path, text):
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp_", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_json(path):
    with open(path) as f:
        return json.load(f)


def append_jsonl(path, row):
    """Append one line with a single write + fsync, so a crash leaves whole lines only."""
    line = json.dumps(row, sort_keys=True, default=str) + "\n"
    with open(path, "a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def rewrite_jsonl(path, rows):
    """Replace a JSON-lines file atomically (used on resume to drop epochs after the checkpoint)."""
    _write_atomic(path, "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in rows))


def read_jsonl(path):
    """Rows of a JSON-lines file; a torn last line (crash mid-write) is ignored."""
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return rows


def git_commit(folder="."):
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def env_info(device):
    """Versions and hardware a result depends on."""
    import torch
    import torchvision

    info = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "device_name": platform.processor() or platform.machine(),
        "git_commit": git_commit(os.path.dirname(os.path.abspath(__file__))),
    }
    if str(device).startswith("cuda"):
        info["device_name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cuda_device_count"] = torch.cuda.device_count()
    return info
