"""The parts of ``bench/gui.py`` that drive things: the job file, the ``necroflow gui``
process, Chromium's pages and what they report (frames, clicks), CPU of processes."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
NECROFLOW = str(Path(sys.executable).parent / "necroflow")
TICKS = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[gui bench] {msg}", file=sys.stderr, flush=True)


def job_file(folder: Path, n: int) -> Path:
    path = folder / f"chain-{n}.toml"
    names = [f"s{i:06d}" for i in range(n)]
    path.write_text(f'".pipeline" = "{BENCH / "gui_chain.py"}:chain"\n".requests" = ["counts"]\n'
                    f"sample__grid = {json.dumps(names)}\n")
    return path


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def spread(values: list[float], unit: str = "ms", scale: float = 1.0) -> str:
    v = [x * scale for x in values]
    return f"median {statistics.median(v):.1f} {unit}, p95 {pct(v, 95):.1f}, max {max(v):.1f} (n={len(v)})"


def cpu_of(pid: int) -> float:
    """User + system seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def browser_cpu() -> float:
    """CPU seconds of every Chromium process under this one (browser, renderers, GPU, utility)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            names[int(d.name)] = stat[stat.index("(") + 1:stat.rindex(")")]
            parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    total = 0.0
    for pid, name in names.items():
        p, seen = pid, 0
        while p > 1 and seen < 50:
            p, seen = parents.get(p, 0), seen + 1
            if p == os.getpid():
                if name.startswith("chrom"):
                    total += cpu_of(pid)
                break
    return total


@contextmanager
def gui_process(job: Path, outdir: Path) -> Iterator[tuple[str, int]]:
    """``necroflow gui`` on a free port: (the URL with its token, the pid)."""
    p = subprocess.Popen([NECROFLOW, "gui", "--port", "0", "--outdir", str(outdir), str(job)], cwd=REPO,
                         stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert p.stdout is not None
        line = p.stdout.readline()
        if not line.startswith("necroflow gui: "):
            raise RuntimeError(f"necroflow gui did not start: {line!r}")
        url = line.split(": ", 1)[1].strip()
        _answers(url)
        yield url, p.pid
    finally:
        os.killpg(p.pid, signal.SIGINT)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _answers(url: str, timeout: float = 60) -> None:
    """Wait until the server answers (it prints its URL as soon as the socket listens)."""
    import urllib.request

    base, token = url.split("/?token=")
    req = urllib.request.Request(f"{base}/api/status", headers={"Authorization": f"Bearer {token}"})
    end = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(req, timeout=5).read()
            return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.02)


def poll(page: Any, expr: str, timeout: float = 60) -> Any:
    """Wait for a page expression (Playwright's wait_for_function evals a string: the CSP forbids it)."""
    end = time.monotonic() + timeout
    while True:
        got = page.evaluate(expr)
        if got:
            return got
        if time.monotonic() > end:
            raise TimeoutError(expr)
        time.sleep(0.01)


def open_page(browser: Any, url: str) -> tuple[Any, Any, dict[str, float]]:
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    first = poll(page, "() => window.necroflow && window.necroflow.stats.firstDraw")
    poll(page, "() => window.necroflow.ready")
    ready = page.evaluate("() => performance.now()")
    if errors:
        raise RuntimeError(f"page errors: {errors}")
    return context, page, {"first_draw_ms": first, "ready_ms": ready}


FRAMES_ON = """() => { const f = window.__frames = []; let last = performance.now(); window.__framesOn = true;
  const tick = (t) => { f.push(t - last); last = t; if (window.__framesOn) requestAnimationFrame(tick); };
  requestAnimationFrame(tick); const s = window.necroflow.stats; s.applyMs.length = 0; s.latency.length = 0;
  s.events = 0; s.batches = 0; }"""
FRAMES_OFF = """() => { window.__framesOn = false; const s = window.necroflow.stats;
  return {frames: window.__frames.slice(1), apply: s.applyMs.slice(), latency: s.latency.slice(),
          events: s.events, batches: s.batches}; }"""


def click_latency(page: Any, rule: str) -> float:
    """Click a rule of the rule graph; ms until its job list shows rows."""
    page.evaluate("() => { const p = document.querySelector('#panel-close'); if (p) p.click(); }")
    t0 = time.perf_counter()
    page.click(f"#dag .node[data-id={rule}]")
    page.wait_for_selector("#rule-jobs .row", timeout=30_000)
    return (time.perf_counter() - t0) * 1000


def responsiveness(page: Any) -> dict[str, Any]:
    m = page.evaluate(FRAMES_OFF)
    return {"frames_ms": m["frames"], "apply_ms": m["apply"], "latency_s": m["latency"],
            "events": m["events"], "batches": m["batches"]}
