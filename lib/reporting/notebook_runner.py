"""Batch execution of the notebooks (run_all.py): profiles, parameter checks, papermill runs, failure report."""
import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from .results_files import remove_results, stale_results

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO_ROOT / "notebooks"
DATASET_NOTEBOOKS = ("cifar10", "cifar100", "fashionmnist", "tinyimagenet")  # notebooks/<name>.ipynb
SUMMARY_NOTEBOOK = "summary"
KERNEL = "python3"

# Parameters each profile sets on every experiment notebook (on top of the notebook's own defaults).
PROFILES = {
    # the published setting: 100 epochs of full-width ResNet18 on all of the data
    "full": dict(num_epochs=100, width=64, batch_size=128, lr=0.2, train_subset=0, test_subset=0),
    # minutes per dataset on a laptop CPU: narrow net, class-balanced subsets, few epochs
    "quick": dict(num_epochs=8, width=16, batch_size=128, lr=0.2, train_subset=5000, test_subset=1000),
    # seconds per dataset on tiny generated data (no download): checks that everything runs; the progressive
    # arm's budget must leave room for its calibration (3 sizes x 1 timed step) beside training
    "smoke": dict(num_epochs=10, width=8, batch_size=16, lr=0.1, train_subset=0, test_subset=0, budget=0.75,
                  calibration_steps=1),
}
# Fake data the smoke profile writes (lib.fakedata.write_fake_dataset keywords), per dataset.
SMOKE_DATA = {
    "cifar10": dict(train_per_class=32, test_per_class=4),  # 20 steps of 16 per epoch
    "cifar100": dict(train_per_class=32, test_per_class=4, num_classes=10),
    "fashionmnist": dict(train_per_class=32, test_per_class=4),
    "tinyimagenet": dict(train_per_class=32, test_per_class=3, num_classes=5),  # 10 steps of 16 per epoch
}


@dataclass
class Job:
    name: str  # dataset, or "summary"
    notebook: Path  # template
    output: Path  # final name of the executed notebook
    parameters: dict = field(default_factory=dict)
    missing: str = ""  # why it cannot run (absent dataset), with the fix

    @property
    def partial(self):
        """Where the notebook is written while it runs (a crash leaves this name, never the final one)."""
        return self.output.with_suffix(".partial.ipynb")

    @property
    def failed(self):
        return self.output.with_suffix(".FAILED.ipynb")


@dataclass
class Result:
    job: Job
    status: str  # ok | failed | missing
    seconds: float = 0.0
    message: str = ""
    path: Path = None  # the executed notebook to look at


def parse_value(text):
    """A -p value the way papermill's CLI reads it: True/False/None, int, float, else the string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_overrides(items):
    """['key=value', ...] -> {key: parsed value}; a malformed item is a UserError."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise UserError(f"-p {item!r}: write parameters as -p key=value, e.g. -p num_epochs=20")
        out[key.strip()] = parse_value(value)
    return out


def notebook_parameters(notebook):
    """{name: {name, inferred_type_name, default, help}} declared in a notebook's `parameters` cell."""
    import papermill

    return papermill.inspect_notebook(str(notebook))


def check_parameters(notebook, parameters, declared=None):
    """UserError unless every parameter is declared by the notebook, with a value of its default's type.

    papermill itself only warns about unknown parameters (and injects them anyway).
    """
    declared = notebook_parameters(notebook) if declared is None else declared
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise UserError(f"{Path(notebook).name} has no parameter {', '.join(unknown)}; valid parameters: "
                        f"{', '.join(sorted(declared))}")
    defaults = _literal_defaults({k: v["default"] for k, v in declared.items()})
    for name, value in parameters.items():
        default = defaults[name]
        if isinstance(default, bool) or isinstance(value, bool):
            ok = isinstance(value, bool) and isinstance(default, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float))
        else:
            ok = isinstance(value, type(default))
        if not ok:
            kind = type(default).__name__
            article = "an" if kind[0] in "aeiou" else "a"
            raise UserError(f"parameter {name} of {Path(notebook).name} takes {article} {kind} "
                            f"(default {default!r}), got {value!r}")


def _literal_defaults(defaults):
    """papermill reports defaults as source text; evaluate the plain literals (others stay text)."""
    import ast

    out = {}
    for k, text in defaults.items():
        try:
            out[k] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[k] = text
    return out


def dataset_missing(dataset, data_root, download):
    """'' when the dataset's folder exists under data_root (or will be downloaded), else why and how to fix."""
    from ..data.datasets import get_spec

    spec = get_spec(dataset)
    folder = Path(data_root) / spec.folder
    if folder.is_dir() or download:
        return ""
    return (f"dataset absent: {folder} does not exist; pass --download to fetch {dataset}, or --data_root "
            f"pointing at the folder that holds {spec.folder}")


def write_smoke_data(data_root, datasets):
    """Write the smoke profile's fake datasets under data_root (those not there yet)."""
    from ..data.datasets import get_spec
    from ..data.fakedata import write_fake_dataset

    for name in datasets:
        if not (Path(data_root) / get_spec(name).folder).is_dir():
            write_fake_dataset(name, data_root, **SMOKE_DATA[name])


def plan_jobs(profile="smoke", only=None, data_root=None, device=None, download=False, overrides=None,
              out_root="outputs"):
    """The notebooks to run, in order (experiments, then the summary), with checked parameters.

    Raises UserError (before anything runs) on an unknown profile, dataset or parameter.
    """
    from .report import experiment_arms, experiment_names

    if profile not in PROFILES:
        raise UserError(f"unknown --profile {profile!r}; choose one of {', '.join(PROFILES)}")
    datasets = [d.strip() for d in (only or ",".join(DATASET_NOTEBOOKS)).split(",") if d.strip()]
    bad = [d for d in datasets if d not in DATASET_NOTEBOOKS]
    if bad or not datasets:
        raise UserError(f"--only {only!r}: unknown dataset(s) {', '.join(bad) or '(none given)'}; choose from "
                        f"{', '.join(DATASET_NOTEBOOKS)}")
    out_root = Path(out_root).resolve() / profile
    if data_root is None:
        data_root = out_root / "data" if profile == "smoke" else REPO_ROOT / "data"
    data_root = Path(data_root).resolve()
    overrides = dict(overrides or {})
    jobs = []
    for name in datasets:
        notebook = NOTEBOOKS / f"{name}.ipynb"
        declared = notebook_parameters(notebook)
        check_parameters(notebook, overrides, declared)
        values = dict(PROFILES[profile], dataset=name, data_root=str(data_root), out_dir=str(out_root / name),
                      download=bool(download), **({"device": device} if device else {}))
        values.update(overrides)
        check_parameters(notebook, values, declared)
        params = {**_literal_defaults({k: v["default"] for k, v in declared.items()}), **values}
        names = experiment_names(params["dataset"], params["width"], params["num_epochs"], params["seed"],
                                 params["train_subset"], params["test_subset"], params["batch_size"], params["lr"],
                                 params["schedule"], params["budget"])
        try:  # the values the notebook will train with, checked as its arms will check them
            experiment_arms(**params)
        except UserError as exc:
            raise UserError(f"{notebook.name}: {exc}") from None
        missing = "" if profile == "smoke" and data_root == out_root / "data" else \
            dataset_missing(name, data_root, params["download"])
        jobs.append(Job(name, notebook, out_root / name / f"{names['notebook']}.ipynb", values, missing))
    summary = NOTEBOOKS / f"{SUMMARY_NOTEBOOK}.ipynb"
    jobs.append(Job(SUMMARY_NOTEBOOK, summary, out_root / "summary.ipynb",
                    dict(runs_dir=str(out_root), out_dir=str(out_root))))
    for job in jobs:  # refuse now, before anything runs, what execute would have to delete but may not
        if not job.missing:
            stale_notebooks(job)
    stale_results(out_root)
    return jobs


def is_executed_notebook(path, template):
    """True when path is a notebook papermill executed from `template` (its metadata names the template)."""
    try:
        with open(path, encoding="utf-8") as f:
            source = json.load(f)["metadata"]["papermill"]["input_path"]
        return Path(source).name == Path(template).name
    except (OSError, ValueError, KeyError, TypeError):  # a folder, unreadable, not JSON, no papermill metadata
        return False


def stale_notebooks(job):
    """The job's earlier executed notebooks (final, .FAILED and .partial names) that exist, each checked to
    be executed from the job's template; any other file at those names is a UserError naming it."""
    paths = [p for p in (job.output, job.failed, job.partial) if os.path.lexists(p)]
    foreign = [str(p) for p in paths if not is_executed_notebook(p, job.notebook)]
    if foreign:
        raise UserError(f"{', '.join(foreign)}: not a notebook executed from {job.notebook.name}, so run_all.py "
                        "will not delete or replace it; move it away, or choose another --out_root")
    return paths


def _publish(src, dst):
    """Give the complete file src the name dst in one atomic rename (after fsync: no empty file after a crash)."""
    with open(src, "rb") as f:
        os.fsync(f.fileno())
    os.replace(src, dst)


def encrypted_kernel_manager():
    """nbclient's kernel manager, asking for CurveZMQ encryption where jupyter_client, pyzmq and the kernel
    support it: the kernel then talks to papermill encrypted, and does not warn of plain TCP on every run."""
    import zmq
    from jupyter_client.manager import AsyncKernelManager

    class Manager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            if self.has_trait("transport_encryption") and zmq.has("curve"):  # jupyter_client >= 8.9
                self.transport_encryption = "auto"  # keys only for kernels that declare support

    return Manager


def execute(job, progress_bar=False):
    """Run one job with papermill -> Result. The executed notebook is written under a .partial name and
    renamed to its final name only on success (to .FAILED.ipynb on failure). Earlier notebooks at those
    names are deleted first, only if they are executed notebooks of the same template (else a failed Result)."""
    import papermill

    t0 = time.perf_counter()
    job.output.parent.mkdir(parents=True, exist_ok=True)
    try:
        for stale in stale_notebooks(job):  # an old result must not pass for this run's
            stale.unlink()
    except UserError as exc:
        return Result(job, "failed", 0.0, str(exc))
    try:
        papermill.execute_notebook(str(job.notebook), str(job.partial), parameters=job.parameters,
                                   kernel_name=KERNEL, cwd=str(REPO_ROOT), progress_bar=progress_bar,
                                   report_mode=False, kernel_manager_class=encrypted_kernel_manager())
    except Exception as exc:  # PapermillExecutionError (a cell raised) or the kernel died
        seconds = time.perf_counter() - t0
        where = job.partial
        if job.partial.exists():
            _publish(job.partial, job.failed)
            where = job.failed
        return Result(job, "failed", seconds, _error_line(exc), where)
    _publish(job.partial, job.output)
    return Result(job, "ok", time.perf_counter() - t0, "", job.output)


def _error_line(exc):
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    text = f"{ename}: {evalue}" if ename else f"{type(exc).__name__}: {exc}"
    return text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__


def run_jobs(jobs, progress_bar=False, log=print):
    """Execute jobs in order, past failures; the summary notebook learns which datasets have no result."""
    results = []
    width = max(len(j.name) for j in jobs)
    for i, job in enumerate(jobs, 1):
        if job.missing:
            result = Result(job, "missing", 0.0, job.missing)
        else:
            if job.name == SUMMARY_NOTEBOOK:
                job.parameters["incomplete"] = ",".join(r.job.name for r in results if r.status != "ok")
            try:
                if job.name == SUMMARY_NOTEBOOK:  # a failed summary must not leave an older table looking current
                    remove_results(job.parameters["out_dir"])
                result = execute(job, progress_bar)
            except UserError as exc:
                result = Result(job, "failed", 0.0, str(exc))
        results.append(result)
        shown = result.path or job.output
        log(f"[{i}/{len(jobs)}] {job.name:<{width}} {result.status.upper():<7} {result.seconds:7.1f}s  {shown}"
            + (f"  ({result.message})" if result.message else ""))
    return results


def failure_report(results):
    """Lines naming every job that failed or could not run, and where to look; [] when all ran."""
    bad = [r for r in results if r.status != "ok"]
    if not bad:
        return []
    lines = [f"{len(bad)} of {len(results)} notebooks did not finish:"]
    for r in bad:
        where = f"executed notebook: {r.path}" if r.path else "not run"
        lines.append(f"  {r.job.name}: {r.status}: {r.message} [{where}]")
    return lines


def build_parser():
    parser = argparse.ArgumentParser(
        prog="run_all.py", allow_abbrev=False,
        description="Execute every experiment notebook with papermill, then the summary notebook; executed "
                    "notebooks go to OUT_ROOT/PROFILE/DATASET/, the results table to OUT_ROOT/PROFILE/.")
    parser.add_argument("--profile", default="smoke", choices=sorted(PROFILES),
                        help="full: published setting (100 epochs, width 64, all data); quick: minutes on a CPU "
                             "(width 16, 5000 images, 8 epochs); smoke: seconds on generated data (default)")
    parser.add_argument("--only", default=None, help=f"comma list of datasets (default: all of {','.join(DATASET_NOTEBOOKS)})")
    parser.add_argument("--data_root", default=None,
                        help="folder holding the datasets' folders (default: data/, or generated data for smoke)")
    parser.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"), help="training device (default: auto)")
    parser.add_argument("--download", action="store_true", help="fetch datasets whose folder is missing")
    parser.add_argument("--out_root", default=str(REPO_ROOT / "outputs"), help="root of the executed notebooks and runs")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE",
                        help="set a notebook parameter (repeatable), e.g. -p num_epochs=20 -p schedule=0.5/0.5:0.5,1/1:0.5")
    return parser


def main(argv=None):
    """run_all.py: -> exit status (0 all ran, 1 some notebook failed or could not run, 2 bad arguments)."""
    args = build_parser().parse_args(argv)
    try:
        jobs = plan_jobs(args.profile, args.only, args.data_root, args.device, args.download,
                         parse_overrides(args.parameter), args.out_root)
        if args.profile == "smoke" and args.data_root is None:
            write_smoke_data(jobs[0].parameters["data_root"], [j.name for j in jobs[:-1]])
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"running {len(jobs)} notebooks (profile {args.profile}) into {jobs[-1].output.parent}", flush=True)
    t0 = time.perf_counter()
    results = run_jobs(jobs, progress_bar=sys.stderr.isatty(), log=lambda line: print(line, flush=True))
    report = failure_report(results)
    for line in report:
        print(line, file=sys.stderr)
    print(f"done in {time.perf_counter() - t0:.1f}s; results in {jobs[-1].output.parent}", flush=True)
    return 1 if report else 0
