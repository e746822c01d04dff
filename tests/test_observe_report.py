"""The HTML report, opened in a real headless Chromium: it renders, one bar per job, no console errors."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from test_observe_example import build_dag, ensure_apt  # noqa: E402

from necroflow.progress import SilentReporter  # noqa: E402
from necroflow.report import JobRecord, assign_slots, collect_jobs, sessions, write_report  # noqa: E402
from necroflow.report_svg import FAILED_OUTLINE, _dur  # noqa: E402

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]


def chromium(page: Path, profile: Path, *extra: str, fragment: str = "") -> subprocess.CompletedProcess[str]:
    exe = shutil.which("chromium") or ensure_apt("chromium", "chromium")
    cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri() + fragment]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(profile)})


def console_messages(stderr: str) -> list[str]:
    """Chromium logs every console message (errors, CSP violations, failed loads) as CONSOLE lines."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.srcs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for k, v in attrs:
            if k == "href" and v is not None:
                self.hrefs.append(v)
            if k == "src" and v is not None:
                self.srcs.append(v)


def _run_example(out: Path) -> None:
    # s2's alignment fails, so the report has a failed job, its log, and jobs never started
    dag = build_dag(out, sleep=0.2, align_cmd="grep -q s2_1 {reads} && exit 3; cat {reads} {index} > {aligned}")
    with pytest.raises(ExceptionGroup):
        dag.execute(progress=SilentReporter(), keep_going=True, resource_caps={"threads": 2})


def test_report_renders_in_chromium_with_one_bar_per_job(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run_example(out)
    report = write_report(out, tmp_path / "site" / "report.html")
    text = report.read_text()
    # self-contained: nothing to fetch, every link relative and pointing at a real file
    links = _Links()
    links.feed(text)
    assert links.srcs == []
    assert re.findall(r"https?://[^\s\"'<>]+", text) == ["http://www.w3.org/2000/svg"] * text.count("<svg ")
    for href in links.hrefs:
        if href.startswith("data:"):
            continue
        assert not href.startswith("/") and "://" not in href, href
        target = (report.parent / html.unescape(href)).resolve()
        assert target.exists(), f"dangling link {href}"
    assert sum(1 for h in links.hrefs if h.endswith("job.log")) == 9  # 3 fetch, index, 3 align, 2 count

    r = chromium(report, tmp_path / "profile", "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    assert console_messages(r.stderr) == []
    m = re.search(r'data-rendered="([^"]*)"', r.stdout)
    assert m, "the report's script did not run"
    rendered = json.loads(html.unescape(m.group(1)))
    # ran: 3 fetch + index + 3 align (one failed) + 2 count; table and one count never started
    assert {k: rendered[k] for k in ("bars", "nodes", "rows", "dagView")} == {
        "bars": 9, "nodes": 9, "rows": 9, "dagView": "jobs"}
    assert 300 < rendered["dagWidth"] <= rendered["panelWidth"] and rendered["dagScale"] == 1  # fits, unshrunk
    assert r.stdout.count('class="bar"') == 9
    assert "failed" in r.stdout and "up_to_date" in r.stdout
    # run through the Python API: no combo folders, so no job is known to serve a combo
    assert r.stdout.count('<td class="combos muted"') == 9
    assert "<b>sample</b>=s1" in r.stdout and "<b>ref</b>=hg38" in r.stdout  # params
    # the failed alignment's bar has the failed outline, and the legend says what it means
    failed = re.findall(r'<rect class="bar"[^>]*data-state="failed"[^>]*>', r.stdout)
    assert len(failed) == 1 and f'stroke="{FAILED_OUTLINE}"' in failed[0], failed
    assert re.search(r'id="rule-legend".*failed</span>', r.stdout)

    shot = tmp_path / "shot.png"
    r = chromium(report, tmp_path / "profile2", "--window-size=1300,1500", f"--screenshot={shot}")
    assert r.returncode == 0 and console_messages(r.stderr) == []
    assert shot.stat().st_size > 20_000  # a blank page is a few KB


def test_report_with_a_dag_shows_jobs_that_have_not_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_dag(out).execute(progress=SilentReporter())
    dag = build_dag(out, ref="mm10")
    report = write_report(out, out / "report.html", dag=dag)
    recs = collect_jobs(out, dag)
    assert len(recs) == 11
    states = sorted(r.state for r in recs)
    assert states.count("missing") == 8 and states.count("up_to_date") == 3
    text = report.read_text()
    assert "8 job(s) have no recorded start/end" in text
    r = chromium(report, tmp_path / "profile", "--dump-dom")
    assert console_messages(r.stderr) == []
    m = re.search(r'data-rendered="([^"]*)"', r.stdout)
    assert m and json.loads(html.unescape(m.group(1)))["bars"] == 3


def test_report_without_records_still_renders(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    report = write_report(tmp_path / "empty", tmp_path / "r.html")
    assert "No job has recorded times yet." in report.read_text()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_report(tmp_path / "nope", tmp_path / "r.html")


def _rec(key: str, start: float, end: float) -> JobRecord:
    return JobRecord(key=key, rule="r", dir=Path("/nonexistent"), state="up_to_date",
                     metrics={"start": start, "end": end})


@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0.01, 20)), max_size=40))
def test_slots_never_overlap_and_match_peak_concurrency(spans: list[tuple[float, float]]) -> None:
    recs = [_rec(f"r/{i:016x}", s, s + d) for i, (s, d) in enumerate(spans)]
    slots = assign_slots(recs)
    assert set(slots) == {r.key for r in recs}
    for a in recs:
        for b in recs:
            if a.key < b.key and slots[a.key] == slots[b.key]:
                assert a.end <= b.start or b.end <= a.start  # type: ignore[operator]
    # interval partitioning is optimal: slots used == most jobs running at one instant
    events = sorted([(r.start, 1) for r in recs] + [(r.end, -1) for r in recs], key=lambda e: (e[0], e[1]))
    peak = cur = 0
    for _, d in events:
        cur += d
        peak = max(peak, cur)
    assert len(set(slots.values())) == peak


def test_sessions_split_on_long_pauses() -> None:
    recs = [_rec("a/0", 0, 10), _rec("a/1", 5, 400), _rec("a/2", 750, 760), _rec("a/3", 2000, 2001)]
    assert [[r.key for r in s] for s in sessions(recs)] == [["a/0", "a/1"], ["a/2"], ["a/3"]]


def _tagged(key: str, start: float, end: float, run_id: str | None) -> JobRecord:
    rec = _rec(key, start, end)
    if run_id is not None:
        rec.metrics["run_id"] = run_id
    return rec


def test_sessions_follow_the_run_id_and_fall_back_to_pauses_without_one() -> None:
    recs = [_tagged("a/0", 0, 0.1, "r1"), _tagged("a/1", 0.2, 0.3, "r2"),  # 0.1 s apart: still two runs
            _tagged("a/2", 5000, 5001, "r2"),  # one run however long it waited (a cluster queue)
            _tagged("b/0", 9000, 9001, None), _tagged("b/1", 9002, 9003, None),  # written before run ids
            _tagged("b/2", 20000, 20001, None)]
    assert [[r.key for r in s] for s in sessions(recs)] == [["a/0"], ["a/1", "a/2"], ["b/0", "b/1"], ["b/2"]]


def _report_data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert m, "no report-data block"
    return json.loads(m.group(1))


def test_two_quick_runs_are_two_runs_in_the_report(tmp_path: Path) -> None:
    """Two short runs seconds apart used to be one "run" spanning both (the pause included)."""
    out = tmp_path / "out"
    build_dag(out).execute(progress=SilentReporter())
    time.sleep(1.5)
    second = build_dag(out, lines=4)  # every job but the index runs again, in new folders
    ran = second.execute(progress=SilentReporter()).ran
    metrics = [json.loads((out / key / ".rip" / "metrics.json").read_text()) for key in ran]
    span = max(m["end"] for m in metrics) - min(m["start"] for m in metrics)
    report = write_report(out, tmp_path / "report.html")
    r = chromium(report, tmp_path / "profile", "--dump-dom")
    assert r.returncode == 0 and console_messages(r.stderr) == []
    card = re.search(r"<b>([^<]*)</b>last run", r.stdout)
    assert card and card.group(1) == _dur(span), f"last run {card and card.group(1)}, not {_dur(span)}"
    assert r.stdout.count('class="muted run"') == 2 and "run 2 of 2" in r.stdout
    runs = _report_data(r.stdout)["runs"]
    assert [run["jobs"] for run in runs] == [11, len(ran)] == [11, 10]
    assert len({run["run_id"] for run in runs}) == 2 and all(run["run_id"] for run in runs)
    assert runs[-1]["seconds"] == pytest.approx(span)
