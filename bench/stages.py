"""Where each stage of the progressive runs ended, per budget, over seeds.

    python bench/stages.py outputs/ablations/frontier_cifar10_w64_e100_gpu3 [FOLDER ...]

FOLDER: a bench/frontier.py folder (its results.json names every run, reused ones included) or any folder
holding b<budget>/yes_s<seed> run folders. Writes FOLDER/stages.md: per budget and stage, over seeds, the epoch
the stage ended at, the training accuracy there, and the last test accuracy measured in it (always at full size,
so low during low-resolution stages; compare it across budgets, not with the training accuracy). A stage whose
end accuracies do not rise with the budget spends the extra time on learning it no longer does.
"""
import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

from lib.errors import UserError  # noqa: E402
from lib.records import read_json, read_jsonl, write_text  # noqa: E402
from lib.reporting.results_files import FRONTIER_KIND  # noqa: E402
from lib.reporting.stages import stage_ends  # noqa: E402
from budget import command_line, mean_pm  # noqa: E402  (bench/budget.py, beside this script)


def progressive_runs(folder):
    """[(budget, seed, run folder)] of the progressive runs of a frontier folder; UserError when it has none."""
    results_path = os.path.join(folder, "results.json")
    results = read_json(results_path) if os.path.exists(results_path) else {}
    runs = []
    if results.get("kind") == FRONTIER_KIND:
        runs = [(r["budget"], r["seed"], r["path"]) for r in results["runs"] if r["method"] == "progressive"]
    else:
        for path in glob.glob(os.path.join(folder, "b*", "yes_s*")):
            budget, seed = re.fullmatch(r"b([0-9.]+)", os.path.basename(os.path.dirname(path))), \
                re.fullmatch(r"yes_s(\d+)", os.path.basename(path))
            if budget and seed:
                runs.append((float(budget.group(1)), int(seed.group(1)), path))
    runs = [r for r in runs if os.path.exists(os.path.join(r[2], "metrics.jsonl"))]
    if not runs:
        raise UserError(f"{folder}: no progressive runs found (a bench/frontier.py folder: results.json, or "
                        "b<budget>/yes_s<seed>/metrics.jsonl); give the folder bench/frontier.py wrote")
    return sorted(runs)


def stages_table(runs):
    """Markdown rows per budget and stage over the runs' seeds."""
    ends = {}
    for budget, seed, path in runs:
        for row in stage_ends(read_jsonl(os.path.join(path, "metrics.jsonl"))).to_dict("records"):
            ends.setdefault((budget, row["stage"]), []).append(row)
    head = ["budget", "stage", "width", "px", "seeds", "ends at epoch", "train acc % there",
            "last test acc % in it (full size)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (budget, stage), rows in sorted(ends.items()):
        lines.append(f"| {budget:g} | {stage} | {rows[0]['width']} | {rows[0]['resolution']} | {len(rows)} | "
                     f"{mean_pm([r['last_epoch'] for r in rows], '{:.1f}')} | "
                     f"{mean_pm([r['train_acc'] for r in rows], '{:.1f}')} | {mean_pm([r['test_acc'] for r in rows], '{:.1f}')} |")
    return "\n".join(lines)


def main(argv=None):
    folders = sys.argv[1:] if argv is None else argv
    if not folders or any(f.startswith("-") for f in folders):
        print("usage: python bench/stages.py FOLDER [FOLDER ...]  (folders bench/frontier.py wrote)", file=sys.stderr)
        return 2
    for folder in folders:
        try:
            table = stages_table(progressive_runs(folder))
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        text = (f"Where each stage of the progressive runs in {folder} ended (mean ± std over seeds); test "
                f"accuracy is measured at full size; command: {command_line('stages.py', [folder])}\n\n{table}\n")
        print(text)
        write_text(os.path.join(folder, "stages.md"), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
