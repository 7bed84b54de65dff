"""Recipe ablations at a fixed budget: each recipe is data (a few training flags), run over seeds.

    python bench/ablations.py --data_root ../shared/data --recipes short,default,res3,both3_fresh --seeds 0
    python bench/ablations.py --list

Writes <out_dir>/<tag>/table.md (mean ± std over seeds, with the command) and results.json.
The baseline (full size, all epochs) is run once per seed and every row is compared with it
and with the short baseline (full size, budget x the epochs). Every progressive arm gets the
same wall-clock time, budget x the measured time of the same seed's baseline (--calibrated: the
budget fraction instead, of the run's own estimate of the baseline's time: --budget_base).

Recipes are chosen on validation, not test: every run holds out --val_split class-balanced training
images (seeded; 2,000 of the default 10,000-image subset, so each run trains on 8,000) and the table
compares recipes on their final accuracy there. Test accuracy stays in results.json, to be reported
only for the recipe chosen (bench/frontier.py). --val_split 0 compares on test and says so.
"""
import argparse
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]  # the repo (lib) and bench/ (budget.py), however this file is loaded

from lib.errors import UserError  # noqa: E402
from lib.training.loop import train  # noqa: E402
from lib.records import write_text  # noqa: E402
from budget import add_shared_arguments, check_settings, command_line, finished_run, folder_name, matched_time, mean_std as stats, mixed_machine_warnings, parse_seeds, report_warnings, result_folder, start_note, baseline_speed_warnings, unstable_start_warnings  # noqa: E402  (bench/budget.py, beside this script)

# name -> flags of lib.train on top of the shared settings; "baseline" is implied. Recipes other than "default"
# (the library's defaults, whatever they are) spell out schedule, reg_start and early_cap, so a name keeps its
# meaning when defaults move. How a --budget is accounted (--budget_base) is no recipe's: each takes the library's
# (runs recorded before that flag read calibrated, and are not reused as today's).
RECIPES = {
    "short": dict(algo="short"),
    "default": dict(algo="yes"),
    # schedule shapes (shares are fractions of the epochs; the planner stretches them to the budget)
    "both3": dict(algo="yes", schedule="0.5/0.5:0.3,0.75/0.75:0.3,1/1:0.4", reg_start=1.0, early_cap=0.0),
    "res3": dict(algo="yes", schedule="1/0.5:0.3,1/0.75:0.3,1/1:0.4", reg_start=1.0, early_cap=0.0),
    "width3": dict(algo="yes", schedule="0.5/1:0.3,0.75/1:0.3,1/1:0.4", init="fresh", reg_start=1.0, early_cap=0.0),
    "res2": dict(algo="yes", schedule="1/0.5:0.5,1/1:0.5", reg_start=1.0, early_cap=0.0),
    "res4": dict(algo="yes", schedule="1/0.5:0.25,1/0.625:0.25,1/0.75:0.25,1/1:0.25", reg_start=1.0, early_cap=0.0),
    "res3_late": dict(algo="yes", schedule="1/0.5:0.4,1/0.75:0.3,1/1:0.3", reg_start=1.0, early_cap=0.0),
    "res3_full50": dict(algo="yes", schedule="1/0.5:0.3,1/0.75:0.2,1/1:0.5", reg_start=1.0, early_cap=0.0),
    "mild_width": dict(algo="yes", schedule="0.75/0.5:0.3,1/0.75:0.3,1/1:0.4", init="split", reg_start=1.0, early_cap=0.0),
    "mild_fresh": dict(algo="yes", schedule="0.75/0.5:0.3,1/0.75:0.3,1/1:0.4", init="fresh", reg_start=1.0, early_cap=0.0),
    "res5": dict(algo="yes", schedule="1/0.5:0.2,1/0.625:0.2,1/0.75:0.2,1/0.875:0.2,1/1:0.2", reg_start=1.0, early_cap=0.0),
    # cost-aware shares: about equal seconds per stage where a 16 px step costs ~0.3 of a 32 px one (CPU)
    "res3_low": dict(algo="yes", schedule="1/0.5:0.55,1/0.75:0.25,1/1:0.2", reg_start=1.0, early_cap=0.0),
    # FFCV-style: a long low-resolution start, then a late ramp in small steps to full size
    "ramp5": dict(algo="yes", schedule="1/0.5:0.4,1/0.625:0.12,1/0.75:0.12,1/0.875:0.12,1/1:0.24", reg_start=1.0, early_cap=0.0),
    "res2_late": dict(algo="yes", schedule="1/0.5:0.6,1/1:0.4", reg_start=1.0, early_cap=0.0),
    # EfficientNetV2-style: regularisation (crop padding, label smoothing) grows with resolution from none
    "res3_reg0": dict(algo="yes", schedule="1/0.5:0.3,1/0.75:0.3,1/1:0.4", reg_start=0.0, early_cap=0.0),
    "res3_reg05": dict(algo="yes", schedule="1/0.5:0.3,1/0.75:0.3,1/1:0.4", reg_start=0.5, early_cap=0.0),  # from half strength
    "res3_late_reg0": dict(algo="yes", schedule="1/0.5:0.4,1/0.75:0.3,1/1:0.3", reg_start=0.0, early_cap=0.0),
    "res3_low_reg0": dict(algo="yes", schedule="1/0.5:0.55,1/0.75:0.25,1/1:0.2", reg_start=0.0, early_cap=0.0),
    "res3_low_reg05": dict(algo="yes", schedule="1/0.5:0.55,1/0.75:0.25,1/1:0.2", reg_start=0.5, early_cap=0.0),
    "ramp5_reg0": dict(algo="yes", schedule="1/0.5:0.4,1/0.625:0.12,1/0.75:0.12,1/0.875:0.12,1/1:0.24",
                       reg_start=0.0, early_cap=0.0),
    # a larger batch at low resolution: 16 px steps on 4 batches (a full-size step's pixels), the LR scaled by
    # 4 (linear rule), sqrt(4) or not at all; auto fills a stage only where the calibration measures it faster
    "res3_reg0_pix": dict(algo="yes", schedule="1/0.5:0.3,1/0.75:0.3,1/1:0.4", reg_start=0.0, stage_batch="pixels",
                          stage_batch_lr="linear", early_cap=0.0),
    "res3_reg0_pix_sqrt": dict(algo="yes", schedule="1/0.5:0.3,1/0.75:0.3,1/1:0.4", reg_start=0.0,
                               stage_batch="pixels", stage_batch_lr="sqrt", early_cap=0.0),
    "res3_reg0_pix_none": dict(algo="yes", schedule="1/0.5:0.3,1/0.75:0.3,1/1:0.4", reg_start=0.0,
                               stage_batch="pixels", stage_batch_lr="none", early_cap=0.0),
    "res3_reg0_auto": dict(algo="yes", schedule="1/0.5:0.3,1/0.75:0.3,1/1:0.4", reg_start=0.0, stage_batch="auto",
                           stage_batch_lr="none", early_cap=0.0),
    # a higher starting resolution (20 -> 24 -> 32 px)
    "res3_hi": dict(algo="yes", schedule="1/0.625:0.3,1/0.75:0.3,1/1:0.4", reg_start=1.0, early_cap=0.0),
    # FixRes-style: most of training below the test resolution, a short last stage at it
    "res3_fixres": dict(algo="yes", schedule="1/0.5:0.4,1/0.75:0.45,1/1:0.15", reg_start=1.0, early_cap=0.0),
    # learning rate at growth: a short re-warm-up after each growth (in baseline epochs)
    "res3_rewarm": dict(algo="yes", schedule="1/0.5:0.3,1/0.75:0.3,1/1:0.4", growth_warmup=0.5, reg_start=1.0, early_cap=0.0),
    # ... or a restart at the peak at each growth, each stage decaying to zero (SGDR-style)
    "res3_restart": dict(algo="yes", schedule="1/0.5:0.3,1/0.75:0.3,1/1:0.4", lr_restart=True, reg_start=1.0, early_cap=0.0),
    # BN after a resolution change: running statistics re-estimated on 20 unaugmented batches
    "res3_bnrecal": dict(algo="yes", schedule="1/0.5:0.3,1/0.75:0.3,1/1:0.4", bn_recal=20, reg_start=1.0, early_cap=0.0),
    "both3_fresh_rewarm": dict(algo="yes", schedule="0.5/0.5:0.3,0.75/0.75:0.3,1/1:0.4", init="fresh",
                               growth_warmup=0.5, reg_start=1.0, early_cap=0.0),
    # weight-inheritance rules on the width+resolution schedule
    "both3_split": dict(algo="yes", schedule="0.5/0.5:0.3,0.75/0.75:0.3,1/1:0.4", init="split", reg_start=1.0, early_cap=0.0),
    "both3_net2net": dict(algo="yes", schedule="0.5/0.5:0.3,0.75/0.75:0.3,1/1:0.4", init="net2net", reg_start=1.0, early_cap=0.0),
    "both3_zero": dict(algo="yes", schedule="0.5/0.5:0.3,0.75/0.75:0.3,1/1:0.4", init="zero", reg_start=1.0, early_cap=0.0),
    "both3_fresh": dict(algo="yes", schedule="0.5/0.5:0.3,0.75/0.75:0.3,1/1:0.4", init="fresh", reg_start=1.0, early_cap=0.0),
    "both3_random": dict(algo="yes", schedule="0.5/0.5:0.3,0.75/0.75:0.3,1/1:0.4", init="random", reg_start=1.0, early_cap=0.0),
    # width growth (fresh new units) on top of the regularisation that grows with resolution
    "both3_fresh_reg0": dict(algo="yes", schedule="0.5/0.5:0.3,0.75/0.75:0.3,1/1:0.4", init="fresh", reg_start=0.0, early_cap=0.0),
    "mild_fresh_reg0": dict(algo="yes", schedule="0.75/0.5:0.3,1/0.75:0.3,1/1:0.4", init="fresh", reg_start=0.0, early_cap=0.0),
    # nearer convergence: more of the epochs at full size (60 %), growing regularisation
    "res3_full60_reg0": dict(algo="yes", schedule="1/0.5:0.2,1/0.75:0.2,1/1:0.6", reg_start=0.0, early_cap=0.0),
    # both levers that led the default at 100 CPU epochs: 60 % at full size and regularisation from half strength
    "res3_full60_reg05": dict(algo="yes", schedule="1/0.5:0.2,1/0.75:0.2,1/1:0.6", reg_start=0.5, early_cap=0.0),
    # budget-aware: above 0.45 of the baseline's time the 16 and 24 px stages keep the time they get at 0.45 and
    # every further second goes to full size (at or below 0.45 the same as res3_reg0)
    "res3_cap45_reg0": dict(algo="yes", schedule="1/0.5:0.3,1/0.75:0.3,1/1:0.4", reg_start=0.0, early_cap=0.45),
    # the same with the cap at 0.3: above 0.3 the 16 and 24 px stages keep the time they get at 0.3
    "res3_cap30_reg0": dict(algo="yes", schedule="1/0.5:0.3,1/0.75:0.3,1/1:0.4", reg_start=0.0, early_cap=0.3),
    # width growth with the budget-aware cap: above 0.3 the narrow, small stages keep the time they get at 0.3
    "both3_fresh_cap30_reg0": dict(algo="yes", schedule="0.5/0.5:0.3,0.75/0.75:0.3,1/1:0.4", init="fresh",
                                   reg_start=0.0, early_cap=0.3),
    # stage length from learning progress: an early stage ends once its loss at the next resolution (a probe of
    # fixed training images) has gone 2 epochs without a 1 % gain; its time goes to the later stages
    "res3_pat2_reg0": dict(algo="yes", schedule="1/0.5:0.3,1/0.75:0.3,1/1:0.4", reg_start=0.0, stage_patience=2, early_cap=0.0),
    # the probe's cost alone: scored after every early epoch, with a patience no stage lasts, so none ends early
    "res3_probe_reg0": dict(algo="yes", schedule="1/0.5:0.3,1/0.75:0.3,1/1:0.4", reg_start=0.0, stage_patience=1000, early_cap=0.0),
    # against a warm start's generalisation gap (Ash & Adams 2020): at each growth every weight keeps 80 % of
    # itself and takes 20 % of a fresh initialisation's (shrink and perturb)
    "res3_reg0_sp08": dict(algo="yes", schedule="1/0.5:0.3,1/0.75:0.3,1/1:0.4", reg_start=0.0, growth_shrink=0.8, early_cap=0.0),
    "res3_reg05_sp08": dict(algo="yes", schedule="1/0.5:0.3,1/0.75:0.3,1/1:0.4", reg_start=0.5, growth_shrink=0.8, early_cap=0.0),
}


def same_run_as(name, names, budget):
    """The recipe among `names` whose run `name`'s would be at `budget`, so that it need not train again: one
    whose --early_cap does not bind there (budget <= cap: the schedule's shares hold) is the same recipe without
    the cap. None where it trains a run of its own."""
    flags = RECIPES[name]
    if not flags.get("early_cap") or budget > flags["early_cap"]:
        return None
    uncapped = {k: v for k, v in flags.items() if k != "early_cap"}
    return next((n for n in names if n != name and not RECIPES[n].get("early_cap")
                 and {k: v for k, v in RECIPES[n].items() if k != "early_cap"} == uncapped), None)


def shared_runs(names, budget, by_fraction):
    """recipe -> the listed recipe whose runs are its runs at `budget` (same_run_as), where arms plan from the
    budget fraction (by_fraction: --calibrated or --no_baseline). Given a baseline's measured seconds instead,
    the budget follows the measured baseline and the cap the predicted one, so a cap at the budget may bind:
    nothing is shared then."""
    if not by_fraction:
        return {}
    return {n: other for n in names if (other := same_run_as(n, names, budget))}


def pm(mean_std, fmt="{:.2f}"):
    """'mean ± std' of a (mean, std) pair; '–' where there is nothing to compare with (no baseline, no short)."""
    mean, std = mean_std
    return "–" if math.isnan(mean) else f"{fmt.format(mean)} ± {fmt.format(std).lstrip('+')}"


def timing_note(args, names):
    """How the table's arms were given their time: its header's words for the recipes `names` under `args`."""
    if not names:
        return "the baseline alone (no --recipes), so no budget applies"
    if args.calibrated or args.no_baseline:
        return "progressive arms get --budget (of the baseline's time as the run estimates it)"
    return (f"progressive arms get {args.budget:g} x the measured time of the same seed's baseline as --time_budget; "
            f"short trains {args.budget:g} x the epochs")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--list", action="store_true", help="print the recipes and exit")
    p.add_argument("--recipes", default="short,default", help="comma list of names in RECIPES")
    p.add_argument("--out_dir", default="outputs/ablations", help="folder of the ablation tables and runs")
    p.add_argument("--tag", default="", help="sub-folder name; empty: derived from the settings")
    p.add_argument("--budget", type=float, default=0.5, help="fraction of the baseline's training time")
    add_shared_arguments(p, val_help="class-balanced images of the training subset held out to compare recipes on "
                                     "(2000: a fifth of the default 10,000); 0 = compare on test accuracy (not "
                                     "for choosing a recipe)")
    p.set_defaults(num_epochs=30, val_split=2000)
    p.add_argument("--no_baseline", action="store_true", help="skip the full baseline (no accuracy deltas)")
    p.add_argument("--calibrated", action="store_true",
                   help="give progressive arms --budget (of the run's own estimate of the baseline's time) instead "
                        "of the same wall-clock time as the baseline's share (off: budget x the measured baseline "
                        "time of the same seed, as bench/frontier.py --match_time)")
    p.add_argument("--note", default="", help="a remark printed under the table's header")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        for name, flags in RECIPES.items():
            print(f"{name:>14}: {flags}")
        return 0
    names = [n for n in args.recipes.split(",") if n]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        print(f"error: unknown recipe(s) {', '.join(unknown)}; see --list", file=sys.stderr)
        return 2
    try:
        seeds = parse_seeds(args.seeds)
        folder = os.path.join(args.out_dir, folder_name(args))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    shared = dict(dataset=args.dataset, data_root=args.data_root, out_dir=os.path.join(folder, "runs"),
                  num_epochs=args.num_epochs, width=args.width, batch_size=args.batch_size, lr=args.lr,
                  warmup_epochs=args.warmup_epochs, train_subset=args.train_subset, test_subset=args.test_subset,
                  val_split=args.val_split, device=args.device, compile=args.compile,
                  zero_init_residual=args.zero_init_residual, calibration_steps=args.calibration_steps,
                  eval_every=args.eval_every, quiet=True)
    metric = "val_acc" if args.val_split else "test_acc"  # what recipes are compared on
    runs = {n: {} for n in (["baseline"] if not args.no_baseline else []) + names}

    def flags_of(name):
        return dict(algo="no") if name == "baseline" else dict(RECIPES[name], budget=args.budget)

    same = shared_runs(names, args.budget, args.calibrated or args.no_baseline)
    order = [n for n in runs if n not in same] + list(same)  # those first, so their runs exist when shared

    try:
        check_settings(dict(shared, **flags_of(name), seed=seed, exp_name=f"{name}_s{seed}")
                       for seed in seeds for name in runs)
        with result_folder(folder):
            for seed in seeds:
                for name in order:
                    if name in same:
                        runs[name][seed] = runs[same[name]][seed]
                        print(f"seed {seed} {name:>14}: the run of {same[name]} (its early_cap does not bind at "
                              f"budget {args.budget:g})", flush=True)
                        continue
                    flags = flags_of(name)
                    if flags["algo"] == "yes" and seed in runs.get("baseline", {}) and not args.calibrated:
                        # every arm gets exactly the same seconds, so planner noise cannot favour one recipe
                        flags = dict(flags, **matched_time(args.budget, runs["baseline"][seed]["train_time_s"]))
                    exp = f"{name}_s{seed}"
                    s = finished_run(dict(shared, **flags, seed=seed, exp_name=exp))  # reused: same settings only
                    if s is None:
                        s = train(**shared, **flags, seed=seed, exp_name=exp, overwrite=True)
                    runs[name][seed] = s
                    print(f"seed {seed} {name:>14}: {metric[:-4]} {s[metric]:.2f}% in {s['train_time_s']:.1f} s "
                          f"({s['epochs_equivalent']:.2f} epochs of images)", flush=True)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    base, short = runs.get("baseline", {}), runs.get("short", {})
    lines = [f"| recipe | flags | budget | seeds | {metric[:-4]} acc % (mean ± std) | vs baseline (pt) | "
             "vs short (pt) | train time (s) | time ratio | epochs of images |", "|" + "---|" * 10]
    table = {}
    for name, by_seed in runs.items():
        acc = stats([s[metric] for s in by_seed.values()])
        d_base = stats([s[metric] - base[k][metric] for k, s in by_seed.items() if k in base])
        d_short = stats([s[metric] - short[k][metric] for k, s in by_seed.items() if k in short])
        seconds = stats([s["train_time_s"] for s in by_seed.values()])  # an arm slowed by other work shows here
        ratio = stats([s["train_time_s"] / base[k]["train_time_s"] for k, s in by_seed.items() if k in base])
        epochs = stats([s["epochs_equivalent"] for s in by_seed.values()])
        flags = "algo=no" if name == "baseline" else " ".join(f"{k}={v}" for k, v in RECIPES[name].items())
        table[name] = dict(metric=metric, acc=acc, vs_baseline=d_base, vs_short=d_short, train_time_s=seconds,
                           time_ratio=ratio, epochs=epochs, test_acc=stats([s["test_acc"] for s in by_seed.values()]))
        lines.append(f"| {name} | {flags} | {'1' if name == 'baseline' else f'{args.budget:g}'} | {len(by_seed)} | "
                     f"{pm(acc)} | {pm(d_base, '{:+.2f}')} | {pm(d_short, '{:+.2f}')} | {pm(seconds, '{:.1f}')} | "
                     f"{pm(ratio, '{:.3f}')} | {epochs[0]:.1f} |")
    timing = timing_note(args, names)
    compared = (f"recipes compared on validation accuracy ({args.val_split} class-balanced training images held "
                f"out; test accuracy in results.json)" if args.val_split else
                "recipes compared on TEST accuracy (no --val_split): not a fair basis for choosing one")
    header = (f"{compared}; {timing}; {args.dataset}, width {args.width}, baseline {args.num_epochs} epochs, "
              f"train_subset {args.train_subset or 'all'}, batch {args.batch_size}, lr {args.lr:g}, warm-up "
              f"{args.warmup_epochs:g} epochs{start_note(args)}; "
              f"command: {command_line('ablations.py', argv)}")
    warnings = baseline_speed_warnings((f"seed {k} {name}", s, args.budget, base.get(k, {}).get("train_time_s"))
                                       for name, by_seed in runs.items() if name != "baseline"
                                       for k, s in by_seed.items())
    warnings += unstable_start_warnings((f"seed {k} {name}", os.path.join(folder, "runs", f"{name}_s{k}"), s)
                                        for name, by_seed in runs.items() for k, s in by_seed.items())
    warnings += mixed_machine_warnings((f"seed {k} {name}", os.path.join(folder, "runs", f"{name}_s{k}"))
                                       for name, by_seed in runs.items() for k in by_seed)
    shared_note = "".join(f"\n\n{n}'s row is the runs of {other}: at budget {args.budget:g} its early_cap "
                          f"({RECIPES[n]['early_cap']:g}) does not bind, so its plan is the same" for n, other in same.items())
    text = header + ("\n\n" + args.note if args.note else "") + shared_note + "\n\n" + "\n".join(lines) + "\n"
    print(text)
    write_text(os.path.join(folder, "table.md"), text + report_warnings(warnings))
    write_text(os.path.join(folder, "results.json"),
               json.dumps(dict(args=vars(args), table=table, warnings=warnings, runs=runs), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
