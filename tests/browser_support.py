"""Drive notebooks/explore_schedules.ipynb in a real JupyterLab through a real (headless) Chromium.

Shared by tests/test_browser.py and tools/screenshot_explorer.py, so the README screenshot is taken by
exactly the code path the test checks. Everything runs on 127.0.0.1 with throwaway Jupyter and browser
state; the system Chromium is used (a browser is never downloaded).
"""
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
EXPLORER = "explore_schedules.ipynb"
SCREENSHOT = REPO_ROOT / "docs" / "explorer.png"
VIEWPORT = {"width": 1200, "height": 800}

INSTALL_HINT = (
    "the browser test needs the system Chromium (never a downloaded browser): "
    "`apt-get install chromium` (Debian/Ubuntu), or point PROGROW_CHROMIUM at a Chromium/Chrome binary"
)
# The machine may have no network beyond loopback: keep Chromium from phoning home (updates, sync, ...).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# The line the explorer prints under its plots.
SAVING_RE = re.compile(r"predicted saving vs baseline:\s*(-?[0-9][0-9.,]*)\s*%")
# What an output shows instead of a widget when the widget manager is missing.
WIDGET_AS_TEXT_RE = re.compile(r"\b\w*(?:Slider|Dropdown)\(|\binteractive\(children=")

# The visible notebook, its code cells and their outputs.
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
SLIDER = f"{PANEL} .jp-OutputArea-output .widget-slider"
SLIDER_HANDLE = ".noUi-handle"


def in_ci():
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def find_chromium():
    """Path of a system Chromium/Chrome, or None."""
    explicit = os.environ.get("PROGROW_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    for path in ("/usr/bin/chromium", "/usr/lib/chromium/chromium", "/snap/bin/chromium"):
        if os.access(path, os.X_OK):
            return path
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------- server

# JupyterLab user settings for the throwaway server: no news or update checks (no network here), and
# no autosave, so the served notebook is never rewritten with outputs.
LAB_USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


@dataclass
class LabServer:
    url: str  # http://127.0.0.1:PORT/
    token: str
    proc: subprocess.Popen
    log_path: Path

    def api(self, path, method="GET", timeout=5):
        req = urllib.request.Request(
            self.url + path.lstrip("/"), method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, chars=4000):
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    def lab_url(self, notebook):
        return f"{self.url}lab/tree/{notebook}?token={self.token}"


def _pids_mentioning(text):
    """Pids of live processes whose command line contains `text` (our private runtime dir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            pids.append(int(entry.name))
    return pids


@contextlib.contextmanager
def jupyterlab_server(root_dir, work_dir, startup_timeout=90):
    """Run `jupyter lab` serving `root_dir` on a free 127.0.0.1 port with a token; always shut it down.

    `work_dir` receives Jupyter's runtime/config/data dirs and the server log. The kernel imports the
    project's `lib` through PYTHONPATH, whatever folder is served.
    """
    work_dir = Path(work_dir)
    runtime, config, data, ipython = (work_dir / n for n in ("runtime", "config", "data", "ipython"))
    for d in (runtime, config, data, ipython):
        d.mkdir(parents=True, exist_ok=True)
    settings_dir = config / "lab" / "user-settings"
    for rel, values in LAB_USER_SETTINGS.items():
        path = settings_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))

    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env.update(
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_DATA_DIR=str(data),
        IPYTHONDIR=str(ipython),
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p),
        PYTHONUNBUFFERED="1",
    )
    env.pop("JUPYTER_TOKEN", None)
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--ServerApp.open_browser=False",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        f"--LabApp.user_settings_dir={settings_dir}",
        f"--LabApp.workspaces_dir={work_dir / 'workspaces'}",
        "--LabApp.extension_manager=readonly",
        "--LabApp.news_url=",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root
    log_path = work_dir / "jupyterlab.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=root_dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    server = LabServer(f"http://127.0.0.1:{port}/", token, proc, log_path)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                server.api("api/status", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab not up after {startup_timeout}s:\n{server.log_tail()}")
                time.sleep(0.25)
        yield server
    finally:
        _stop_server(server, runtime)


def _stop_server(server, runtime):
    proc = server.proc
    if proc.poll() is None:
        # Politely first: the server then shuts its kernels down itself.
        with contextlib.suppress(Exception):
            server.api("api/shutdown", method="POST", timeout=5)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    # Kernels are started in their own sessions; any one left behind still names our runtime dir.
    for pid in _pids_mentioning(str(runtime)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------------------------- browser


@contextlib.contextmanager
def chromium_page(executable, work_dir, viewport=VIEWPORT):
    """A page in a fresh headless Chromium profile under `work_dir`; the browser is always closed."""
    from playwright.sync_api import sync_playwright

    profile = Path(work_dir) / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=viewport,
            device_scale_factor=1,
            timeout=60_000,
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            yield page
        finally:
            context.close()


# ------------------------------------------------------------------------------------ notebook driving

# JS: the visible notebook's kernel is connected and idle (status bar "Python 3 (ipykernel) | Idle" and
# the toolbar's execution indicator; the latter alone also says idle before any kernel exists).
_KERNEL_IDLE_JS = """
() => {
  const ind = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
  const status = [...document.querySelectorAll('#jp-main-statusbar .jp-StatusBar-TextItem')]
    .map(e => e.textContent.trim()).find(t => / \\| \\w+$/.test(t)) || '';
  return !!ind && ind.dataset.status === 'idle' && / \\| Idle$/.test(status) && !status.startsWith('No Kernel');
}
"""

# JS: the state of the visible notebook's code cells after "Run All Cells".
_RUN_STATE_JS = """
() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return {cells: 0, pending: 0, unrun: 0, errors: 0};
  let pending = 0, unrun = 0, cells = 0;
  for (const cell of panel.querySelectorAll('.jp-CodeCell')) {
    const source = cell.querySelector('.cm-content');
    if (source && !source.textContent.trim()) continue;  // an empty cell never gets a number
    cells += 1;
    const prompt = (cell.querySelector('.jp-InputArea-prompt') || {}).textContent || '';
    if (prompt.includes('*')) pending += 1;
    else if (!/\\[\\d+\\]/.test(prompt)) unrun += 1;
  }
  const errors = panel.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"] .ansi-red-fg, ' +
    '.jp-OutputArea-output.jp-mod-error, [data-mime-type="application/vnd.jupyter.error"]').length;
  return {cells, pending, unrun, errors};
}
"""

# JS, given a cell element: what it currently shows: the text of its outputs that hold no widget controls
# (so a slider's own readout does not count as a redraw), all its output text, and its images' sources.
_CELL_OUTPUT_JS = """
(cell) => {
  const outs = [...cell.querySelectorAll('.jp-OutputArea-output')];
  const text = outs.filter(o => !o.querySelector('.jupyter-widgets')).map(o => o.textContent).join('\\n');
  const all = outs.map(o => o.textContent).join('\\n');
  const images = [...cell.querySelectorAll('.jp-OutputArea-output img')].map(i => i.src);
  return {text, all, images};
}
"""


def outputs_text(page):
    """All output text of the visible notebook, widget labels and readouts included."""
    return page.locator(PANEL).first.evaluate(_CELL_OUTPUT_JS)["all"]


def kernel_idle(page):
    return page.evaluate(_KERNEL_IDLE_JS)


def open_notebook(page, server, notebook=EXPLORER, timeout_s=90):
    """Open the notebook in JupyterLab and wait until its kernel has started and the page shows it idle."""
    page.goto(server.lab_url(notebook), wait_until="domcontentloaded", timeout=timeout_s * 1000)
    page.wait_for_selector(f"{PANEL} .jp-Cell", timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    while True:
        accept_kernel_dialog(page)
        sessions = server.api("api/sessions")
        started = any(
            s.get("path", "").endswith(notebook) and (s.get("kernel") or {}).get("execution_state") == "idle"
            for s in sessions
        )
        if started and kernel_idle(page):
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"kernel for {notebook} not idle after {timeout_s}s; sessions={sessions}\n"
                f"server log:\n{server.log_tail()}"
            )
        time.sleep(0.2)


def accept_kernel_dialog(page):
    """If JupyterLab asks which kernel to use, take its suggestion (the notebook's own kernelspec)."""
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    if dialog.count():
        dialog.locator("button.jp-mod-accept").first.click()


def run_all_cells(page, timeout_s=120):
    """Run > Run All Cells from JupyterLab's menu bar; wait until every code cell ran and the kernel is idle."""
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    deadline = time.monotonic() + timeout_s
    settled_since = None
    while True:
        accept_kernel_dialog(page)
        state = page.evaluate(_RUN_STATE_JS)
        state["idle"] = kernel_idle(page)
        if state["errors"] and not state["pending"]:
            raise AssertionError(f"a cell raised while running the notebook:\n{outputs_text(page)[-4000:]}")
        if state["cells"] > 0 and not state["pending"] and not state["unrun"] and state["idle"]:
            settled_since = settled_since or time.monotonic()
            if time.monotonic() - settled_since > 0.5:  # still done half a second later
                return state
        else:
            settled_since = None
        if time.monotonic() > deadline:
            raise AssertionError(f"notebook still running after {timeout_s}s ({state}):\n{outputs_text(page)[-4000:]}")
        time.sleep(0.1)


def check_widgets_rendered(page):
    """Fail if any output shows a widget as text (no widget manager) or JupyterLab's widget error."""
    text = outputs_text(page)
    as_text = WIDGET_AS_TEXT_RE.search(text)
    assert not as_text, f"widgets shown as text ({as_text.group(0)!r}), not rendered:\n{text[-3000:]}"
    for broken in ("Error displaying widget", "Loading widget...", "Failed to load model class"):
        assert broken not in text, f"JupyterLab could not display a widget ({broken!r}):\n{text[-3000:]}"


def explorer_cell(page, timeout_s=30):
    """The code cell whose output holds rendered sliders and prints the predicted saving.

    Pinned by position: while the widget redraws, its output is briefly empty.
    """
    cells = page.locator(f"{PANEL} .jp-CodeCell")
    match = cells.filter(has=page.locator(".jp-OutputArea-output .widget-slider")).filter(has_text=SAVING_RE).first
    try:
        match.wait_for(state="attached", timeout=timeout_s * 1000)
    except Exception:
        raise AssertionError(
            f"no cell shows rendered sliders ({SLIDER}) and a 'predicted saving vs baseline' line:\n"
            f"{outputs_text(page)[-3000:]}"
        ) from None
    index = match.evaluate(
        "(cell) => [...cell.closest('.jp-Notebook').querySelectorAll('.jp-CodeCell')].indexOf(cell)"
    )
    return cells.nth(index)


def explorer_state(cell):
    """(predicted saving or None, image sources, output text) the explorer cell shows right now."""
    state = cell.evaluate(_CELL_OUTPUT_JS)
    savings = SAVING_RE.findall(state["text"])
    return (savings[-1] if savings else None), tuple(state["images"]), state["text"]


def wait_for_explorer_output(page, cell, timeout_s=60, previous=None):
    """Wait until the explorer cell shows a saving line and a plot, unchanged for a moment, kernel idle.

    With `previous` (an earlier explorer_state) also wait until something differs from it.
    Returns the settled explorer_state; raises AssertionError on timeout.
    """
    deadline = time.monotonic() + timeout_s
    last, stable_since = None, 0.0
    while True:
        current = explorer_state(cell)
        saving, images, text = current
        idle = kernel_idle(page)
        ready = saving is not None and bool(images) and idle and (previous is None or current != previous)
        if not ready:
            last = None
        elif current != last:
            last, stable_since = current, time.monotonic()
        elif time.monotonic() - stable_since > 0.75:
            return current
        if time.monotonic() > deadline:
            what = "a changed output" if previous is not None else "the explorer's output"
            raise AssertionError(
                f"no {what} after {timeout_s}s (saving={saving!r}, {len(images)} image(s), kernel idle={idle});"
                f" outputs:\n{text[-3000:]}"
            )
        time.sleep(0.1)


def slider_label(slider):
    label = slider.locator(".widget-label")
    return label.first.inner_text().strip() if label.count() else "?"


def slider_value(slider):
    readout = slider.locator(".widget-readout")
    if readout.count():
        return readout.first.inner_text().strip()
    return slider.locator(SLIDER_HANDLE).first.get_attribute("aria-valuenow")


def nudge_slider(page, slider, presses=3):
    """Move a slider as a keyboard user does: focus its handle, press ArrowRight (ArrowLeft at the end).

    Returns (value before, value after) as the slider's readout shows them.
    """
    handle = slider.locator(SLIDER_HANDLE).first
    handle.scroll_into_view_if_needed()
    before = after = slider_value(slider)
    for key in ("ArrowRight", "ArrowLeft"):
        handle.focus()
        for _ in range(presses):
            page.keyboard.press(key)
            time.sleep(0.05)
        after = slider_value(slider)
        if after != before:
            break
    return before, after


def hide_left_sidebar(page):
    """Collapse JupyterLab's left sidebar (file browser) so the screenshot shows the explorer."""
    tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if tab.count():
        tab.first.click()
        page.wait_for_timeout(300)


def take_screenshot(page, path, scroll_to=None):
    """Save a PNG of the viewport, scrolled to the top of the cell `scroll_to` (a locator) if given."""
    hide_left_sidebar(page)
    if scroll_to is not None:
        scroll_to.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.mouse.move(0, 0)  # no hover highlight
    page.wait_for_timeout(500)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    return path


def exercise_explorer(page, server, screenshot, notebook=EXPLORER, log=print):
    """The end-to-end check: Run All; widgets render; moving sliders redraws plot and saving; screenshot.

    Raises AssertionError saying what the page showed when something is wrong. Returns a small report.
    """
    t0 = time.monotonic()
    open_notebook(page, server, notebook)
    log(f"[browser] kernel idle after {time.monotonic() - t0:.1f}s")
    run_all_cells(page)
    log(f"[browser] Run All Cells done after {time.monotonic() - t0:.1f}s")
    check_widgets_rendered(page)

    cell = explorer_cell(page)
    state = wait_for_explorer_output(page, cell)
    cell_sliders = cell.locator(".jp-OutputArea-output .widget-slider")
    count = cell_sliders.count()
    assert cell_sliders.first.locator(SLIDER_HANDLE).count(), "the slider has no handle to move"
    first_saving = state[0]
    log(f"[browser] {count} slider(s); predicted saving {state[0]}%; {len(state[1])} plot(s)")

    moved, saving_changed, plot_changed = [], False, False
    for i in range(count):
        slider = cell_sliders.nth(i)
        before, after = nudge_slider(page, slider)
        if before == after:
            continue  # cannot move (e.g. a one-value range)
        new_state = wait_for_explorer_output(page, cell, timeout_s=45, previous=state)
        saving_changed |= new_state[0] != state[0]
        plot_changed |= new_state[1] != state[1]
        moved.append(f"{slider_label(slider)}: {before} -> {after}, saving {state[0]}% -> {new_state[0]}%")
        log(f"[browser] moved {moved[-1]}; plot {'redrawn' if new_state[1] != state[1] else 'unchanged'}")
        state = new_state
        if saving_changed and plot_changed:
            break
    assert moved, "no slider could be moved with the keyboard"
    assert plot_changed, f"moving sliders never changed the plot ({moved})"
    assert saving_changed, f"moving sliders never changed the predicted saving ({moved})"
    check_widgets_rendered(page)

    shot = take_screenshot(page, screenshot, scroll_to=cell)
    log(f"[browser] screenshot {shot} ({shot.stat().st_size // 1024} KiB) after {time.monotonic() - t0:.1f}s")
    return {"sliders": count, "moved": moved, "first_saving": first_saving, "last_saving": state[0],
            "screenshot": shot}


def copy_notebooks(dest):
    """A private copy of notebooks/ to serve (JupyterLab writes .ipynb_checkpoints next to what it opens)."""
    dest = Path(dest)
    shutil.copytree(NOTEBOOKS_DIR, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return dest


def save_docs_screenshot(src, dest=SCREENSHOT, max_bytes=300_000):
    """Copy a screenshot to docs/, reduced to a 256-colour palette if it is over max_bytes."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    if dest.stat().st_size > max_bytes:
        from PIL import Image

        with Image.open(src) as img:
            img.convert("RGB").quantize(colors=256).save(dest, optimize=True)
    size = dest.stat().st_size
    assert size <= max_bytes, f"{dest} is {size} bytes, more than {max_bytes}"
    return dest
