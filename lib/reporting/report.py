"""Run records as tables: one experiment's arms side by side, and every run against the published results."""
import dataclasses
import math
import os
import re
from dataclasses import dataclass

import pandas as pd

from ..training.config import TrainConfig, check_name, make_config, parse_duration, resolve_config, saved_config
from ..errors import UserError
from ..records import read_json, read_jsonl

# The original work's ResNet18 results: test accuracy (%) and training time, baseline / progressive.
PUBLISHED = {
    "cifar10": dict(baseline_acc=94.2, progressive_acc=93.5, baseline_time="7h10m", progressive_time="3h30m"),
    "cifar100": dict(baseline_acc=74.4, progressive_acc=73.5, baseline_time="7h9m", progressive_time="3h36m"),
    "fashionmnist": dict(baseline_acc=95.2, progressive_acc=95.2, baseline_time="6h24m", progressive_time="3h20m"),
    "tinyimagenet": dict(baseline_acc=61.9, progressive_acc=61.8, baseline_time="23h40m", progressive_time="10h30m"),
}
# Settings that must agree for a baseline and a progressive run to be compared.
PAIR_KEYS = ("dataset", "num_epochs", "width", "seed", "train_subset", "test_subset", "val_split", "batch_size", "lr")
# ... and, on top of those, for a short run to stand beside a progressive one: the same budget
BUDGET_KEYS = ("budget", "time_budget")
_DEFAULTS = TrainConfig()


@dataclass
class Run:
    path: str
    config: dict  # config.json ({} when absent)
    env: dict  # env.json ({} when absent)
    summary: dict  # summary.json; None while the run is unfinished
    metrics: pd.DataFrame  # metrics.jsonl, one row per finished epoch

    @property
    def name(self):
        return os.path.basename(os.path.normpath(self.path))


# ----------------------------------------------------------------------------- one experiment, two arms

def _slug(value):
    return re.sub(r"[^A-Za-z0-9.]+", "-", str(value)).strip("-")


def experiment_names(dataset, width, num_epochs, seed=0, train_subset=0, test_subset=0, batch_size=_DEFAULTS.batch_size,
                     lr=_DEFAULTS.lr, schedule="", budget=0.0):
    """Run and file names derived from an experiment's parameters.

    The baseline's name carries only the settings all arms share, so progressive variants (other schedules
    or budgets) reuse one baseline; the short arm's name adds only the budget, so other schedules reuse it.
    Each name is a plain folder or file name (UserError otherwise, e.g. for a dataset containing '/').
    -> {tag, baseline, progressive, short, compare, notebook}
    """
    check_name(dataset, "dataset")
    shared = f"w{width}_e{num_epochs}_s{seed}"
    shared += f"_n{train_subset}" if train_subset else ""
    shared += f"_t{test_subset}" if test_subset else ""
    shared += f"_bs{batch_size}" if batch_size != _DEFAULTS.batch_size else ""
    shared += f"_lr{lr:g}" if lr != _DEFAULTS.lr else ""
    tag = shared + (f"_sch{_slug(schedule)}" if schedule else "") + (f"_b{budget:g}" if budget else "")
    short = f"{dataset}_short_{shared}" + (f"_b{budget:g}" if budget else "")
    names = dict(tag=tag, baseline=f"{dataset}_no_{shared}", progressive=f"{dataset}_yes_{tag}", short=short,
                 compare=f"{dataset}_compare_{tag}", notebook=f"{dataset}_{tag}")
    for value in names.values():
        check_name(value, "the name made from the experiment's parameters")
    return names


def experiment_arms(dataset, data_root, download, out_dir, num_epochs, width, schedule, budget, calibration_steps,
                    batch_size, lr, seed, train_subset, test_subset, device, torch_compile, overwrite, quiet):
    """lib.run_arm keywords of an experiment notebook's three arms, from its parameters, every value checked.

    -> {"baseline": ..., "progressive": ..., "short": ...}. A bad value (a budget out of range, a schedule
    that shrinks...) is a UserError here, before anything trains: run_all.py calls this for each notebook
    before running any.
    """
    names = experiment_names(dataset, width, num_epochs, seed, train_subset, test_subset, batch_size, lr, schedule,
                             budget)
    common = dict(dataset=dataset, data_root=data_root, download=download, out_dir=out_dir, num_epochs=num_epochs,
                  width=width, batch_size=batch_size, lr=lr, seed=seed, train_subset=train_subset,
                  test_subset=test_subset, device=device, compile=torch_compile, overwrite=overwrite, quiet=quiet)
    arms = dict(baseline=dict(common, algo="no", exp_name=names["baseline"]),
                progressive=dict(common, algo="yes", schedule=schedule, budget=budget,
                                 calibration_steps=calibration_steps, exp_name=names["progressive"]),
                short=dict(common, algo="short", budget=budget, exp_name=names["short"]))
    for kw in arms.values():
        resolve_config(make_config(**kw))  # resolving parses the schedule
    return arms


def load_run(path):
    """A run folder's records (config, env, summary if finished, metrics) -> Run."""
    if not os.path.isdir(path):
        raise UserError(f"run folder {path} does not exist")

    def optional(name):
        file = os.path.join(path, name)
        return read_json(file) if os.path.exists(file) else None

    metrics = pd.DataFrame(read_jsonl(os.path.join(path, "metrics.jsonl")))
    return Run(path, optional("config.json") or {}, optional("env.json") or {}, optional("summary.json"), metrics)


def run_arm(**kwargs):
    """Train one arm (lib.train keywords) unless its folder already holds the same finished run; -> Run.

    A finished run with the same settings is reused; an unfinished one with the same settings is resumed;
    one with other settings is a UserError (pass overwrite=True to replace it).
    """
    from ..training.checkpoint import config_differences
    from ..training.loop import train
    from ..training.rundir import check_run_dir, other_data

    cfg = resolve_config(make_config(**kwargs))  # compared with config.json, which holds resolved values
    path = os.path.join(cfg.out_dir, cfg.exp_name)
    check_run_dir(path)  # a folder holding anything but a run is neither read nor replaced
    saved = os.path.join(path, "config.json")
    if os.path.exists(saved) and not cfg.overwrite:
        before = saved_config(read_json(saved))  # a field added since: as the run behaved without it
        diff = config_differences(before, dataclasses.asdict(cfg))
        if diff:
            pairs = ", ".join(f"{k}: {before.get(k)!r} -> {getattr(cfg, k, None)!r}" for k in diff)
            raise UserError(f"{path} holds a run with other settings ({pairs}); set overwrite = True to replace it, "
                            "or change out_dir")
        if os.path.exists(os.path.join(path, "summary.json")):
            why = other_data(cfg, read_json(os.path.join(path, "summary.json")))
            if why:
                raise UserError(f"{path} holds a finished run with these settings, but {why}; set overwrite = True "
                                "to train it again on this data, or change out_dir")
            print(f"reusing the finished run in {path} (overwrite = True trains it again)")
            return load_run(path)
        if os.path.exists(os.path.join(path, "checkpoint.pt")):
            print(f"resuming the unfinished run in {path}")
            cfg = dataclasses.replace(cfg, resume=True)
    train(cfg)
    return load_run(path)


def comparison_table(baseline, progressive, short=None):
    """The arms of one experiment side by side: final test and validation accuracy (%), training time (s),
    time saved and accuracy change against the baseline, and accuracy against the short arm (pp)."""
    rows = []
    for arm, run in (("baseline", baseline), ("progressive", progressive), ("short", short)):
        if run is None:
            continue
        s = run.summary
        rows.append(dict(arm=arm, test_acc=s["test_acc"], val_acc=s.get("val_acc"), train_time_s=s["train_time_s"],
                         epochs=s["epochs"], epochs_equivalent=s["epochs_equivalent"],
                         final_size=f"w{s['final_width']}@{s['final_resolution']}px"))
    table = pd.DataFrame(rows).set_index("arm")
    base = table.loc["baseline"]
    table["time_saved_pct"] = 100 * (1 - table["train_time_s"] / base["train_time_s"])
    table["acc_change_pp"] = table["test_acc"] - base["test_acc"]
    if short is not None:
        table["acc_vs_short_pp"] = table["test_acc"] - table.loc["short", "test_acc"]
    return table


# ----------------------------------------------------------------------------- every run vs the published table

def find_runs(root):
    """Every finished run (a folder holding summary.json) under root, sorted by path."""
    found = []
    for folder, _, files in os.walk(root):
        if "summary.json" in files:
            found.append(load_run(folder))
    return sorted(found, key=lambda r: r.path)


def _pair_key(run, keys=PAIR_KEYS):
    merged = {**run.summary, **run.config}
    return tuple(merged.get(k, getattr(_DEFAULTS, k)) for k in keys)


def _latest_by_key(runs, key):
    """{key(run): the most recently written run with that key}."""
    out = {}
    for r in sorted(runs, key=lambda r: os.path.getmtime(r.path)):
        out[key(r)] = r
    return out


def hardware(env):
    """One-line description of the machine a run used, from its env.json."""
    if not env:
        return ""
    device = str(env.get("device", ""))
    if device.startswith("cuda"):
        n = env.get("world_size", 1)
        return f"{n}x {env.get('device_name', 'GPU')}" if n and n > 1 else str(env.get("device_name", "GPU"))
    cores = env.get("torch_threads") or env.get("cpu_count")
    return f"CPU {env.get('device_name') or ''}".strip() + (f", {cores} threads" if cores else "")


def results_table(runs):
    """One row per compared setting, with the published numbers beside ours.

    Every published dataset has at least one row (ours empty when it has no runs). Each progressive run is
    paired with the latest baseline of the same PAIR_KEYS, and the latest short run of the same PAIR_KEYS and
    budget; a baseline without a progressive run still shows. Times in seconds; time_saved_pct =
    100 * (1 - progressive / baseline); acc_change_pp = progressive - baseline; prog_vs_short_pp = progressive
    - short (the same time spent training the full-size network for fewer epochs).
    """
    runs = [r for r in runs if r.summary and r.summary.get("algo") in ("no", "yes", "short")]
    of = lambda algo: [r for r in runs if r.summary["algo"] == algo]  # noqa: E731
    baselines = _latest_by_key(of("no"), _pair_key)
    shorts = _latest_by_key(of("short"), lambda r: _pair_key(r, PAIR_KEYS + BUDGET_KEYS))
    triples = [(baselines.get(_pair_key(r)), r, shorts.get(_pair_key(r, PAIR_KEYS + BUDGET_KEYS)))
               for r in of("yes")]
    used = {id(b) for b, _, _ in triples}
    triples += [(b, None, None) for b in baselines.values() if id(b) not in used]
    datasets = list(PUBLISHED) + sorted({(b or p).summary["dataset"] for b, p, _ in triples} - set(PUBLISHED))
    rows = []
    for name in datasets:
        mine = [t for t in triples if (t[0] or t[1]).summary["dataset"] == name] or [(None, None, None)]
        for b, p, sh in mine:
            rows.append(_result_row(name, b, p, sh))
    return pd.DataFrame(rows)


def _result_row(dataset, baseline, progressive, short=None):
    nan = math.nan
    pub = PUBLISHED.get(dataset)
    row = dict(dataset=dataset)
    if pub:
        pub_b, pub_p = parse_duration(pub["baseline_time"]), parse_duration(pub["progressive_time"])
        row |= dict(published_baseline_acc=pub["baseline_acc"], published_progressive_acc=pub["progressive_acc"],
                    published_acc_change_pp=round(pub["progressive_acc"] - pub["baseline_acc"], 2),
                    published_baseline_time_s=pub_b, published_progressive_time_s=pub_p,
                    published_time_saved_pct=100 * (1 - pub_p / pub_b))
    b = baseline.summary if baseline else {}
    p = progressive.summary if progressive else {}
    sh = short.summary if short else {}
    row |= dict(baseline_acc=b.get("test_acc", nan), progressive_acc=p.get("test_acc", nan),
                short_acc=sh.get("test_acc", nan), baseline_time_s=b.get("train_time_s", nan),
                progressive_time_s=p.get("train_time_s", nan), short_time_s=sh.get("train_time_s", nan))
    row["acc_change_pp"] = row["progressive_acc"] - row["baseline_acc"]
    row["time_saved_pct"] = 100 * (1 - row["progressive_time_s"] / row["baseline_time_s"])
    row["prog_vs_short_pp"] = row["progressive_acc"] - row["short_acc"]
    row["short_acc_change_pp"] = row["short_acc"] - row["baseline_acc"]
    row["short_time_saved_pct"] = 100 * (1 - row["short_time_s"] / row["baseline_time_s"])
    row["epochs"] = (b or p).get("num_epochs", nan)
    row["width"] = (b or p).get("width", nan)
    row["progressive_epochs_equivalent"] = p.get("epochs_equivalent", nan)
    kinds = dict.fromkeys(hardware(r.env) for r in (baseline, progressive, short) if r)
    row["hardware"] = " / ".join(k for k in kinds if k)
    row["baseline_run"] = baseline.path if baseline else ""
    row["progressive_run"] = progressive.path if progressive else ""
    row["short_run"] = short.path if short else ""
    return row
