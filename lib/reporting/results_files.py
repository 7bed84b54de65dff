"""The results files: results.md, results.csv and results.png (and frontier.png) written, recognised, refused."""
import math
import os

from ..records import atomic_open, read_json, write_text
from ..errors import UserError
from .report import find_runs, results_table

RESULT_FILES = ("results.md", "results.csv", "results.png")
RESULTS_TITLE = "# Results: progressive vs baseline ResNet18"  # a line of results.md's head
RESULTS_CSV_COLUMNS = {"dataset", "acc_change_pp", "time_saved_pct"}  # in results.csv's header
FRONTIER_FILE = "frontier.png"  # written beside RESULT_FILES when a frontier run is found
FRONTIER_KIND = "frontier"  # the "kind" of a bench/frontier.py results.json


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
        header = (f"**INCOMPLETE: no result for {', '.join(missing)} from this run (failed or skipped); rows below "
                  "for them, if any, are earlier runs found in this folder.**\n\n") + header
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
                 + "".join(f"warning: {w}\n\n" for w in results.get("warnings") or [])  # arms off the baseline's speed
                 + f"![accuracy against training time]({FRONTIER_FILE})\n")
        paths[FRONTIER_FILE] = save_figure(plot_frontier(results["stats"], title=results["title"]), frontier_png)
    elif os.path.exists(frontier_png):  # checked by stale_results above to be one this function wrote
        os.remove(frontier_png)  # an older run's figure must not pass for this table's
    write_text(paths["results.md"], text)
    save_table(table, paths["results.csv"], index=False)
    save_figure(plot_results(table), paths["results.png"])
    return paths


def find_frontier(root):
    """(folder, results) of the newest bench/frontier.py results.json under root, or None.

    Newest by the written_at stamp inside the file (UTC, ISO 8601), which survives a clone; files without one
    (older runs) come before those with one and are ordered by mtime, then by folder, so the choice never
    depends on the order os.walk happens to list folders in.
    """
    found = []
    for folder, _, files in os.walk(root):
        if "results.json" in files:
            path = os.path.join(folder, "results.json")
            try:
                results = read_json(path)
            except (OSError, ValueError):
                continue
            if isinstance(results, dict) and results.get("kind") == FRONTIER_KIND:
                stamp = results.get("written_at")
                found.append(((str(stamp) if stamp else "", os.path.getmtime(path), folder), folder, results))
    return max(found, key=lambda f: f[0])[1:] if found else None


def build_results(runs_dir, out_dir, incomplete="", frontier_dir=""):
    """The summary notebook in one call: every finished run under runs_dir -> table, files in out_dir.

    The newest bench/frontier.py run under frontier_dir (default: runs_dir) adds its table and figure.
    """
    table = results_table(find_runs(runs_dir))
    return table, write_results(table, out_dir, incomplete, find_frontier(frontier_dir or runs_dir))
