"""Run records as tables: one experiment's arms side by side, and every run against the published results."""
import dataclasses
import math
import os
import re
from dataclasses import dataclass

import pandas as pd

from ..training.config import TrainConfig, check_name, make_config, parse_duration, resolve_config, saved_config
from ..errors import UserError
from ..records import atomic_open, read_json, read_jsonl, write_text

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
RESULT_FILES = ("results.md", "results.csv", "results.png")
RESULTS_TITLE = "# Results: progressive vs baseline ResNet18"  # a line of results.md's head
RESULTS_CSV_COLUMNS = {"dataset", "acc_change_pp", "time_saved_pct"}  # in results.csv's header
FRONTIER_FILE = "frontier.png"  # written beside RESULT_FILES when a frontier run is found
FRONTIER_KIND = "frontier"  # the "kind" of a bench/frontier.py results.json
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
    from ..training.rundir import check_run_dir

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


def format_seconds(seconds):
    """7h10m / 12m30s / 4.2s; empty for a missing value."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    if seconds >= 3600:
        h, m = divmod(round(seconds / 60), 60)
        return f"{h}h{m:02d}m"
    if seconds >= 60:
        m, s = divmod(round(seconds), 60)
        return f"{m}m{s:02d}s"
    return f"{seconds:.1f}s"


# (column in the markdown table, column of results_table, formatter)
_MD_COLUMNS = [
    ("dataset", "dataset", str),
    ("paper acc base / prog (%)", ("published_baseline_acc", "published_progressive_acc"), "{:.1f}"),
    ("paper time base / prog", ("published_baseline_time_s", "published_progressive_time_s"), format_seconds),
    ("paper time saved", "published_time_saved_pct", "{:.1f}%"),
    ("our acc base / prog / short (%)", ("baseline_acc", "progressive_acc", "short_acc"), "{:.1f}"),
    ("our acc change (pp)", "acc_change_pp", "{:+.1f}"),
    ("prog vs short (pp)", "prog_vs_short_pp", "{:+.1f}"),
    ("our time base / prog / short", ("baseline_time_s", "progressive_time_s", "short_time_s"), format_seconds),
    ("our time saved", "time_saved_pct", "{:.1f}%"),
    ("epochs", "epochs", "{:.0f}"),
    ("width", "width", "{:.0f}"),
    ("hardware", "hardware", str),
]


def _cell(value, fmt):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return fmt(value) if callable(fmt) else fmt.format(value)


def markdown_table(table):
    """results_table -> a GitHub markdown table (published and our numbers side by side)."""
    head = [c for c, _, _ in _MD_COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for _, row in table.iterrows():
        cells = []
        for _, src, fmt in _MD_COLUMNS:
            if isinstance(src, tuple):
                cells.append(" / ".join(_cell(row.get(s), fmt) for s in src))
            else:
                cells.append(_cell(row.get(src), fmt))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def save_table(table, path, index=True):
    """Write a DataFrame as CSV atomically (a half-written table never takes the name); -> path."""
    with atomic_open(path) as f:
        table.to_csv(f, index=index)
    return path


def is_results_file(path):
    """True when path is a results.md, results.csv or results.png as write_results writes them (by content)."""
    from .plots import is_own_figure

    name = os.path.basename(path)
    if name.endswith(".png"):
        return is_own_figure(path)
    try:
        with open(path, encoding="utf-8") as f:
            head = [f.readline().rstrip("\n") for _ in range(4)]
    except (OSError, UnicodeDecodeError):  # a folder, unreadable, or not text
        return False
    if name.endswith(".md"):
        return RESULTS_TITLE in head
    return name.endswith(".csv") and RESULTS_CSV_COLUMNS <= set(head[0].split(","))


def stale_results(out_dir):
    """Paths of the RESULT_FILES (and FRONTIER_FILE) already in out_dir, each checked to be one write_results wrote.

    Any other file (or folder) at those names is a UserError naming it, so nothing of the user's is replaced.
    """
    names = RESULT_FILES + (FRONTIER_FILE,)
    paths = [os.path.join(out_dir, n) for n in names if os.path.lexists(os.path.join(out_dir, n))]
    foreign = [p for p in paths if not is_results_file(p)]
    if foreign:
        raise UserError(f"{', '.join(foreign)}: not written by this project's results table (write_results), so "
                        "nothing was deleted or replaced; move it away, or write the results to another folder")
    return paths


def remove_results(out_dir):
    """Delete out_dir's results files (so a failed summary cannot leave an older table looking current)."""
    for path in stale_results(out_dir):
        os.unlink(path)


def write_results(table, out_dir, incomplete="", frontier=None):
    """Write results.md, results.csv and results.png into out_dir, each atomically; -> {name: path}.

    incomplete: comma list of datasets whose notebooks failed or were skipped; results.md then says so on
    its first line, so a partial table never reads as a complete one. frontier: (folder, results) of a
    bench/frontier.py run (find_frontier); its table goes into results.md and its figure into frontier.png.
    Files of the same names that this function did not write are refused (stale_results).
    """
    from .plots import plot_frontier, plot_results, save_figure

    os.makedirs(out_dir, exist_ok=True)
    stale_results(out_dir)
    paths = {name: os.path.join(out_dir, name) for name in RESULT_FILES}
    missing = [d.strip() for d in str(incomplete).split(",") if d.strip()]
    header = RESULTS_TITLE + "\n\n"
    if missing:
        header = f"**INCOMPLETE: no result for {', '.join(missing)} (failed or skipped).**\n\n" + header
    note = ("Accuracy: final test accuracy (%). Time: training wall clock (budget calibration included). "
            "Time saved = 1 - progressive / baseline. Short: the full-size network trained for the budget's "
            "share of the epochs (same budget as the progressive run). Paper: the original work's published "
            "numbers.\n\n")
    text = header + note + markdown_table(table)
    frontier_png = os.path.join(out_dir, FRONTIER_FILE)
    if frontier:
        folder, results = frontier
        text += (f"\n## Accuracy against training time\n\nFrom `{folder}` (bench/frontier.py): "
                 f"{results['header']}\n\n{results['table_md']}\n\n"
                 f"![accuracy against training time]({FRONTIER_FILE})\n")
        paths[FRONTIER_FILE] = save_figure(plot_frontier(results["stats"], title=results["title"]), frontier_png)
    elif os.path.exists(frontier_png):  # checked by stale_results above to be one this function wrote
        os.remove(frontier_png)  # an older run's figure must not pass for this table's
    write_text(paths["results.md"], text)
    save_table(table, paths["results.csv"], index=False)
    save_figure(plot_results(table), paths["results.png"])
    return paths


def find_frontier(root):
    """(folder, results) of the most recently written bench/frontier.py results.json under root, or None."""
    found = []
    for folder, _, files in os.walk(root):
        if "results.json" in files:
            path = os.path.join(folder, "results.json")
            try:
                results = read_json(path)
            except (OSError, ValueError):
                continue
            if isinstance(results, dict) and results.get("kind") == FRONTIER_KIND:
                found.append((os.path.getmtime(path), folder, results))
    return max(found, key=lambda f: f[0])[1:] if found else None


def build_results(runs_dir, out_dir, incomplete="", frontier_dir=""):
    """The summary notebook in one call: every finished run under runs_dir -> table, files in out_dir.

    The newest bench/frontier.py run under frontier_dir (default: runs_dir) adds its table and figure.
    """
    table = results_table(find_runs(runs_dir))
    return table, write_results(table, out_dir, incomplete, find_frontier(frontier_dir or runs_dir))
