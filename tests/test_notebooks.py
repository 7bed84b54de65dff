"""The notebooks: generated from their templates, well-formed parameters, and each one runs headless."""
import ast
import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest

from lib.reporting.notebook_runner import DATASET_NOTEBOOKS, KERNEL, PROFILES, SMOKE_DATA, write_smoke_data

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
ALL = [f"{d}.ipynb" for d in DATASET_NOTEBOOKS] + ["explore_schedules.ipynb", "summary.ipynb"]


def load_generator():
    spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOKS / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebooks_are_up_to_date_with_their_generator():
    generator = load_generator()
    books = generator.build_notebooks()
    assert sorted(books) == sorted(ALL)
    for name, nb in books.items():
        assert (NOTEBOOKS / name).read_text() == generator.render(nb), \
            f"{name} is stale: run python notebooks/make_notebooks.py"


def test_experiment_notebooks_differ_only_in_their_defaults():
    books = load_generator().build_notebooks()
    reference = books["cifar10.ipynb"]
    for name in DATASET_NOTEBOOKS:
        nb = books[f"{name}.ipynb"]
        assert len(nb.cells) == len(reference.cells)
        for i, (cell, ref) in enumerate(zip(nb.cells, reference.cells)):
            if i == 0:  # the title
                continue
            assert cell.source.replace(f'"{name}"', '"cifar10"') == ref.source, f"{name} cell {i}"


def parameters_cell(nb):
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"], "the first code cell must be tagged parameters"
    return code[0], code[1]


@pytest.mark.parametrize("name", ALL)
def test_notebook_structure(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    params, derived = parameters_cell(nb)
    assigned = [t.id for node in ast.parse(params.source).body for t in node.targets]
    # papermill skips lines it cannot read (e.g. an '=' in a comment); the runner relies on it seeing them all
    assert sorted(papermill.inspect_notebook(str(NOTEBOOKS / name))) == sorted(assigned)
    for line in params.source.splitlines():
        assert " # " in line, f"parameter without a unit/meaning comment: {line}"
    # derived values come after the parameters cell and never overwrite a parameter (papermill injects after it)
    later = [n for c in nb.cells[nb.cells.index(derived):] if c.cell_type == "code"
             for n in ast.walk(ast.parse(c.source)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    assert not {n.id for n in later} & set(assigned)
    for cell in nb.cells:
        if cell.cell_type == "code" and "interact(" in cell.source:
            assert len(cell.source.splitlines()) == 1, "a widget cell is one interact(...) line"


# ----------------------------------------------------------------------------- headless execution


CELL_TIMEOUT_S = 300  # far above any cell here (seconds); a kernel whose reply was lost would wait forever


def execute(name, out, **parameters):
    """Run a notebook headless. Rarely, a kernel finishes a cell but its reply never reaches the client and both
    wait for ever (seen once on a 2-core machine, in the widget cell); such a cell times out and the notebook
    is run once more from the start. A cell that fails, or times out twice, fails the test."""
    for attempt in (1, 2):
        try:
            papermill.execute_notebook(str(NOTEBOOKS / name), str(out), parameters=parameters, kernel_name=KERNEL,
                                       cwd=str(REPO), progress_bar=False, execution_timeout=CELL_TIMEOUT_S)
            break
        except TimeoutError:  # nbclient's CellTimeoutError
            if attempt == 2:
                raise
    return nbformat.read(out, as_version=4)


def outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


# A budget run's report that its stages trained faster or slower than calibrated: a measurement of the machine
# (tiny smoke runs on a shared CPU cross the 1.5x line now and then), not a fault of the notebook.
SPEED_NOTE = re.compile(r"warning: stage \d+ at [0-9.]+x(, stage \d+ at [0-9.]+x)* the speed the budget's "
                        r"calibration measured: .*")
# A run's report that its training loss spiked above a uniform guess's in some epoch: tiny smoke runs at the
# default learning rate can spike now and then; what the run measured, not a fault of the notebook.
SPIKE_NOTE = re.compile(r"warning: training loss above a uniform guess's \(ln \d+ = [0-9.]+\) in epochs? .*")


def assert_clean(nb):
    outs = outputs(nb)
    assert not [o for o in outs if o.output_type == "error"]
    stderr = [line for o in outs if o.output_type == "stream" and o.name == "stderr"
              for line in o.text.splitlines()
              if line.strip() and not (SPEED_NOTE.fullmatch(line) or SPIKE_NOTE.fullmatch(line))]
    assert not stderr, f"stderr output: {stderr}"


def images(nb):
    return [o for o in outputs(nb) if "image/png" in o.get("data", {})]


def stdout(nb):
    return "".join(o.text for o in outputs(nb) if o.output_type == "stream" and o.name == "stdout")


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_smoke_data(root, DATASET_NOTEBOOKS)
    return root


@pytest.mark.parametrize("dataset", DATASET_NOTEBOOKS)
def test_experiment_notebook_runs_headless(dataset, fake_data, tmp_path, one_thread):
    from lib.reporting.report import experiment_names

    smoke = dict(PROFILES["smoke"], width=4)
    assert set(SMOKE_DATA) == set(DATASET_NOTEBOOKS)
    nb = execute(f"{dataset}.ipynb", tmp_path / "run.ipynb", data_root=str(fake_data), out_dir=str(tmp_path / "out"),
                 device="cpu", quiet=True, **smoke)
    assert_clean(nb)
    assert len(images(nb)) == 2  # accuracy curves and the schedule
    names = experiment_names(dataset, smoke["width"], smoke["num_epochs"], 0, 0, 0, smoke["batch_size"], smoke["lr"],
                             budget=smoke["budget"])
    summaries = {arm: json.loads((tmp_path / "out" / names[arm] / "summary.json").read_text())
                 for arm in ("baseline", "progressive", "short")}
    assert {arm: s["algo"] for arm, s in summaries.items()} == dict(baseline="no", progressive="yes", short="short")
    assert summaries["baseline"]["epochs"] == smoke["num_epochs"]
    assert summaries["short"]["epochs_equivalent"] == pytest.approx(smoke["budget"] * smoke["num_epochs"], abs=0.5)
    assert summaries["progressive"]["plan"]["budget_s"] > 0  # planned to the same budget
    figures = tmp_path / "out" / names["compare"]
    assert sorted(p.name for p in figures.iterdir()) == ["accuracy.png", "comparison.csv", "schedule.png"]
    table = pd.read_csv(figures / "comparison.csv", index_col="arm")
    assert list(table.index) == ["baseline", "progressive", "short"]
    assert {"time_saved_pct", "acc_change_pp", "acc_vs_short_pp"} <= set(table.columns)


def test_explore_notebook_runs_headless_with_static_figures(tmp_path):
    run = tmp_path / "runs" / "cifar10_yes"
    run.mkdir(parents=True)
    row = dict(epoch=1, stage=1, width=4, resolution=16, test_acc=20.0, train_loss=2.0, elapsed_train_s=0.5)
    (run / "metrics.jsonl").write_text(json.dumps(row) + "\n")
    nb = execute("explore_schedules.ipynb", tmp_path / "explore.ipynb", runs_dir=str(tmp_path / "runs"), budget=0.5)
    assert_clean(nb)
    assert images(nb), "a headless run must still show the schedule figure"
    assert "predicted saving vs baseline: 50.0%" in stdout(nb)
    widgets = [o for o in outputs(nb) if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widgets) == 2


def test_summary_notebook_writes_the_results(tmp_path):
    run = tmp_path / "runs" / "cifar10_no"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps(dict(dataset="cifar10", algo="no", test_acc=91.0, train_time_s=60.0,
                                                      num_epochs=3, width=8)))
    nb = execute("summary.ipynb", tmp_path / "summary.ipynb", runs_dir=str(tmp_path / "runs"),
                 out_dir=str(tmp_path / "results"), incomplete="cifar100")
    assert_clean(nb)
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["results.csv", "results.md", "results.png"]
    md = (tmp_path / "results" / "results.md").read_text()
    assert md.startswith("**INCOMPLETE: no result for cifar100") and "91.0 / – / –" in md
    assert len(images(nb)) == 1


def test_summary_notebook_shows_a_frontier_run(tmp_path):
    frontier = tmp_path / "bench" / "cifar10_w16_e30_cpu"
    frontier.mkdir(parents=True)
    stats = [dict(method=m, budget=b, seeds=2, train_time_s=t, train_time_s_std=1.0, test_acc=a, test_acc_std=0.5)
             for m, b, t, a in (("baseline", 1.0, 100.0, 80.0), ("progressive", 0.5, 52.0, 78.0),
                                ("short", 0.5, 50.0, 75.0))]
    (frontier / "results.json").write_text(json.dumps(dict(kind="frontier", title="cifar10: CPU", header="seeds 0,1",
                                                           table_md="| method |", stats=stats)))
    nb = execute("summary.ipynb", tmp_path / "summary.ipynb", runs_dir=str(tmp_path / "runs"),
                 out_dir=str(tmp_path / "results"), frontier_dir=str(tmp_path / "bench"))
    assert_clean(nb)
    assert (tmp_path / "results" / "frontier.png").exists()
    assert f"From `{frontier}`" in (tmp_path / "results" / "results.md").read_text()
    assert len(images(nb)) == 2  # the results figure and the frontier
