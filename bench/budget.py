"""Baseline vs progressive-at-a-budget vs the equal-time short baseline, same data and seeds, one table.

    python bench/budget.py --data_root ../shared/data                     # CPU-sized defaults (~12 min)
    python bench/budget.py --data_root data --dataset cifar100 --seeds 0,1,2 --num_epochs 30

Each arm is a normal training run (lib.train) written under --out_dir; the table and a JSON file
with every run's summary are written there too. Times are training time only (evaluation excluded;
the progressive arm's throughput calibration included).
"""
import argparse
import contextlib
import dataclasses
import json
import math
import os
import shlex
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.training.checkpoint import config_differences  # noqa: E402
from lib.training.config import (STAGE_BATCH_LR_RULES, STAGE_BATCH_MODES, TrainConfig, check_name,  # noqa: E402
                                 make_config, resolve_config, saved_config)
from lib.errors import UserError  # noqa: E402
from lib.training.loop import train  # noqa: E402
from lib.training.rundir import other_data  # noqa: E402
from lib.records import read_json, read_jsonl, write_text  # noqa: E402
from lib.data.datasets import DATASETS  # noqa: E402
from lib.training.rundir import ENV_NAME, METRICS_NAME  # noqa: E402
from lib.reporting.report import hardware  # noqa: E402
from lib.training.stability import instability_warning  # noqa: E402

ARMS = ("no", "yes", "short")
# the progressive arm's; None = the library's default
RECIPE_FLAGS = ("reg_start", "early_cap", "stage_patience", "growth_shrink", "stage_batch", "stage_batch_lr")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out_dir", default="outputs/bench/budget", help="folder of this benchmark's runs and tables")
    p.add_argument("--tag", default="", help="sub-folder name; empty: derived from the settings")
    p.add_argument("--budget", type=float, default=0.5, help="fraction of the baseline's training time")
    p.add_argument("--arms", default=",".join(ARMS), help="which of no,yes,short to run")
    add_run_arguments(p, val_help="class-balanced training images held out as a validation split (0 = none)")
    p.add_argument("--reuse_from", default="",
                   help="reuse finished runs from another bench/budget.py folder instead of training them again: "
                        "the baselines (no_s<seed>), and the short arms when their budget is the same (others are "
                        "trained); settings are checked")
    return p.parse_args(argv)


def add_run_arguments(p, val_help):
    """The settings every arm shares (data, model, optimizer, seeds) and the progressive arm's recipe."""
    add_shared_arguments(p, val_help)
    p.add_argument("--schedule", default="", help="progressive arm's schedule; empty: the library's default")
    p.add_argument("--grow", default="both", help="progressive arm's growth: both, width or resolution")
    p.add_argument("--init", default="", help="progressive arm's inheritance rule; empty: the library's default")
    p.add_argument("--reg_start", type=float, default=None,
                   help="progressive arm's first-stage regularisation fraction; None: the library's default")
    p.add_argument("--early_cap", type=float, default=None,
                   help="progressive arm's cap on its early stages' time, as a fraction of the baseline's (above it "
                        "every further second goes to full size); None: the library's default")
    p.add_argument("--stage_patience", type=int, default=None,
                   help="progressive arm's epochs an early stage may go without a 1 per cent lower loss at the next "
                        "resolution before it ends early; None: the library's default")
    p.add_argument("--growth_shrink", type=float, default=None,
                   help="progressive arm's share of each weight kept at a growth, the rest a fresh initialisation's "
                        "(shrink and perturb); None: the library's default")
    p.add_argument("--stage_batch", default=None, choices=STAGE_BATCH_MODES,
                   help="progressive arm's batch per stage; None: the library's default")
    p.add_argument("--stage_batch_lr", default=None, choices=STAGE_BATCH_LR_RULES,
                   help="progressive arm's LR rule for a stage stepping on several batches; None: the library's "
                        "default")


def add_shared_arguments(p, val_help):
    """The settings every arm shares: data, model, optimizer, seeds, device (bench/ablations.py takes these too)."""
    p.add_argument("--dataset", default="cifar10", help="cifar10, cifar100, fashionmnist or tinyimagenet")
    p.add_argument("--data_root", default="data", help="folder holding the dataset's own folder")
    p.add_argument("--seeds", default="0", help="comma list")
    p.add_argument("--num_epochs", type=int, default=20, help="epochs of the full-size baseline")
    p.add_argument("--width", type=int, default=16, help="channels of the first stage at full size")
    p.add_argument("--batch_size", type=int, default=128, help="images per step")
    p.add_argument("--lr", type=float, default=0.2, help="peak learning rate at this batch size")
    p.add_argument("--warmup_epochs", type=float, default=TrainConfig.warmup_epochs,
                   help="epochs of linear LR warm-up; a small training set at a large batch takes few steps per "
                        "epoch and may need more")
    p.add_argument("--train_subset", type=int, default=10000,
                   help="class-balanced training images (0 = all); the default suits a CPU")
    p.add_argument("--test_subset", type=int, default=0, help="class-balanced test images (0 = all)")
    p.add_argument("--val_split", type=int, default=0, help=val_help)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--compile", action="store_true", help="torch.compile each stage's model (no CUDA graph capture)")
    p.add_argument("--zero_init_residual", action="store_true",
                   help="every arm's residual blocks start with their last BN scale at 0 (steadier first steps)")
    p.add_argument("--calibration_steps", type=int, default=TrainConfig.calibration_steps,
                   help="timed steps per stage when the progressive arm plans its budget")
    p.add_argument("--eval_every", type=int, default=TrainConfig.eval_every,
                   help="epochs between test/validation evaluations (always at a run's end; the tables use only the "
                        "end's): on a CPU evaluation can take as long as a low-resolution epoch's training")


def command_line(script, argv=None):
    """'python bench/SCRIPT ARGS' as a shell reads it back (an empty or spaced argument quoted): the command a
    table's header gives to regenerate it. argv None: this process's own arguments."""
    return "python " + shlex.join([f"bench/{script}", *(sys.argv[1:] if argv is None else argv)])


def parse_seeds(text):
    """'0,1,2' -> [0, 1, 2] (duplicates dropped, order kept); UserError naming the fix for anything else."""
    try:
        seeds = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds:
        raise UserError(f"--seeds {text!r}: give whole numbers separated by commas, e.g. --seeds 0,1,2")
    return list(dict.fromkeys(seeds))


def remove_empty_folders(root):
    """Remove root and the folders under it that hold no file (bottom-up); a file keeps its folders."""
    for folder, _, _ in os.walk(root, topdown=False):
        try:
            os.rmdir(folder)
        except OSError:  # holds something
            pass


@contextlib.contextmanager
def result_folder(path):
    """Make the benchmark's tag folder `path`; when this call made it and then fails (an error, Ctrl-C), the
    folders it left without a file are removed again: an empty folder is no result."""
    made = not os.path.exists(path)
    os.makedirs(path, exist_ok=True)
    try:
        yield path
    except BaseException:
        if made:
            remove_empty_folders(path)
        raise


def settings_suffix(args):
    """The part of a tag folder's name that --val_split and --zero_init_residual add."""
    return (f"_v{args.val_split}" if args.val_split else "") + ("_zi" if args.zero_init_residual else "")


def start_note(args):
    """', zero-init residual' for a table header when the arms started steady, else ''."""
    return ", zero-init residual" if args.zero_init_residual else ""


def mean_std(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return float("nan"), float("nan")
    return statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def mean_pm(values, fmt="{:.2f}"):
    """'mean ± std' of the values measured (None or NaN: not measured), the mean alone for one, '–' for none;
    the std never carries the sign a signed fmt gives the mean."""
    measured = [v for v in values if v is not None and v == v]
    if not measured:
        return "–"
    mean, std = mean_std(measured)
    return fmt.format(mean) + (f" ± {fmt.format(std).lstrip('+')}" if len(measured) > 1 else "")


def matched_time(budget, baseline_s):
    """A progressive arm's flags for budget x a measured baseline's seconds as --time_budget, instead of --budget
    (a fraction of the run's own estimate of the baseline's time), so no estimate can give it more or less time."""
    return dict(budget=None, time_budget=f"{budget * baseline_s:.2f}s")


BASELINE_SPEED_TOLERANCE = 0.2  # an arm whose machine ran this much faster or slower than at its baseline is named


def baseline_speed_warning(label, summary, budget, baseline_s, tolerance=BASELINE_SPEED_TOLERANCE):
    """A warning when the arm `label` trained while the machine ran at another speed than when its seed's
    baseline (baseline_s seconds) trained: another day of a shared machine, other work beside it, a baseline
    reused from elsewhere. Its time ratio, and under matched time its seconds, are then off by as much.

    A progressive arm (one with a budget plan) is judged by its estimate of the baseline's seconds (the one its
    full-size stage's speed gave, --budget_base trained, else its calibration's), any other arm by its seconds
    over its budget (short trains the budget's share of the epochs).
    -> the one-line warning, or None when within `tolerance` either way or nothing can be judged.
    """
    plan = summary.get("plan") or {}
    if summary.get("rebase"):
        predicted = summary["rebase"]["baseline_s"]
        what = f"its full-size stage's speed put the baseline at {predicted:.1f} s"
    elif plan.get("baseline_predicted_s"):
        predicted = plan["baseline_predicted_s"]
        what = f"its calibration put the baseline at {predicted:.1f} s"
    elif budget and not plan:
        predicted = summary["train_time_s"] / budget
        what = f"it trained {summary['train_time_s']:.1f} s for {budget:g} of the baseline's epochs"
    else:
        return None
    if not baseline_s or abs(math.log(predicted / baseline_s)) <= math.log(1 + tolerance):
        return None
    return (f"{label}: {what}, {predicted / baseline_s:.2f}x the {baseline_s:.1f} s its baseline took: the machine "
            "ran at another speed than when the baseline trained, so this arm's time ratio (and, with matched "
            "time, its seconds) is off by as much; train the baseline again beside it for a fair comparison")


def baseline_speed_warnings(arms):
    """baseline_speed_warning of each (label, summary, budget, baseline_s) in arms -> the warnings there are."""
    return [w for w in (baseline_speed_warning(*arm) for arm in arms) if w]


def unstable_start_warnings(runs):
    """lib's instability_warning of each (label, run folder, summary) in runs, from the folder's metrics.jsonl
    (so runs recorded before summaries carried it are judged too) -> the warnings there are. An arm whose
    training loss rose above a uniform guess's lost part of its run to a spike, which blurs any comparison."""
    out = []
    for label, folder, summary in runs:
        path = os.path.join(folder, METRICS_NAME)
        if not os.path.exists(path):
            continue
        classes = summary.get("num_classes") or DATASETS[summary["dataset"]].num_classes
        warning = instability_warning(read_jsonl(path), classes)
        out += [f"{label}: {warning}"] if warning else []
    return out


def machines_of(runs):
    """The machines (report.hardware of each env.json: the device, its model, its threads) that runs trained on
    -> {machine: [labels]}, in the order first seen. runs: (label, run folder) pairs; a folder without env.json
    is left out."""
    by_machine = {}
    for label, folder in runs:
        path = os.path.join(folder, ENV_NAME)
        if os.path.exists(path):
            by_machine.setdefault(hardware(read_json(path)), []).append(label)
    return by_machine


def mixed_machine_warnings(runs):
    """A warning when the runs of one table trained on more than one machine (machines_of). Seconds compare only
    on one machine, and a run's time ratio holds only against a baseline timed on its own: on two 2-core CPUs
    of one architecture a full-size step ran at 320-420 and 570-610 images/s. runs: (label, run folder) pairs.
    -> [the warning, naming the runs off the most common machine], or [] when there is one machine."""
    by_machine = machines_of(runs)
    if len(by_machine) < 2:
        return []
    common, *others = sorted(by_machine, key=lambda m: -len(by_machine[m]))
    named = "; ".join(f"{m}: {', '.join(by_machine[m])}" for m in others)
    return [f"these runs trained on {len(by_machine)} machines ({len(by_machine[common])} on {common}; {named}): "
            "seconds and equal time compare only on one machine, so train the arms compared on one machine, "
            "each progressive arm planning from that machine's own timing of the baseline"]


def report_warnings(warnings):
    """Print each warning on stderr; -> the same as paragraphs to put under a table ('' for none)."""
    print("".join(f"warning: {w}\n" for w in warnings), end="", file=sys.stderr)
    return "".join(f"\nwarning: {w}\n" for w in warnings)


def arm_settings(args, arm, seed, folder, baseline_s=None):
    """lib.train keywords of one arm and seed, trained into folder/<arm>_s<seed>. baseline_s: the seed's measured
    baseline seconds, whose budget share the progressive arm then gets as its time (matched_time)."""
    kw = dict(dataset=args.dataset, data_root=args.data_root, out_dir=folder, exp_name=f"{arm}_s{seed}", algo=arm,
              num_epochs=args.num_epochs, width=args.width, batch_size=args.batch_size, lr=args.lr,
              warmup_epochs=args.warmup_epochs, seed=seed,
              device=args.device, train_subset=args.train_subset, test_subset=args.test_subset,
              val_split=args.val_split, compile=args.compile, zero_init_residual=args.zero_init_residual,
              calibration_steps=args.calibration_steps, eval_every=args.eval_every, quiet=True, overwrite=True)
    if arm != "no":
        kw["budget"] = args.budget
    if arm == "yes":
        kw.update(matched_time(args.budget, baseline_s) if baseline_s is not None else {})
        kw.update(schedule=args.schedule, grow=args.grow, **({"init": args.init} if args.init else {}),
                  **{k: getattr(args, k) for k in RECIPE_FLAGS if getattr(args, k) is not None})
    return kw


def check_settings(settings):
    """Check every run's lib.train keywords (an iterable of dicts) before any of them trains: a bad value (a budget
    out of range, a schedule that cannot be read, an unknown --algo) is refused at once, not after the baselines
    have trained for minutes. UserError naming the value and the fix; nothing is made on disk."""
    for kw in settings:
        resolve_config(make_config(**kw))


def run_arm(args, arm, seed, folder, baseline_s=None):
    """Train one arm (or, with --reuse_from, reuse a matching finished baseline or short run);
    -> (its summary, its run folder)."""
    kw = arm_settings(args, arm, seed, folder, baseline_s)
    if args.reuse_from and arm != "yes":
        summary = reuse_run(args.reuse_from, kw)
        if summary is not None:
            return summary, reused_path(args.reuse_from, kw)
    return train(**kw), os.path.join(folder, kw["exp_name"])


def finished_run(kw):
    """Summary of the finished run in out_dir/exp_name when it was trained with kw's settings; None when there
    is none; UserError when it was trained with others."""
    run = os.path.join(kw["out_dir"], kw["exp_name"])
    if not os.path.exists(os.path.join(run, "summary.json")):
        return None
    saved = saved_config(read_json(os.path.join(run, "config.json")))
    cfg = make_config(**kw)
    current = dataclasses.asdict(resolve_config(cfg))  # config.json holds resolved values
    differ = [k for k in config_differences(saved, current) if k not in ("out_dir", "exp_name")]
    if differ:
        pairs = ", ".join(f"{k}={saved.get(k)!r}, here {current.get(k)!r}" for k in differ)
        raise UserError(f"{run} holds a finished run with other settings ({pairs}); give another --tag or "
                        f"--out_dir, or delete {run} to train it again")
    summary = read_json(os.path.join(run, "summary.json"))
    why = other_data(cfg, summary)
    if why:
        raise UserError(f"{run} holds a finished run with these settings, but {why}; give another --tag or "
                        f"--out_dir, or delete {run} to train it again")
    return summary


# settings that must match for a finished run to stand in for a new one; the progressive arm is always trained
SAME_RUN = ("dataset", "num_epochs", "width", "batch_size", "lr", "warmup_epochs", "seed", "train_subset", "test_subset",
            "val_split", "algo", "zero_init_residual")


def reused_path(folder, kw):
    """The run folder in --reuse_from's `folder` that stands in for the arm with keywords kw."""
    return os.path.join(folder, kw["exp_name"])


def reuse_run(folder, kw):
    """The summary of the finished run folder/<exp_name> trained with kw's settings.

    None for a short arm trained at another budget (train it anew); UserError for a missing run or
    any other difference.
    """
    run = reused_path(folder, kw)
    try:
        summary = read_json(os.path.join(run, "summary.json"))
        config = read_json(os.path.join(run, "config.json"))
    except (OSError, ValueError):
        raise UserError(f"--reuse_from: no finished run in {run} (summary.json and config.json); "
                        f"run without --reuse_from to train it") from None
    config = saved_config(config)  # a key added since: as the run behaved without it
    differ = [k for k in SAME_RUN if config.get(k) != kw[k]]
    if differ:
        raise UserError(f"--reuse_from: {run} was trained with different settings "
                        f"({', '.join(f'{k}={config.get(k)!r}, here {kw[k]!r}' for k in differ)}); "
                        f"run without --reuse_from to train a matching one")
    if kw["algo"] == "short" and config.get("budget") != kw["budget"]:
        return None
    why = other_data(make_config(**kw), summary)
    if why:
        raise UserError(f"--reuse_from: {run} has the same settings, but {why}; run without --reuse_from to "
                        "train it on this data")
    return summary


def table(results, budget):
    """Rows of per-arm mean/std; ratios and savings are taken per seed against that seed's baseline."""
    base = {s["seed"]: s for s in results.get("no", [])}
    lines = ["| arm | seeds | train time (s) | ratio to baseline | test acc % | vs baseline (pt) | "
             "predicted saving | measured saving |", "|---|---|---|---|---|---|---|---|"]
    out = {}
    for arm, runs in results.items():
        t = mean_std([r["train_time_s"] for r in runs])
        acc = mean_std([r["test_acc"] for r in runs])
        ratio = mean_std([r["train_time_s"] / base[r["seed"]]["train_time_s"] for r in runs if r["seed"] in base])
        diff = mean_std([r["test_acc"] - base[r["seed"]]["test_acc"] for r in runs if r["seed"] in base])
        predicted = 0.0 if arm == "no" else 1 - budget
        measured = 1 - ratio[0]
        out[arm] = dict(train_time_s=t, test_acc=acc, ratio=ratio, acc_diff=diff, predicted_saving=predicted,
                        measured_saving=measured, seeds=[r["seed"] for r in runs])
        lines.append(f"| {arm} | {len(runs)} | {t[0]:.1f} ± {t[1]:.1f} | {ratio[0]:.3f} ± {ratio[1]:.3f} | "
                     f"{acc[0]:.2f} ± {acc[1]:.2f} | {diff[0]:+.2f} ± {diff[1]:.2f} | {100 * predicted:.0f}% | "
                     f"{100 * measured:.1f}% |")
    return "\n".join(lines), out


def folder_name(args):
    """--tag, or a name made from the settings; UserError unless it is a plain name (one folder in --out_dir)."""
    if args.tag:
        return check_name(args.tag, "--tag")
    return (f"{check_name(args.dataset, '--dataset')}_w{args.width}_e{args.num_epochs}_b{args.budget:g}"
            + settings_suffix(args))


def main(argv=None):
    args = parse_args(argv)
    arms = [a for a in args.arms.split(",") if a]
    results = {a: [] for a in arms}
    paths = {}  # (arm, seed) -> run folder, for the warnings read from its metrics
    try:
        seeds = parse_seeds(args.seeds)
        folder = os.path.join(args.out_dir, folder_name(args))
        check_settings(arm_settings(args, arm, seed, folder) for seed in seeds for arm in arms)
        with result_folder(folder):
            for seed in seeds:
                for arm in arms:
                    s, paths[arm, seed] = run_arm(args, arm, seed, folder)
                    results[arm].append(s)
                    print(f"seed {seed} arm {arm:>5}: {s['test_acc']:.2f}% in {s['train_time_s']:.1f} s "
                          f"({s['epochs_equivalent']:.2f} epochs of images)", flush=True)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text, stats = table(results, args.budget)
    header = (f"{args.dataset}, width {args.width}, {args.num_epochs} baseline epochs, budget {args.budget:g}, "
              f"train_subset {args.train_subset or 'all'}, seeds {args.seeds}, command: "
              + command_line("budget.py", argv))
    base = {s["seed"]: s["train_time_s"] for s in results.get("no", [])}
    warnings = baseline_speed_warnings((f"seed {s['seed']} arm {arm}", s, args.budget, base.get(s["seed"]))
                                       for arm in arms if arm != "no" for s in results[arm])
    warnings += unstable_start_warnings((f"seed {s['seed']} arm {arm}", paths[arm, s["seed"]], s)
                                        for arm in arms for s in results[arm])
    warnings += mixed_machine_warnings((f"seed {s['seed']} arm {arm}", paths[arm, s["seed"]])
                                       for arm in arms for s in results[arm])
    print(header)
    print(text)
    write_text(os.path.join(folder, "table.md"), header + "\n\n" + text + "\n" + report_warnings(warnings))
    write_text(os.path.join(folder, "results.json"),
               json.dumps(dict(args=vars(args), stats=stats, warnings=warnings, runs=results), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
