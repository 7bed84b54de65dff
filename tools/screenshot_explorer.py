"""Refresh docs/explorer.png: the schedule explorer in JupyterLab, after Run All and a slider move.

Runs exactly the end-to-end check of tests/test_browser.py (a throwaway JupyterLab on 127.0.0.1 serving a
copy of notebooks/, the system Chromium headless through Playwright), then saves the screenshot.

    python tools/screenshot_explorer.py [--out docs/explorer.png]
"""
import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import browser_support as bs  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=bs.SCREENSHOT, help="PNG to write (default: %(default)s)")
    args = parser.parse_args(argv)
    chromium = bs.find_chromium()
    if chromium is None:
        sys.exit(f"no Chromium found; {bs.INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="progrow-explorer-") as tmp:
        tmp = Path(tmp)
        notebooks = bs.copy_notebooks(tmp / "notebooks")
        with bs.jupyterlab_server(notebooks, tmp / "jupyter") as server:
            try:
                with bs.chromium_page(chromium, tmp / "browser") as page:
                    report = bs.exercise_explorer(page, server, tmp / "explorer.png")
            except Exception:
                print(f"--- jupyter lab log (tail) ---\n{server.log_tail()}", file=sys.stderr)
                raise
        dest = bs.save_docs_screenshot(report["screenshot"], args.out)
    print(f"wrote {dest} ({dest.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
