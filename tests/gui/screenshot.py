"""The README's picture of the GUI (docs/img/gui.png), made for real: the grid example run, one
sample's reads edited (its alignments go stale) and one count deleted (missing), then
``necroflow gui`` on it in Debian's Chromium, a stale job opened and a run previewed.

    .venv/bin/python tests/gui/screenshot.py docs/img/gui.png

``tests/gui/test_gui_browser.py::test_the_readme_screenshot`` takes the same picture.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
NECROFLOW = str(Path(sys.executable).parent / "necroflow")
GRID = "examples/necroalchemy_grid.toml"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def prepare(outdir: Path) -> None:
    subprocess.run([NECROFLOW, "run", "-q", "--outdir", str(outdir), GRID], cwd=REPO, check=True, timeout=120)
    reads = sorted((outdir / "raw_reads").iterdir())[-1] / "reads.txt"
    reads.write_text(reads.read_text() + "one more read\n")
    counts = sorted((outdir / "count").iterdir())
    (counts[1] / "counts.txt").unlink()


def _poll(page: Any, expr: str, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while not page.evaluate(expr):  # not wait_for_function: it evaluates a string, which the CSP forbids
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {expr}")
        time.sleep(0.05)


def take(browser: Any, png: Path, workdir: Path) -> None:
    outdir = workdir / "results"
    prepare(outdir)
    gui = subprocess.Popen([NECROFLOW, "gui", "--port", "0", "--outdir", str(outdir), GRID], cwd=REPO,
                           stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert gui.stdout is not None
        url = gui.stdout.readline().split(": ", 1)[1].strip()
        context = browser.new_context(viewport={"width": 1600, "height": 840}, device_scale_factor=1)
        page = context.new_page()
        page.goto(url)
        _poll(page, "() => window.necroflow && window.necroflow.ready")
        page.locator("#dag .node[data-state=stale]").first.click()
        page.wait_for_selector("#detail-metrics")
        page.click("#preview")
        _poll(page, "() => document.querySelector('#preview-text').textContent.includes('would run')")
        page.wait_for_timeout(300)  # the log and the fonts
        page.screenshot(path=str(png))
        context.close()
    finally:
        os.killpg(gui.pid, signal.SIGINT)
        gui.wait(15)


def main() -> None:
    from playwright.sync_api import sync_playwright

    png = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "docs" / "img" / "gui.png").resolve()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        take(browser, png, Path(tmp))
        browser.close()
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
