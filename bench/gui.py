"""What the browser GUI costs and how it holds up, on the bench "chain" workload (one shared
reference job, then raw -> align -> count per sample: 3N+1 jobs) as a job file with one combo
per sample (``bench/gui_chain.py``), served by a real ``necroflow gui`` process and opened in
Debian's Chromium under Playwright.

    python bench/gui.py            # the figures of bench/results.md (about 3 minutes on 2 cores)
    python bench/gui.py --quick    # smoke test with tiny sizes (tests/gui/test_gui_bench.py)

Scenarios:

* open: a 10,000-job DAG (N=3,333) opens: navigation start to the first graph drawn (the
  page's ``necroflow-graph-drawn`` mark, two animation frames after the SVG is built), and to
  every job's state loaded; the first visit plans the outdir, the next ones do not.
* burst: events appended to ``.rip/events.log`` at a high rate (every job running, then up to
  date) while the page shows the rule graph and a rule's job list: frame times, the time to
  apply each batch of events, how old a batch's oldest event is when applied (event written ->
  page updated), and a click on a rule answered while it goes.
* run: the same page while a ``necroflow run`` in a terminal runs all 10,000 jobs.
* overhead: a run of 3N+1 jobs alone, with ``necroflow gui`` and a page watching it, and
  launched from the page; wall time per job, and the CPU the GUI server and the browser spent.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
NECROFLOW = str(Path(sys.executable).parent / "necroflow")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
CORES = 2
TICKS = os.sysconf("SC_CLK_TCK")
SECTION = "## GUI: necroflow gui"

sys.path.insert(0, str(BENCH))
from gui_harness import (  # noqa: E402
    FRAMES_ON,
    browser_cpu,
    click_latency,
    cpu_of,
    gui_process,
    job_file,
    log,
    open_page,
    poll,
    responsiveness,
    spread,
)


def scenario_open(browser: Any, job: Path, outdir: Path, reps: int) -> dict[str, Any]:
    t0 = time.monotonic()
    with gui_process(job, outdir) as (url, _pid):
        startup = time.monotonic() - t0
        loads = []
        for _ in range(reps):
            context, _page, m = open_page(browser, url)
            loads.append(m)
            context.close()
    return {"server_start_s": startup, "loads": loads}


def append_events(path: Path, keys: list[str], rate: float) -> float:
    """Every job 'running' then 'up_to_date', ``rate`` events a second; returns the seconds taken."""
    lines = [(k, s) for s in ("running", "up_to_date") for k in keys]
    chunk = max(1, int(rate / 100))
    t0 = time.monotonic()
    with open(path, "a") as f:
        for i in range(0, len(lines), chunk):
            now = round(time.time(), 3)
            f.write("".join(json.dumps({"t": now, "run": "bench", "job": k, "state": s}) + "\n"
                            for k, s in lines[i:i + chunk]))
            f.flush()
            wait = t0 + (i + chunk) / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
    return time.monotonic() - t0


def scenario_burst(browser: Any, job: Path, outdir: Path, rate: float) -> dict[str, Any]:
    from necroflow.jobs import load_jobs

    keys = [j.key for j in load_jobs([job], outdir).dag.jobs.values()]
    (outdir / ".rip").mkdir(parents=True, exist_ok=True)
    with gui_process(job, outdir) as (url, pid):
        context, page, _ = open_page(browser, url)
        page.click("#dag .node[data-id=align]")  # its job list stays open and live
        page.wait_for_selector("#rule-jobs .row")
        page.evaluate(FRAMES_ON)
        cpu0, b0 = cpu_of(pid), browser_cpu()
        took = append_events(outdir / ".rip" / "events.log", keys, rate)
        click = click_latency(page, "count")
        poll(page, f"() => window.necroflow.stats.events >= {len(keys)} && "
                   "document.querySelector('#legend li[data-state=up_to_date] .count').textContent"
                   f" === '{len(keys):,}'", 60)
        m = responsiveness(page)
        m.update(events_written=2 * len(keys), seconds=took, click_ms=click,
                 server_cpu_s=cpu_of(pid) - cpu0, browser_cpu_s=browser_cpu() - b0)
        context.close()
    return m


def timed_run(job: Path, outdir: Path) -> tuple[float, float, int]:
    """``necroflow run`` from a terminal: (wall s, CPU s of its process tree, exit code)."""
    t0 = time.monotonic()
    p = subprocess.Popen([NECROFLOW, "run", "-q", "-c", str(CORES), "--outdir", str(outdir), str(job)], cwd=REPO,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"necroflow run exited {p.returncode}: {p.stderr.read() if p.stderr else ''}")
    return wall, ru.ru_utime + ru.ru_stime, p.returncode


def scenario_run(browser: Any, job: Path, outdir: Path) -> dict[str, Any]:
    with gui_process(job, outdir) as (url, pid):
        context, page, _ = open_page(browser, url)
        page.click("#dag .node[data-id=align]")
        page.wait_for_selector("#rule-jobs .row")
        page.evaluate(FRAMES_ON)
        cpu0, b0 = cpu_of(pid), browser_cpu()
        wall, cpu, _ = timed_run(job, outdir)
        click = click_latency(page, "count")
        m = responsiveness(page)
        m.update(run_wall_s=wall, run_cpu_s=cpu, click_ms=click, server_cpu_s=cpu_of(pid) - cpu0,
                 browser_cpu_s=browser_cpu() - b0)
        context.close()
    return m


def run_from_page(page: Any) -> float:
    page.click("#preview")
    poll(page, "() => !document.querySelector('#run').disabled", 60)
    t0 = time.monotonic()
    page.click("#run")
    poll(page, "() => /succeeded|failed|cancelled/.test(document.querySelector('#run-box').dataset.state)", 600)
    wall = time.monotonic() - t0
    if "succeeded" not in page.inner_text("#run-text"):
        raise RuntimeError(page.inner_text("#run-text"))
    return wall


def run_seconds(outdir: Path) -> float:
    """The last run's own duration, from its start and end lines in events.log (the same clock
    whoever started it: a terminal's start-up and job file loading are not in it)."""
    lines = [json.loads(line) for line in (outdir / ".rip" / "events.log").read_text().splitlines()]
    runs = [e for e in lines if "job" not in e]
    start = next(e for e in reversed(runs) if e["state"] == "running")
    end = next(e for e in runs if e["run"] == start["run"] and e["state"] != "running")
    return float(end["t"] - start["t"])


def one_overhead(browser: Any, job: Path, base: Path, mode: str) -> dict[str, float]:
    outdir = base / f"{mode}-{time.monotonic_ns()}"  # fresh every time; deleted after all runs
    if mode == "alone":
        wall, cpu, _ = timed_run(job, outdir)
        return {"wall": wall, "run_cpu": cpu, "run": run_seconds(outdir)}
    outdir.mkdir(parents=True)
    with gui_process(job, outdir) as (url, pid):
        context, page, _ = open_page(browser, url)
        page.fill("#cores", str(CORES))
        page.wait_for_timeout(1000)  # the first paints are not the run's
        cpu0, b0 = cpu_of(pid), browser_cpu()
        if mode == "watched":
            wall, cpu, _ = timed_run(job, outdir)
        else:
            wall, cpu = run_from_page(page), float("nan")
        out = {"wall": wall, "run_cpu": cpu, "server_cpu": cpu_of(pid) - cpu0, "browser_cpu": browser_cpu() - b0}
        context.close()
    out["run"] = run_seconds(outdir)
    return out


def scenario_overhead(browser: Any, job: Path, base: Path, reps: int) -> dict[str, list[dict[str, float]]]:
    results: dict[str, list[dict[str, float]]] = {"alone": [], "watched": [], "from_page": []}
    for i in range(reps):  # interleaved, so a burst of load elsewhere hits every mode alike
        for mode in results:
            log(f"overhead {mode} {i + 1}/{reps}")
            results[mode].append(one_overhead(browser, job, base, mode))
    shutil.rmtree(base, ignore_errors=True)
    return results


# --------------------------------------------------------------------------- the report


def _resp(m: dict[str, Any]) -> list[str]:
    return [f"frames: {spread(m['frames_ms'])}",
            f"applying a batch of events: {spread(m['apply_ms'])} ({m['events']:,} job changes in {m['batches']:,} batches)",
            f"event written → page updated: {spread(m['latency_s'], 's')}",
            f"a click on a rule → its job list: {m['click_ms']:.0f} ms",
            f"CPU: GUI server {m['server_cpu_s']:.2f} s, browser {m['browser_cpu_s']:.2f} s"]


def _per_job(runs: list[dict[str, float]], key: str, jobs: int, scale: float = 1000) -> float:
    return statistics.median(r[key] for r in runs) / jobs * scale


def render(res: dict[str, Any], info: dict[str, str], command: str) -> str:
    n_open, n_over = res["sizes"]["open"], res["sizes"]["overhead"]
    jobs_open, jobs_over = 3 * n_open + 1, 3 * n_over + 1
    o = res["open"]
    cold, warm = o["loads"][0], o["loads"][1:]
    b, r, ov = res["burst"], res["run"], res["overhead"]
    lines = [SECTION, "", f"Measured {info['date']} with `{command}` (total {res['total_s']:.0f} s). "
             f"Machine: {info['machine']}; Chromium {info['chromium']}; necroflow: git {info['git']}.", "",
             "| scenario | figures |", "|---|---|",
             f"| open a {jobs_open:,}-job DAG (N={n_open:,}; the rule graph), first visit (plans the outdir) | "
             f"navigation → graph drawn {cold['first_draw_ms']:.0f} ms; → every job's state loaded "
             f"{cold['ready_ms']:.0f} ms |"]
    if warm:
        lines.append(f"| the same, later visits | graph drawn {spread([w['first_draw_ms'] for w in warm])}; "
                     f"states loaded {spread([w['ready_ms'] for w in warm])} |")
    lines += [f"| `necroflow gui` start on it (load the job file: {n_open:,} combos) | {o['server_start_s']:.2f} s |",
              f"| burst: {b['events_written']:,} events appended to events.log in {b['seconds']:.1f} s "
              f"({b['events_written'] / b['seconds']:,.0f}/s), the rule graph and a rule's job list open | "
              + "; ".join(_resp(b)) + " |",
              f"| a terminal `necroflow run -c{CORES}` of all {jobs_open:,} jobs, the page open "
              f"(run wall {r['run_wall_s']:.1f} s) | " + "; ".join(_resp(r)) + " |"]
    alone, watched, page = (_per_job(ov[m], "run", jobs_over) for m in ("alone", "watched", "from_page"))
    cli_alone, cli_watched = (_per_job(ov[m], "wall", jobs_over) for m in ("alone", "watched"))
    lines += [f"| run of {jobs_over:,} jobs (N={n_over:,}, -c{CORES}): the run's time per job (events.log, "
              f"start to end), median of {len(ov['alone'])} | alone {alone:.2f} ms; with `necroflow gui` and a "
              f"page watching {watched:.2f} ms ({watched - alone:+.2f} ms); launched from the page "
              f"{page:.2f} ms ({page - alone:+.2f} ms) |",
              f"| the same, `necroflow run` process wall per job (start-up and loading included) | alone "
              f"{cli_alone:.2f} ms; watched {cli_watched:.2f} ms ({cli_watched - cli_alone:+.2f} ms) |",
              f"| CPU the watchers spent during that run, per job | GUI server "
              f"{_per_job(ov['watched'], 'server_cpu', jobs_over, 1e6):.0f} µs, browser "
              f"{_per_job(ov['watched'], 'browser_cpu', jobs_over, 1e6):.0f} µs (the run itself: "
              f"{_per_job(ov['alone'], 'run_cpu', jobs_over):.2f} ms CPU per job) |", ""]
    walls = {m: ", ".join(f"{x['run']:.2f}" for x in ov[m]) for m in ov}
    lines += ["The overhead runs' own durations (s): " + "; ".join(f"{m} {w}" for m, w in walls.items()) + ".", ""]
    return "\n".join(lines)


def machine_info(browser: Any) -> dict[str, str]:
    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    return {"date": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "git": git or "?", "chromium": browser.version,
            "machine": f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                       f"load average {os.getloadavg()[0]:.1f} at the start"}


def write_section(results_md: Path, section: str) -> None:
    """Put the GUI section into bench/results.md in place of the old one (bench/run.py keeps it)."""
    text = results_md.read_text() if results_md.exists() else "# necroflow benchmark results\n"
    m = re.search(rf"^{re.escape(SECTION)}$.*?(?=^## |\Z)", text, re.M | re.S)
    text = text[:m.start()] + section + text[m.end():] if m else text.rstrip("\n") + "\n\n" + section
    results_md.write_text(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, a smoke test in well under a minute")
    ap.add_argument("--workdir", type=Path, default=BENCH / "work" / "gui")
    ap.add_argument("--open-samples", type=int, default=3333, help="N of the big DAG (3N+1 jobs)")
    ap.add_argument("--overhead-samples", type=int, default=1000, help="N of the overhead runs")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of the overhead runs and page loads")
    ap.add_argument("--rate", type=float, default=4000, help="events per second of the burst")
    ap.add_argument("--results", type=Path, help="markdown output (default: the GUI section of bench/results.md; "
                                                  "WORKDIR/results-quick.md with --quick)")
    args = ap.parse_args(argv)
    if args.quick:
        args.open_samples, args.overhead_samples, args.reps, args.rate = 110, 20, 1, 2000
    return args


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    args = parse_args(argv)
    t0 = time.monotonic()
    work = args.workdir.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    big, small = job_file(work, args.open_samples), job_file(work, args.overhead_samples)
    res: dict[str, Any] = {"sizes": {"open": args.open_samples, "overhead": args.overhead_samples}}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        info = machine_info(browser)
        log(f"open: {3 * args.open_samples + 1} jobs")
        res["open"] = scenario_open(browser, big, work / "open", max(2, args.reps))
        log("burst of events")
        res["burst"] = scenario_burst(browser, big, work / "burst", args.rate)
        log("a terminal run with the page open")
        res["run"] = scenario_run(browser, big, work / "run")
        res["overhead"] = scenario_overhead(browser, small, work / "overhead", args.reps)
        browser.close()
    res["total_s"] = time.monotonic() - t0
    command = "python bench/gui.py" + (" --quick" if args.quick else "")
    section = render(res, info, command)
    (work / ("results-quick.json" if args.quick else "results.json")).write_text(json.dumps(res, indent=1))
    out = args.results or (work / "results-quick.md" if args.quick else BENCH / "results.md")
    if out.name == "results.md" and not args.quick:
        write_section(out, section)
    else:
        out.write_text(section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
