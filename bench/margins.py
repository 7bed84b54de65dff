"""Progressive minus short (and minus the baseline), seed by seed, gathered from several result folders.

    python bench/margins.py FOLDER [FOLDER ...] [--recipe NAME] [--metric test|val] [--out FILE]

FOLDER: a bench/frontier.py folder (its progressive arm) or a bench/ablations.py folder (its --recipe, default
"default"; both need results.json). Each progressive run is paired with the short run and the baseline of the same
seed (and budget) in the same folder, so seeds trained by different commands, on different days, can be put
together. A folder without that seed's baseline borrows it from another folder that trained the same data with the
same settings (the baseline does not depend on the budget, so one baseline serves every budget; a folder of
baselines alone, from bench/ablations.py --recipes "", lends them); the table names each borrowed one. Prints,
per budget, every seed's margin in points and their mean ± std; --out writes the same text. A seed and budget
found in two folders is an error naming both: a mean must count each run once.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]  # the repo (lib) and bench/ (budget.py), however this file is loaded

from lib.errors import UserError  # noqa: E402
from lib.records import read_json, write_text  # noqa: E402
from lib.reporting.results_files import FRONTIER_KIND  # noqa: E402
from budget import command_line, mean_pm  # noqa: E402  (bench/budget.py, beside this script)

METRICS = {"test": "test_acc", "val": "val_acc"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("folders", nargs="+", metavar="FOLDER", help="bench/frontier.py or bench/ablations.py folders")
    p.add_argument("--recipe", default="default", help="the progressive recipe of bench/ablations.py folders")
    p.add_argument("--metric", default="test", choices=sorted(METRICS), help="which accuracy to compare")
    p.add_argument("--out", default="", help="also write the table to this file")
    return p.parse_args(argv)


# the settings of a results.json's "args" that a baseline's training depends on (the budget and recipe do not)
BASELINE_SETTINGS = ("dataset", "num_epochs", "width", "batch_size", "lr", "warmup_epochs", "train_subset",
                     "test_subset", "val_split", "zero_init_residual")


def folder_runs(folder, recipe="default"):
    """({setting: value} of BASELINE_SETTINGS, [(method, budget, seed, summary)]) of one result folder; method is
    progressive, short or baseline. UserError naming the fix when the folder holds no results.json, or
    (ablations) not the recipe asked for."""
    path = os.path.join(folder, "results.json")
    if not os.path.isfile(path):
        raise UserError(f"{folder}: no results.json; give folders that bench/frontier.py or bench/ablations.py "
                        "wrote (run the command again to finish one that was interrupted)")
    try:
        results = read_json(path)
    except (OSError, ValueError) as exc:  # ValueError: not JSON (a file cut short, another format)
        raise UserError(f"{path}: not readable as JSON ({exc}); run the command that wrote it again") from exc
    results = results if isinstance(results, dict) else {}
    args = results.get("args") or {}
    settings = {k: args.get(k) for k in BASELINE_SETTINGS}
    if results.get("kind") == FRONTIER_KIND:
        return settings, [(r["method"], float(r["budget"]), int(r["seed"]), r["summary"]) for r in results["runs"]]
    runs, budget = results.get("runs"), args.get("budget")
    if not isinstance(runs, dict) or budget is None:
        raise UserError(f"{path}: neither a bench/frontier.py nor a bench/ablations.py results.json")
    if recipe not in runs and set(runs) != {"baseline"}:  # a folder of baselines alone lends them (gather)
        raise UserError(f"{folder}: no runs of recipe {recipe!r} (it has {', '.join(sorted(runs))}); "
                        "name the progressive one with --recipe")
    method = {recipe: "progressive", "short": "short", "baseline": "baseline"}
    return settings, [(method[name], 1.0 if name == "baseline" else float(budget), int(seed), summary)
                      for name, by_seed in runs.items() if name in method for seed, summary in by_seed.items()]


def borrowed_baseline(seed, summary, settings, folder, baselines):
    """(summary, folder) of the one baseline in baselines ({folder: (settings, {seed: summary})}) that trained
    the same data (its data digest, where recorded) with the same settings as a progressive run of seed in
    folder, which has none; None when there is none. Two such baselines in different folders are a UserError:
    which one to compare with would be a choice the table could not show."""
    found = [(s[seed], other) for other, (theirs, s) in baselines.items()
             if other != folder and seed in s and theirs == settings
             and s[seed].get("data_sha1") == summary.get("data_sha1")]
    if len(found) > 1:
        raise UserError(f"seed {seed} of {folder} has no baseline of its own, and {found[0][1]} and {found[1][1]} "
                        "both hold one trained the same way; give only one of them")
    return found[0] if found else None


def gather(folders, recipe="default"):
    """({budget: {seed: {"progressive"|"short"|"baseline": summary}}}, {(budget, seed): folder of a borrowed
    baseline}) over the folders, each progressive run with the short run and baseline of its own folder, or a
    baseline borrowed from another (borrowed_baseline); a progressive seed and budget in two folders is a
    UserError."""
    read = {folder: folder_runs(folder, recipe) for folder in folders}
    baselines = {folder: (settings, {seed: s for method, _, seed, s in runs if method == "baseline"})
                 for folder, (settings, runs) in read.items()}
    out, where, borrowed = {}, {}, {}
    for folder, (settings, runs) in read.items():
        here = {}
        for method, budget, seed, summary in runs:
            if method != "baseline":
                here.setdefault((budget, seed), {})[method] = summary
        for (budget, seed), arms in here.items():
            if "progressive" not in arms:
                continue
            if (budget, seed) in where:
                raise UserError(f"budget {budget:g} seed {seed}: progressive runs in both {where[budget, seed]} "
                                f"and {folder}; give each seed and budget once")
            where[budget, seed] = folder
            own = baselines[folder][1]
            if seed in own:
                arms["baseline"] = own[seed]
            elif (found := borrowed_baseline(seed, arms["progressive"], settings, folder, baselines)) is not None:
                arms["baseline"], borrowed[budget, seed] = found
            out.setdefault(budget, {})[seed] = arms
    return out, borrowed


def _accuracy(summary, metric):
    if summary.get(metric) is None:
        raise UserError(f"run {summary.get('exp_name', '?')} has no {metric} (trained without --val_split?); "
                        "compare with --metric test")
    return summary[metric]


def margins(gathered, metric="test_acc"):
    """[(budget, [(seed, progressive - short or None, progressive - baseline or None)])] of gather()'s runs
    (each seed there has a progressive run), budgets and seeds in order."""
    rows = []
    for budget in sorted(gathered):
        seeds = []
        for seed, arms in sorted(gathered[budget].items()):
            acc = _accuracy(arms["progressive"], metric)
            seeds.append((seed, *(acc - _accuracy(arms[other], metric) if other in arms else None
                                  for other in ("short", "baseline"))))
        rows.append((budget, seeds))
    return rows


def margins_table(rows):
    """Markdown: per budget, each seed's margin against short and the baseline, and their means."""
    lines = ["| budget | seeds | each seed vs short (pt) | vs short, mean ± std | each seed vs baseline (pt) | "
             "vs baseline, mean ± std |", "|" + "---|" * 6]
    for budget, seeds in rows:
        each = [", ".join(f"s{seed} {d:+.2f}" for seed, *ds in seeds if (d := ds[k]) is not None) or "–"
                for k in (0, 1)]
        lines.append(f"| {budget:g} | {len(seeds)} | {each[0]} | {mean_pm((s[1] for s in seeds), '{:+.2f}')} | {each[1]} | "
                     f"{mean_pm((s[2] for s in seeds), '{:+.2f}')} |")
    return "\n".join(lines)


def borrowed_lines(borrowed):
    """Markdown lines naming each baseline a seed borrowed from another folder, and at which budgets."""
    by_source = {}
    for (budget, seed), folder in sorted(borrowed.items()):
        by_source.setdefault((seed, folder), []).append(f"{budget:g}")
    return [f"- seed {seed}: the baseline of {folder} (budget {', '.join(budgets)}; its own folder has none)"
            for (seed, folder), budgets in sorted(by_source.items())]


def main(argv=None):
    args = parse_args(argv)
    try:
        gathered, borrowed = gather(args.folders, args.recipe)
        rows = margins(gathered, METRICS[args.metric])
        if not rows:
            raise UserError(f"no progressive runs in {', '.join(args.folders)}")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    command = command_line("margins.py", argv)
    pairing = ("each seed paired within its folder" if not borrowed else
               "each seed paired within its folder, a baseline borrowed where the folder has none (listed below)")
    text = (f"Progressive ({args.recipe} in ablation folders) minus short and minus the baseline, {args.metric} "
            f"accuracy, {pairing}; command: {command}\n\n{margins_table(rows)}\n")
    if borrowed:
        text += "\nBaselines borrowed (same data and settings, trained by another command):\n" + \
            "\n".join(borrowed_lines(borrowed)) + "\n"
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
