"""The page in a real browser (Debian's Chromium under Playwright): it opens with the token and
draws the DAG, shows a job's command, previews and launches a run and turns every node up to
date without a reload, cancels a run of sleep jobs (interrupted), shows a terminal's run live
with the lock, and keeps a big DAG usable through the rule graph.  No console error (a CSP
violation is one) is allowed anywhere."""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path
from typing import Any

from gui_helpers import Page, wait_until
from screenshot import take


def _no_reload(p: Page) -> None:
    assert p.js("() => performance.getEntriesByType('navigation').length") == 1
    assert p.js("() => window.keptAcrossTheRun") is True


def test_the_page_draws_the_dag_and_shows_a_jobs_command(make_gui: Any, serve: Any, open_page: Any) -> None:
    s = make_gui()
    p = open_page(serve(s))
    assert "token" not in p.page.url  # taken out of the address bar once read
    states = p.states()
    assert sorted(states) == sorted(s.keys()) and set(states.values()) == {"missing"}
    assert p.page.locator("#dag .edges path").count() == 3
    assert p.page.inner_text("#legend li[data-state=missing]").split() == ["missing", "6"]
    assert p.page.inner_text("#view-title") == "everything: 6 jobs"
    assert p.page.locator("#combos li.combo").count() == 4  # everything + 3 combos
    slow = s.keys("slow")[0]
    p.page.click(f"#dag .node[data-id='{slow}']")
    p.page.wait_for_selector("#detail-command")
    assert p.page.inner_text("#detail-command") == s.gui.model.dag.command(s.gui.model.by_key[slow])
    assert "output absent" in p.page.inner_text("#detail-reason")
    assert p.page.inner_text("#detail-state") == "missing"
    assert "word" in p.page.inner_text("#detail-params") and p.page.inner_text("#detail-metrics") == "not run yet"
    p.page.locator("#combos li.combo a").nth(1).click()  # one combo: its two jobs
    wait_until(lambda: len(p.states()) == 2, 10, "the combo's graph")
    assert p.page.inner_text("#launch-what").startswith("Run the combo ")
    p.page.reload()  # the cookie (the token left the URL) and the tab's stored token still open it
    p.wait("() => window.necroflow && window.necroflow.ready", "the reloaded page")
    assert not p.errors, p.errors


def test_a_run_from_the_page_turns_every_node_up_to_date(make_gui: Any, serve: Any, open_page: Any) -> None:
    s = make_gui(secs=0.2)
    p = open_page(serve(s))
    p.js("() => { window.keptAcrossTheRun = true; }")
    assert p.page.is_disabled("#run")  # a preview first
    p.page.click("#preview")
    p.wait("() => document.querySelector('#preview-text').textContent.includes('would run')", "the preview")
    assert p.page.inner_text("#preview-text") == "6 jobs would run: 6 missing"
    p.page.fill("#cores", "2")  # a changed setting asks for a new preview
    assert p.page.is_disabled("#run")
    p.page.check("#keep-going")
    p.page.click("#preview")
    p.wait("() => !document.querySelector('#run').disabled", "the run button")
    p.page.click("#run")
    wait_until(lambda: set(p.states().values()) == {"up_to_date"}, 30, "every node up to date")
    p.wait("() => document.querySelector('#run-text').textContent.includes('succeeded')", "the run's end")
    assert re.fullmatch(r"Run r\d+ succeeded: 6 jobs ran, 0 failed\.", p.page.inner_text("#run-text"))
    assert p.page.inner_text("#legend li[data-state=up_to_date]").split() == ["up", "to", "date", "6"]
    _no_reload(p)
    slow = s.keys("slow")[0]
    p.page.click(f"#dag .node[data-id='{slow}']")
    p.page.wait_for_selector("#detail-outputs a")
    assert "wall" in p.page.inner_text("#detail-metrics") and "peak memory" in p.page.inner_text("#detail-metrics")
    href = p.page.get_attribute("#detail-outputs a", "href")
    assert href == f"/api/files/{slow}/copy.txt"
    word = s.gui.model.by_key[slow].params["word"]
    assert p.js(f"() => fetch('{href}').then(r => r.text())") == f"{word}\n"  # the link opens the file
    wait_until(lambda: "done" in p.page.inner_text("#detail-log"), 10, "the log")
    assert p.js("() => window.necroflow.stats.events") >= 6  # job changes applied (a job's running and
    # up-to-date events in one batch count once)
    assert not p.errors, p.errors


def test_cancel_from_the_page_interrupts_the_sleep_jobs(make_gui: Any, serve: Any, open_page: Any) -> None:
    s = make_gui(["one", "two"], secs=60)
    p = open_page(serve(s))
    p.page.click("#preview")
    p.wait("() => !document.querySelector('#run').disabled", "the run button")
    p.page.click("#run")
    slow = s.keys("slow")
    wait_until(lambda: all(p.states()[k] == "running" for k in slow), 20, "the sleep jobs running")
    p.page.click(f"#dag .node[data-id='{slow[0]}']")
    wait_until(lambda: "start" in p.page.inner_text("#detail-log"), 10, "the running job's log")
    assert p.page.inner_text("#log-follow") == "following…"
    assert p.page.is_disabled("#run")
    p.page.click("#cancel")
    wait_until(lambda: all(p.states()[k] == "interrupted" for k in slow), 15, "the jobs interrupted")
    p.wait("() => document.querySelector('#run-text').textContent.includes('cancelled')", "the run cancelled")
    assert "marked interrupted" in p.page.inner_text("#run-text")
    for key in slow:
        assert s.gui.model.outdir.node(key).state() == "interrupted"
    wait_until(lambda: p.page.inner_text("#detail-state") == "interrupted", 10, "the panel's state")
    assert p.page.inner_text("#log-follow") == ""
    assert "interrupted" in p.page.inner_text("#detail-reason")
    assert not p.errors, p.errors


def test_a_terminal_run_shows_live_with_the_lock(make_gui: Any, serve: Any, open_page: Any, terminal: Any) -> None:
    s = make_gui(["one", "two"], secs=1.5)
    p = open_page(serve(s))
    p.js("() => { window.keptAcrossTheRun = true; }")
    make = s.keys("make")[0]
    p.page.click(f"#dag .node[data-id='{make}']", modifiers=["Shift"])  # a pick, for later
    assert p.page.inner_text("#launch-what") == "Run 1 picked job and what they need."
    proc = terminal("run", "-q", "--outdir", s.outdir, s.job)
    wait_until(lambda: "running" in p.states().values(), 20, "a running node")
    p.wait("() => !document.querySelector('#lock-banner').hidden", "the lock banner", timeout=10)
    assert f"locked by necroflow process {proc.pid}" in p.page.inner_text("#lock-banner")
    p.page.click("#preview")
    p.wait("() => document.querySelector('#preview-text').textContent.includes('would run')", "the preview")
    assert p.page.is_disabled("#run")
    assert proc.wait(30) == 0
    wait_until(lambda: set(p.states().values()) == {"up_to_date"}, 20, "the terminal's jobs done")
    p.wait("() => document.querySelector('#lock-banner').hidden", "the banner gone", timeout=10)
    assert p.page.locator(f"#dag .node.target[data-id='{make}']").count() == 1
    _no_reload(p)
    assert not p.errors, p.errors


def test_a_big_dag_is_a_rule_graph_whose_rules_expand(make_gui: Any, serve: Any, open_page: Any) -> None:
    s = make_gui([f"w{i:03d}" for i in range(160)])  # 320 jobs
    p = open_page(serve(s))
    assert p.states() == {"make": "missing", "slow": "missing"}
    assert "160 jobs" in (p.page.text_content("#dag .node[data-id=make]") or "")
    p.page.click("#dag .node[data-id=slow]")
    p.page.wait_for_selector("#rule-jobs .row")
    assert "160 jobs" in p.page.inner_text("#panel-body")
    rows = p.page.locator("#rule-jobs .row").count()
    assert 5 < rows < 60  # only the rows in sight are drawn
    p.page.locator("#rule-jobs .row").nth(3).click()
    p.page.wait_for_selector("#detail-command")
    assert p.page.inner_text("#panel-body h2").startswith("slow/")
    p.page.click("#panel-body a.back")
    p.page.click("#panel-body button:has-text('Draw these 160 jobs')")
    wait_until(lambda: len(p.states()) == 160, 10, "the rule's jobs drawn")
    p.page.click("#back")
    wait_until(lambda: set(p.states()) == {"make", "slow"}, 10, "the rule graph again")
    p.page.click("#preview")
    p.wait("() => !document.querySelector('#run').disabled", "the run button")
    p.page.click("#run")
    wait_until(lambda: p.states() == {"make": "up_to_date", "slow": "up_to_date"}, 60, "the rules up to date")
    assert p.page.inner_text("#legend li[data-state=up_to_date]").split()[-1] == "320"
    assert not p.errors, p.errors


def test_the_readme_screenshot(browser: Any, tmp_path: Path) -> None:
    """``python tests/gui/screenshot.py docs/img/gui.png`` makes the README's picture this way;
    NECROFLOW_GUI_SCREENSHOT=PATH makes this test write it there too."""
    png = Path(os.environ.get("NECROFLOW_GUI_SCREENSHOT", tmp_path / "gui.png"))
    take(browser, png, tmp_path)
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (1600, 840)
