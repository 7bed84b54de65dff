"""Accuracy against training time: the baseline, and the progressive recipe and the short control at several budgets.

    python bench/frontier.py --data_root ../shared/data --seeds 0,1,2                  # CPU-sized defaults
    python bench/frontier.py --data_root data --device cuda --width 64 --num_epochs 100 --train_subset 0 \\
        --batch_size 512 --lr 0.4 --seeds 0,1,2

Trains the full-size baseline once per seed and, per budget and seed, the default progressive recipe (--algo yes
with the library's defaults, unless --schedule, --grow, --init, --reg_start, --early_cap, --stage_patience,
--growth_shrink, --stage_batch or --stage_batch_lr are given) and the equal-time short baseline (--algo short: full size, budget x
the epochs, the learning rate decayed to zero at the budget). Runs go to
<out_dir>/<tag>/no_s<seed> and <out_dir>/<tag>/b<budget>/{yes,short}_s<seed>; a finished run there with the
same settings is reused, so running the command again only trains what is missing. With --match_time each
progressive arm gets budget x its seed's measured baseline seconds as --time_budget instead of --budget, so a
noisy estimate of the baseline's time cannot favour or handicap it against short. Writes table.md,
results.json (every run's summary and the statistics) and frontier.png into <out_dir>/<tag>. Times are training
time only (evaluation excluded; the progressive arm's throughput calibration included).
"""
import argparse
import json
import math
import os
import sys
import time

import matplotlib.pyplot as plt

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]  # the repo (lib) and bench/ (budget.py), however this file is loaded

from lib.training.config import check_name  # noqa: E402
from lib.errors import UserError  # noqa: E402
from lib.reporting.plots import plot_frontier, save_figure  # noqa: E402
from lib.records import write_text  # noqa: E402
from lib.reporting.results_files import FRONTIER_KIND  # noqa: E402
from budget import add_run_arguments, arm_settings, check_settings, command_line, finished_run, machines_of, mean_std, mixed_machine_warnings, parse_seeds, report_warnings, result_folder, reuse_run, run_arm, settings_suffix, start_note, baseline_speed_warnings, unstable_start_warnings  # noqa: E402  (bench/budget.py, beside this script)

METHODS = {"no": "baseline", "yes": "progressive", "short": "short"}  # algo -> method name in tables and figures
DEFAULT_BUDGETS = "0.3,0.45,0.6"  # fractions of the baseline's training time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out_dir", default="outputs/bench/frontier", help="folder of this benchmark's runs and tables")
    p.add_argument("--tag", default="", help="sub-folder name; empty: derived from the settings and the device")
    p.add_argument("--budgets", default=DEFAULT_BUDGETS, help="comma list of fractions of the baseline's time, in (0, 1)")
    add_run_arguments(p, val_help="class-balanced training images held out as a validation split, reported beside "
                                  "test (0 = none: the frontier reports a chosen recipe on test, trained on all the data)")
    p.add_argument("--match_time", action="store_true",
                   help="give each progressive arm --time_budget = budget x its seed's measured baseline time, so "
                        "the run's own estimate of the baseline (noisy on a busy CPU) cannot give it more or less "
                        "time than short; off: --budget, as a user would give it")
    p.add_argument("--reuse_from", default="",
                   help="bench/budget.py or bench/frontier.py folders (comma list, first match wins) whose finished "
                        "baselines and short runs (same settings, same budget; checked) stand in for new ones; the "
                        "progressive arm is trained")
    return p.parse_args(argv)


def parse_budgets(text):
    """'0.3,0.45,0.6' -> [0.3, 0.45, 0.6] (sorted, duplicates dropped); UserError unless each is in (0, 1)."""
    try:
        budgets = [float(b) for b in str(text).split(",") if b.strip()]
    except ValueError:
        budgets = None
    bad = [b for b in budgets or [] if not 0 < b < 1]
    if not budgets or bad:
        raise UserError(f"--budgets {text!r}: give fractions of the baseline's training time in (0, 1), separated "
                        f"by commas, e.g. --budgets {DEFAULT_BUDGETS}")
    return sorted(set(budgets))


def default_tag(args):
    """Folder name from the settings that make runs incomparable, including the kind of device they time."""
    import torch

    device = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    return (f"{check_name(args.dataset, '--dataset')}_w{args.width}_e{args.num_epochs}" + (f"_n{args.train_subset}" if args.train_subset else "")
            + settings_suffix(args) + ("_mt" if args.match_time else "") + f"_{device}")


def reuse_folders(reuse_from, arm, seed, budget):
    """The folders of --reuse_from (a comma list), in order, holding a finished run of (arm, seed) that may stand
    in for this one: a frontier's b<budget> sub-folder before a budget table's own folder."""
    if not reuse_from or arm == "yes":
        return []
    here = []
    for folder in check_reuse_from(reuse_from):
        here += [folder] if arm == "no" else [os.path.join(folder, f"b{budget:g}"), folder]
    return [f for f in here if os.path.exists(os.path.join(f, f"{arm}_s{seed}", "summary.json"))]


def point_args(args, budget):
    """The arguments of the frontier's runs at one budget (reuse is the frontier's own, run_point's)."""
    return argparse.Namespace(**{**vars(args), "budget": budget, "reuse_from": ""})


def point_folder(root, arm, budget):
    """The folder holding the run folder of one arm at one budget (the baseline's: root itself)."""
    return root if arm == "no" else os.path.join(root, f"b{budget:g}")


def check_reuse_from(text):
    """The folders of --reuse_from (a comma list); UserError naming any that does not exist (a mistyped one would
    otherwise be skipped in silence and everything trained anew)."""
    folders = [f.strip() for f in text.split(",") if f.strip()]
    missing = [f for f in folders if not os.path.isdir(f)]
    if missing:
        raise UserError(f"--reuse_from: no folder {', '.join(missing)}; give bench/frontier.py or bench/budget.py "
                        "result folders, or leave --reuse_from out to train every run")
    return folders


def run_point(args, arm, seed, budget, root, baseline_s=None):
    """One run of the frontier, reused when a finished one with the same settings exists; -> its record.
    baseline_s: the seed's measured baseline seconds, which a progressive arm gets budget x of with --match_time."""
    folder, point = point_folder(root, arm, budget), point_args(args, budget)
    matched = baseline_s if args.match_time else None  # arm_settings applies it to the progressive arm only
    kw = arm_settings(point, arm, seed, folder, matched)
    path, summary = os.path.join(folder, kw["exp_name"]), finished_run(kw)
    for source in reuse_folders(args.reuse_from, arm, seed, budget) if summary is None else []:
        summary = reuse_run(source, kw)  # None: a short run of another budget, try the next folder
        if summary is not None:
            path = os.path.join(source, kw["exp_name"])
            break
    if summary is None:
        summary, path = run_arm(point, arm, seed, folder, matched)
    return dict(method=METHODS[arm], algo=arm, budget=1.0 if arm == "no" else budget, seed=seed, path=path,
                summary=summary)


def _clean(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def frontier_stats(records):
    """Mean and std over seeds per method and budget -> flat rows (baseline first, then by budget).

    ratio and vs_baseline are taken per seed against that seed's baseline, vs_short against the short run
    of the same seed and budget. A value that cannot be computed is None.
    """
    base = {r["seed"]: r["summary"] for r in records if r["method"] == "baseline"}
    short = {(r["seed"], r["budget"]): r["summary"] for r in records if r["method"] == "short"}
    groups = {}
    for r in records:
        groups.setdefault((r["method"], r["budget"]), []).append(r)
    order = sorted(groups, key=lambda k: (k[0] != "baseline", k[1], k[0]))
    rows = []
    for method, budget in order:
        runs = groups[(method, budget)]
        per_seed = [(r["seed"], r["summary"]) for r in runs]
        stats = dict(
            train_time_s=mean_std([s["train_time_s"] for _, s in per_seed]),
            ratio=mean_std([s["train_time_s"] / base[k]["train_time_s"] for k, s in per_seed if k in base]),
            test_acc=mean_std([s["test_acc"] for _, s in per_seed]),
            val_acc=mean_std([s.get("val_acc") for _, s in per_seed]),
            vs_baseline=mean_std([s["test_acc"] - base[k]["test_acc"] for k, s in per_seed if k in base]),
            vs_short=mean_std([s["test_acc"] - short[(k, budget)]["test_acc"] for k, s in per_seed
                               if method == "progressive" and (k, budget) in short]),
            epochs_equivalent=mean_std([s["epochs_equivalent"] for _, s in per_seed]))
        row = dict(method=method, budget=budget, seeds=len(runs), seed_list=[k for k, _ in per_seed])
        for name, (mean, std) in stats.items():
            row[name], row[f"{name}_std"] = _clean(mean), _clean(std)
        rows.append(row)
    return rows


def speed_drift(records):
    """bench/budget.py's baseline_speed_warnings for every arm of the frontier against its seed's baseline (the
    machine ran at another speed than when that baseline trained)."""
    base = {r["seed"]: r["summary"]["train_time_s"] for r in records if r["method"] == "baseline"}
    return baseline_speed_warnings((f"seed {r['seed']} {r['method']} budget {r['budget']:g}", r["summary"],
                                    r["budget"], base.get(r["seed"])) for r in records if r["method"] != "baseline")


def _pm(row, name, fmt="{:.2f}", sign=False):
    """'mean ± std' over seeds; the mean alone for one seed (no spread to show); '–' for nothing."""
    if row[name] is None:
        return "–"
    text = ("{:+.2f}" if sign else fmt).format(row[name])
    return text if row["seeds"] < 2 else f"{text} ± {fmt.format(row[name + '_std'] or 0.0)}"


def frontier_table(rows, with_val=False):
    """Markdown table of frontier_stats rows (val accuracy as a column when with_val)."""
    head = ["method", "budget", "seeds", "train time (s)", "time ratio", "test acc %", "vs baseline (pt)",
            "vs short (pt)"] + (["val acc %"] if with_val else []) + ["epochs of images"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["method"], "1 (full)" if r["method"] == "baseline" else f"{r['budget']:g}", str(r["seeds"]),
                 _pm(r, "train_time_s", "{:.1f}"), _pm(r, "ratio", "{:.3f}"), _pm(r, "test_acc"),
                 _pm(r, "vs_baseline", sign=True), _pm(r, "vs_short", sign=True)]
        cells += [_pm(r, "val_acc")] if with_val else []
        cells += ["–" if r["epochs_equivalent"] is None else f"{r['epochs_equivalent']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def device_of(records):
    """The machines the runs trained on (env.json), e.g. 'NVIDIA H100 80GB HBM3' or 'CPU AMD EPYC, 2 threads';
    several joined by ' and ', the first one's first (mixed_machine_warnings then says which run ran where)."""
    machines = machines_of(("", r["path"]) for r in records)
    if not machines:
        return str(records[0]["summary"].get("device", "")) if records else ""
    return " and ".join(machines)


def main(argv=None):
    args = parse_args(argv)
    try:
        seeds, budgets = parse_seeds(args.seeds), parse_budgets(args.budgets)
        root = os.path.join(args.out_dir, check_name(args.tag, "--tag") if args.tag else default_tag(args))
        check_reuse_from(args.reuse_from)
        points = [("no", None)] + [(a, b) for b in budgets for a in ("yes", "short")]
        check_settings(arm_settings(point_args(args, budget), arm, seed, point_folder(root, arm, budget))
                       for seed in seeds for arm, budget in points)
        records = []
        with result_folder(root):
            for seed in seeds:
                baseline_s = None
                for arm, budget in points:
                    r = run_point(args, arm, seed, budget, root, baseline_s)
                    baseline_s = r["summary"]["train_time_s"] if arm == "no" else baseline_s
                    records.append(r)
                    s = r["summary"]
                    print(f"seed {seed} {r['method']:>11} budget {r['budget']:<4g}: {s['test_acc']:.2f}% in "
                          f"{s['train_time_s']:.1f} s ({s['epochs_equivalent']:.2f} epochs of images)", flush=True)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = frontier_stats(records)
    table = frontier_table(rows, with_val=bool(args.val_split))
    device = device_of(records)
    title = (f"{args.dataset}, ResNet18 width {args.width}, baseline {args.num_epochs} epochs, "
             f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}: {device}")
    header = (f"{args.dataset}, width {args.width}, {args.num_epochs} baseline epochs, budgets "
              f"{','.join(f'{b:g}' for b in budgets)}, train_subset {args.train_subset or 'all'}, val_split "
              f"{args.val_split or 'none'}, batch {args.batch_size}, lr {args.lr:g}, warm-up {args.warmup_epochs:g} "
              f"epochs{start_note(args)}, seeds {args.seeds}, "
              f"device {device}; progressive arms get "
              + ("budget x the same seed's measured baseline time (--match_time)" if args.match_time else
                 "--budget (a fraction of the baseline's time as the run estimates it, --budget_base)")
              + "; command: " + command_line("frontier.py", argv))
    warnings = speed_drift(records) + unstable_start_warnings(
        (f"seed {r['seed']} {r['method']} budget {r['budget']:g}", r["path"], r["summary"]) for r in records)
    warnings += mixed_machine_warnings((f"seed {r['seed']} {r['method']} budget {r['budget']:g}", r["path"])
                                       for r in records)
    print(header + "\n\n" + table)
    write_text(os.path.join(root, "table.md"), header + "\n\n" + table + "\n" + report_warnings(warnings))
    write_text(os.path.join(root, "results.json"),
               json.dumps(dict(kind=FRONTIER_KIND, title=title, header=header, table_md=table, device=device,
                               written_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               args=vars(args), stats=rows, warnings=warnings, runs=records), indent=2, default=str))
    fig = plot_frontier(rows, title=title)
    save_figure(fig, os.path.join(root, "frontier.png"))
    plt.close(fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
