"""What a run leaves behind: atomic files (JSON, text, any writer), an append-only metrics log, the environment."""
import contextlib
import json
import os
import platform
import secrets
import subprocess
import sys

CPUINFO = "/proc/cpuinfo"  # Linux names the CPU model here
TEMP_PREFIX = ".tmp_"  # atomic_open's temp files: TEMP_PREFIX + random hex + "_" + the final name, beside it


@contextlib.contextmanager
def atomic_open(path, mode="w"):
    """Yield a new file beside `path` to write; it takes path's name only when the block ends without error.

    The final name never holds a half-written file: the temp file is fsynced, then renamed over it.
    On error the temp file is removed and whatever was at `path` is left as it was. mode: "w" or "wb".
    """
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f"{TEMP_PREFIX}{secrets.token_hex(4)}_{os.path.basename(path)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # O_EXCL: never an existing file; umask applies
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # our own temp file (created above with O_EXCL)
        raise


def write_text(path, text):
    """Write a text file atomically (see atomic_open)."""
    with atomic_open(path) as f:
        f.write(text)


def write_json(path, obj):
    """Write JSON atomically (see atomic_open): never a half-written file."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


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
    write_text(path, "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in rows))


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


def cpu_name(cpuinfo=CPUINFO):
    """The CPU's model, e.g. 'AMD EPYC 7B13', from Linux's /proc/cpuinfo; elsewhere, or when it names none, the
    architecture ('x86_64'). Two CPUs of one architecture can train at very different speeds, so a run's
    seconds are only comparable with runs on the same model."""
    with contextlib.suppress(OSError):
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    return platform.processor() or platform.machine()


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
        "device_name": cpu_name(),
        "git_commit": git_commit(os.path.dirname(os.path.abspath(__file__))),
    }
    if str(device).startswith("cuda"):
        info["device_name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cuda_device_count"] = torch.cuda.device_count()
    return info
