"""What a hostile review of the GUI found, each closed: records read through a linked node
folder, a link swapped in after the file check, planning that held up the live feed, a page
that never reads its events, an empty filter meaning "run everything", a rebound Host name,
framing by another page."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from gui_helpers import client, wait_until

from necroflow.gui import feed as feed_module
from necroflow.gui.model import NotFound


def _run_to_end(c: Any) -> None:
    r = c.post("/api/runs", json={})
    assert r.status_code == 200, r.text
    run_id = r.json()["id"]
    wait_until(lambda: c.get(f"/api/runs/{run_id}").json()["state"] != "running", 30, "the run")


def test_a_linked_node_folder_is_not_read(make_gui: Any, tmp_path: Path) -> None:
    s = make_gui()
    c = client(s, headers=s.auth)
    _run_to_end(c)
    key = s.keys("make")[0]
    assert "word" in c.get(f"/api/jobs/{key}/log").text or c.get(f"/api/jobs/{key}").json()["metrics"]
    outside = tmp_path / "elsewhere"
    shutil.move(s.outdir / key, outside)
    (outside / ".rip" / "job.log").write_text("PRIVATE LOG OUTSIDE OUTDIR\n")
    os.symlink(outside, s.outdir / key)  # the hash folder is now a link out of the outdir
    assert c.get(f"/api/jobs/{key}/log").text == ""
    detail = c.get(f"/api/jobs/{key}").json()
    assert not detail["metrics"] and not detail["provenance"], detail
    assert not any(o["exists"] for o in detail["outputs"])


def test_a_link_swapped_in_after_the_check_is_refused(make_gui: Any, tmp_path: Path,
                                                      monkeypatch: Any) -> None:
    s = make_gui()
    c = client(s, headers=s.auth)
    _run_to_end(c)
    key = s.keys("make")[0]
    target = s.outdir / key / "word.txt"
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET\n")
    model = s.gui.model
    real_check = model._check_file

    def check_then_swap(rel: str, root: str, full: str) -> None:
        real_check(rel, root, full)  # the path passes ...
        target.unlink()
        target.symlink_to(secret)  # ... and then becomes a link out before the open

    monkeypatch.setattr(model, "_check_file", check_then_swap)
    try:
        model.file(f"{key}/word.txt")
    except NotFound:
        pass
    else:
        raise AssertionError("a file swapped for a link after the check was served")
    monkeypatch.setattr(model, "_check_file", real_check)
    r = c.get(f"/api/files/{key}/word.txt")
    assert r.status_code == 404 and "SECRET" not in r.text


def test_files_are_served_from_what_was_checked(make_gui: Any) -> None:
    s = make_gui()
    c = client(s, headers=s.auth)
    _run_to_end(c)
    key = s.keys("make")[0]
    r = c.get(f"/api/files/{key}/word.txt")
    assert r.status_code == 200 and r.content == (s.outdir / key / "word.txt").read_bytes()
    assert r.headers["content-disposition"].startswith("attachment")
    assert r.headers["content-length"] == str(len(r.content))


def test_planning_does_not_hold_up_the_live_feed(make_gui: Any, monkeypatch: Any) -> None:
    s = make_gui()
    model = s.gui.model
    model.replan()
    real_plan = model.dag.plan
    started = threading.Event()

    def slow_plan(*a: Any, **kw: Any) -> Any:
        started.set()
        time.sleep(1.5)
        return real_plan(*a, **kw)

    monkeypatch.setattr(model.dag, "plan", slow_plan)
    planner = threading.Thread(target=model.plan)
    planner.start()
    assert started.wait(10)
    key = s.keys("make")[0]
    t = time.monotonic()
    model.saw({"job": key, "state": "running"})
    took = time.monotonic() - t
    planner.join()
    assert took < 0.5, f"the feed waited {took:.2f}s for a plan"
    # an event seen while planning is newer than the plan: it stays
    assert model.state(model.by_key[key], model.plan()) == "running"


def test_a_page_that_never_reads_is_dropped(make_gui: Any, monkeypatch: Any) -> None:
    import asyncio

    s = make_gui()
    feed = s.gui.feed
    monkeypatch.setattr(feed_module, "BACKLOG", 100)

    async def never_read() -> int:
        sub = feed.subscribe()
        for i in range(150):  # the feed thread publishes while the page's loop runs
            feed.publish({"job": "x", "state": str(i)})
            await asyncio.sleep(0)
        return sub[1].qsize()

    got: list[int] = []  # in a thread of its own: Playwright may hold this thread's event loop
    runner = threading.Thread(target=lambda: got.append(asyncio.run(never_read())))
    runner.start()
    runner.join(30)
    queued = got[0]
    assert queued <= 101, queued  # the backlog, then the marker that ends its stream
    assert not feed._subs


def test_an_empty_filter_is_refused_not_run_all(make_gui: Any) -> None:
    s = make_gui()
    c = client(s, headers=s.auth)
    for body in ({"combos": []}, {"targets": []}):
        r = c.post("/api/runs", json={**body, "dry_run": True})
        assert r.status_code == 400 and "null" in r.json()["error"], r.text


def test_an_unknown_host_is_refused_and_framing_forbidden(make_gui: Any) -> None:
    s = make_gui()
    s.gui.app.hosts = frozenset({"127.0.0.1", "localhost", "::1"})  # as `necroflow gui` serves it
    c = client(s, headers=s.auth, base_url="http://127.0.0.1:8765")
    ok = c.get("/api/combos")
    assert ok.status_code == 200
    assert "frame-ancestors 'none'" in ok.headers["content-security-policy"]
    evil = c.get("/api/combos", headers={"Host": "evil.example:8765"})
    assert evil.status_code == 421 and "Host" in evil.json()["error"]
    assert evil.headers["x-content-type-options"] == "nosniff"  # refusals carry the headers too
    assert c.get("/api/combos", headers={"Host": "[::1]:8765"}).status_code == 200
