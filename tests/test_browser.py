"""End to end: notebooks/explore_schedules.ipynb in a real JupyterLab, in a real (headless) Chromium.

Starts `jupyter lab` on 127.0.0.1 (free port, token, throwaway Jupyter dirs) serving a copy of notebooks/,
opens the explorer in the system Chromium through Playwright, runs Run > Run All Cells, checks the sliders
render as widgets (not as `IntSlider(...)` text), moves one with the keyboard and checks that the plot and
the printed `predicted saving vs baseline` change, then saves a screenshot under tmp_path
(UPDATE_SCREENSHOT=1 also refreshes docs/explorer.png; so does tools/screenshot_explorer.py).

Without Chromium (or the playwright package) the test is skipped, saying how to install it, unless CI is
set: then it fails, so CI never passes without having run it.
"""
import importlib.util
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser_support as bs  # noqa: E402


def _unavailable(why):
    if bs.in_ci():
        pytest.fail(f"{why} (CI is set, so the browser test must run: failing instead of skipping)", pytrace=False)
    pytest.skip(why)


@pytest.fixture
def chromium_path():
    for package in ("playwright", "jupyterlab", "ipywidgets"):
        if importlib.util.find_spec(package) is None:
            _unavailable(f"the {package} Python package is missing: pip install -r requirements.txt")
    path = bs.find_chromium()
    if path is None:
        _unavailable(f"no Chromium found; {bs.INSTALL_HINT}")
    return path


@pytest.fixture
def lab_server(chromium_path, tmp_path):
    """JupyterLab serving a copy of notebooks/; shut down (kernels included) however the test ends."""
    assert (bs.NOTEBOOKS_DIR / bs.EXPLORER).is_file(), f"missing {bs.NOTEBOOKS_DIR / bs.EXPLORER}"
    notebooks = bs.copy_notebooks(tmp_path / "notebooks")
    with bs.jupyterlab_server(notebooks, tmp_path / "jupyter") as server:
        try:
            yield server
        finally:
            print(f"--- jupyter lab log (tail) ---\n{server.log_tail()}")  # shown when the test fails


@pytest.fixture
def page(chromium_path, lab_server, tmp_path):
    with bs.chromium_page(chromium_path, tmp_path / "browser") as page:
        yield page


@pytest.mark.timeout(170)
def test_explorer_sliders_redraw_in_jupyterlab(lab_server, page, tmp_path):
    t0 = time.monotonic()
    report = bs.exercise_explorer(page, lab_server, tmp_path / "explorer.png")
    assert report["screenshot"].stat().st_size > 10_000, "screenshot looks empty"
    if os.environ.get("UPDATE_SCREENSHOT", "") not in ("", "0"):
        dest = bs.save_docs_screenshot(report["screenshot"])
        print(f"[browser] wrote {dest} ({dest.stat().st_size // 1024} KiB)")
    print(f"[browser] explorer checked in {time.monotonic() - t0:.1f}s: {report['moved']}")
