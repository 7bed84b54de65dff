"""Write the project's notebooks from one template each: `python notebooks/make_notebooks.py [--check]`.

The four experiment notebooks differ only in their defaults. --check exits 1 if a committed notebook
differs from what this script writes (tests/test_notebooks.py runs the same check).
"""
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

# Runs first in every notebook (after the parameters): the paths above are relative to the repo root.
SETUP = '''import os
import sys

if not os.path.isdir("lib") and os.path.isdir(os.path.join("..", "lib")):
    os.chdir("..")  # opened from notebooks/: work from the repo root, which relative paths start from
sys.path.insert(0, os.getcwd())
import lib'''

EXPERIMENTS = {
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "fashionmnist": "Fashion-MNIST",
    "tinyimagenet": "Tiny ImageNet",
}


def experiment_cells(dataset, title):
    parameters = f'''dataset = "{dataset}"  # cifar10 | cifar100 | fashionmnist | tinyimagenet
data_root = "data"  # folder that holds the dataset's own folder (relative paths: from the repo root)
download = False  # fetch the official archive when the dataset folder is missing
out_dir = "outputs/runs"  # run folders and this experiment's figures go under here
num_epochs = 100  # epochs of the full-size baseline (the budget is a fraction of its time)
width = 64  # channels of ResNet18's first stage at full size (64: the standard ResNet18)
schedule = ""  # progressive stages WIDTH/RES:SHARE,... (fractions of full size, of training); "" for the default
budget = 0.5  # time of the progressive and short arms as a fraction of the baseline's, in (0, 1)
calibration_steps = 8  # timed training steps per stage when the progressive arm plans its budget
batch_size = 128  # images per optimizer step
lr = 0.2  # peak learning rate at this batch size (SGD with nesterov momentum)
seed = 0  # random seed of every arm
train_subset = 0  # class-balanced number of training images; 0 for all
test_subset = 0  # class-balanced number of test images; 0 for all
device = "auto"  # auto | cpu | cuda
torch_compile = False  # torch.compile the training step (CUDA; one compilation per stage)
overwrite = False  # train again even if a finished run with these settings exists (else it is reused)
quiet = False  # no per-epoch lines'''
    derived = SETUP + '''

names = lib.experiment_names(dataset, width, num_epochs, seed, train_subset, test_subset, batch_size, lr,
                             schedule, budget)
arms = lib.experiment_arms(dataset, data_root, download, out_dir, num_epochs, width, schedule, budget,
                           calibration_steps, batch_size, lr, seed, train_subset, test_subset, device,
                           torch_compile, overwrite, quiet)  # each arm's lib.run_arm keywords, checked
figure_dir = os.path.join(out_dir, names["compare"])  # this experiment's figures and table
names'''
    return [
        ("markdown", f"# Progressive ResNet18 on {title}\n\n"
                     "Trains three arms with the same settings and compares accuracy and training time: the "
                     "full-size baseline; the progressive arm (start narrow and at low resolution, and grow both "
                     "in stages) within `budget` x the baseline's time; and the short control, the "
                     "full-size network trained for `budget` x the epochs (the same time, spent the plain way). "
                     "Set the values in the next cell, or pass them with papermill / `run_all.py -p key=value`."),
        ("parameters", parameters),
        ("code", derived),
        ("markdown", "## Baseline: full size for every epoch"),
        ("code", 'baseline = lib.run_arm(**arms["baseline"])'),
        ("markdown", "## Progressive: grow in stages, within the budget"),
        ("code", 'progressive = lib.run_arm(**arms["progressive"])'),
        ("markdown", "## Short: full size for the budget's share of the epochs\n\n"
                     "The control a user would pick instead: the same network, fewer epochs, the learning rate "
                     "decayed to zero at the budget."),
        ("code", 'short = lib.run_arm(**arms["short"])'),
        ("markdown", "## Test accuracy against epochs and against training time"),
        ("code", 'curves = lib.curves_frame({"baseline": baseline, "progressive": progressive, "short": short})\n'
                 'fig = lib.plot_accuracy(curves)\n'
                 'lib.save_figure(fig, os.path.join(figure_dir, "accuracy.png"))'),
        ("markdown", "## Width and resolution schedule"),
        ("code", 'fig = lib.plot_schedule(curves)\n'
                 'lib.save_figure(fig, os.path.join(figure_dir, "schedule.png"))'),
        ("markdown", "## Where each stage of the progressive arm ended\n\n"
                     "Each stage's last epoch, its training accuracy there (on the stage's own images) and the "
                     "last test accuracy measured in it. Test accuracy is always measured at full size, so it "
                     "stays low while the network trains on small images; compare it between runs of other budgets "
                     "(`python bench/stages.py` does so for a frontier). A low-resolution stage whose training "
                     "accuracy nears 100 % has little left to learn at that size."),
        ("code", 'lib.stage_ends(progressive.metrics).round(2)'),
        ("markdown", "## Accuracy and time\n\n`time_saved_pct` and `acc_change_pp` are relative to the baseline, "
                     "`acc_vs_short_pp` to the short arm."),
        ("code", 'table = lib.comparison_table(baseline, progressive, short)\n'
                 'lib.save_table(table, os.path.join(figure_dir, "comparison.csv"))\n'
                 'table.round(2)'),
    ]


def explore_cells():
    parameters = '''dataset = "cifar10"  # sets the cost model's full resolution, image channels and classes
width = 64  # full width in channels of ResNet18's first stage
epochs = 100  # initial value of the epochs slider (baseline's epochs)
budget = 0.0  # initial value of the budget slider (fraction of the baseline's time; 0 for none)
runs_dir = "outputs"  # folder searched for run folders (relative paths: from the repo root)'''
    return [
        ("markdown", "# Schedule explorer\n\n"
                     "Move the sliders to shape a progressive schedule: the plots show width and resolution over "
                     "training, the relative cost of each epoch (FLOPs against a full-size epoch) and the "
                     "cumulative cost against the baseline, and the line above them the predicted saving."),
        ("parameters", parameters),
        ("code", SETUP + "\nfrom ipywidgets import interact"),
        ("markdown", "The schedule at the sliders' initial values (a static figure, also in headless runs):"),
        ("code", "lib.show_schedule(epochs=epochs, budget=budget, dataset=dataset, width=width)"),
        ("markdown", "## Shape a schedule"),
        ("code", "interact(lib.show_schedule, **lib.schedule_sliders(epochs, budget, dataset, width));"),
        ("markdown", "## Browse a run\n\nPick a run folder; the slider moves over its epochs and the text says "
                     "which stage (width, resolution) that epoch trained in."),
        ("code", "interact(lib.show_run, **lib.run_browser_widgets(runs_dir));"),
    ]


def summary_cells():
    parameters = '''runs_dir = "outputs"  # searched recursively for finished runs (summary.json)
out_dir = "outputs"  # results.md, results.csv, results.png (and frontier.png) are written here
incomplete = ""  # comma list of datasets whose notebooks failed or were skipped (flagged in results.md)
frontier_dir = ""  # searched recursively for bench/frontier.py results (the newest is shown); "" for runs_dir'''
    return [
        ("markdown", "# Results against the published table\n\n"
                     "Every finished run under `runs_dir`, each progressive run beside its baseline and the short "
                     "run of the same budget, next to the original work's numbers; and, when `frontier_dir` holds "
                     "a `bench/frontier.py` run, its accuracy against training time over several budgets."),
        ("parameters", parameters),
        ("code", SETUP + "\nfrom IPython.display import Markdown"),
        ("code", "table, paths = lib.build_results(runs_dir, out_dir, incomplete, frontier_dir)\npaths"),
        ("code", 'Markdown(open(paths["results.md"]).read())'),
    ]


def make_notebook(cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    for i, (kind, source) in enumerate(cells):
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(source)
        else:
            cell = nbformat.v4.new_code_cell(source)
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
        cell["id"] = f"cell-{i:02d}"  # fixed ids: the files only change when the template does
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def build_notebooks():
    """{file name: notebook} of every notebook this script owns."""
    books = {f"{name}.ipynb": make_notebook(experiment_cells(name, title)) for name, title in EXPERIMENTS.items()}
    books["explore_schedules.ipynb"] = make_notebook(explore_cells())
    books["summary.ipynb"] = make_notebook(summary_cells())
    return books


def render(nb):
    return nbformat.writes(nb) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    stale = []
    for name, nb in build_notebooks().items():
        path = HERE / name
        text = render(nb)
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run python notebooks/make_notebooks.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
