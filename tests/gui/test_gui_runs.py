"""Runs and the live feed, with a real server and real ``necroflow`` processes: a run from a
terminal shows up on /api/events as it goes; a GUI run holds the outdir lock against the
terminal and the terminal's against the GUI; cancelling stops the jobs (interrupted); the
``necroflow gui`` command itself."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any

from gui_helpers import NECROFLOW, client, wait_until


def test_a_terminal_run_shows_live_on_the_event_stream(make_gui: Any, serve: Any, events: Any,
                                                       terminal: Any) -> None:
    s = make_gui(secs=0.3)
    served = serve(s)
    ev = events(served)
    assert ev.headers["content-type"].startswith("text/event-stream")
    c = client(s, headers=s.auth)
    assert {j["state"] for j in c.get("/api/jobs").json()} == {"missing"}
    p = terminal("run", "-q", "--outdir", s.outdir, s.job)
    started = ev.wait(lambda e: "outdir_run" in e and e["state"] == "running", what="the run's start")
    for key in s.keys():
        ev.wait(lambda e, key=key: e.get("job") == key and e["state"] == "running", what=f"{key} running")
        done = ev.wait(lambda e, key=key: e.get("job") == key and e["state"] == "up_to_date", what=f"{key} done")
        assert done["run"] == started["outdir_run"] and time.time() - done["t"] < 5
    ev.wait(lambda e: e.get("outdir_run") == started["outdir_run"] and e["state"] == "succeeded", what="the end")
    assert p.wait(30) == 0, p.stderr.read() if p.stderr else ""
    assert {j["state"] for j in c.get("/api/jobs").json()} == {"up_to_date"}
    assert c.get("/api/status").json()["locked_by"] is None


def test_a_gui_run_holds_the_lock_and_cancel_interrupts_its_jobs(make_gui: Any, serve: Any, events: Any,
                                                                 terminal: Any) -> None:
    s = make_gui(["one", "two"], secs=60)
    served = serve(s)
    ev = events(served)
    c = client(s, headers=s.auth)
    r = c.post("/api/runs", json={"cores": 2})
    assert r.status_code == 200 and r.json()["to_run"] == {"missing": 4}, r.text
    run_id = r.json()["id"]
    ev.wait(lambda e: e.get("run") == run_id and e["state"] == "running" and "job" not in e, what="the run event")
    slow = s.keys("slow")
    for key in slow:
        ev.wait(lambda e, key=key: e.get("job") == key and e["state"] == "running", what=f"{key} running")
    status = c.get("/api/status").json()
    assert status["locked_by"] == os.getpid() and status["active_run"]["id"] == run_id
    assert c.get(f"/api/jobs/{slow[0]}").json()["state"] == "running"
    wait_until(lambda: "start one" in c.get(f"/api/jobs/{slow[0]}/log").text
               or "start one" in c.get(f"/api/jobs/{slow[1]}/log").text, 10, "the running job's log")

    again = c.post("/api/runs", json={})
    assert again.status_code == 409 and "still going" in again.json()["error"]
    cli = subprocess.run([NECROFLOW, "run", "-q", "--outdir", str(s.outdir), str(s.job)], capture_output=True,
                         text=True, timeout=60)
    assert cli.returncode == 3, cli.stdout + cli.stderr
    assert f"another necroflow process (pid {os.getpid()}) is running" in cli.stderr

    t0 = time.monotonic()
    assert c.post(f"/api/runs/{run_id}/cancel").status_code == 200
    ev.wait(lambda e: e.get("run") == run_id and e["state"] == "cancelled", what="the run cancelled")
    assert time.monotonic() - t0 < 10, "sleep 60 was not stopped"
    for key in slow:
        ev.wait(lambda e, key=key: e.get("job") == key and e["state"] == "interrupted", what=f"{key} interrupted")
        d = c.get(f"/api/jobs/{key}").json()
        assert d["recorded_state"] == "interrupted" and d["state"] == "interrupted", d
        assert d["cause"]["kind"] == "left_state" and d["cause"]["detail"] == "interrupted"
    done = c.get(f"/api/runs/{run_id}").json()
    assert done["state"] == "cancelled" and done["ran"] == [] and done["failed"] == []
    assert c.get("/api/status").json() == {"outdir": str(s.outdir), "locked_by": None, "active_run": None}
    assert {c.get(f"/api/jobs/{k}").json()["state"] for k in s.keys("make")} == {"up_to_date"}


def test_a_gui_run_while_the_terminal_holds_the_lock_is_409(make_gui: Any, serve: Any, events: Any,
                                                            terminal: Any) -> None:
    s = make_gui(["one"], secs=60)
    served = serve(s)
    ev = events(served)
    c = client(s, headers=s.auth)
    c.get("/api/jobs")  # planned before the terminal run starts: its states come from the feed
    p = terminal("run", "-q", "--outdir", s.outdir, s.job)
    (slow,) = s.keys("slow")
    ev.wait(lambda e: e.get("job") == slow and e["state"] == "running", what="the terminal's job running")
    assert c.get("/api/status").json()["locked_by"] == p.pid
    r = c.post("/api/runs", json={})
    assert r.status_code == 409 and f"necroflow process {p.pid}" in r.json()["error"], r.text
    assert c.post("/api/runs", json={"dry_run": True}).status_code == 200  # a preview still works
    assert c.get(f"/api/jobs/{slow}").json()["state"] == "running"
    os.killpg(p.pid, signal.SIGINT)  # Ctrl-C in the terminal
    assert p.wait(30) == 130
    ev.wait(lambda e: e.get("job") == slow and e["state"] == "interrupted", what="the job interrupted")
    ev.wait(lambda e: "outdir_run" in e and e["state"] == "cancelled", what="the terminal run's end")
    wait_until(lambda: c.get(f"/api/jobs/{slow}").json()["state"] == "interrupted", 5, "the new plan")
    assert c.get("/api/status").json()["locked_by"] is None


def test_the_gui_command_prints_its_url_and_stops_on_ctrl_c(make_gui: Any, terminal: Any, tmp_path: Any) -> None:
    import httpx

    s = make_gui()
    p = terminal("gui", "--port", "0", "--outdir", s.outdir, s.job)
    assert p.stdout is not None
    line = p.stdout.readline()
    assert line.startswith("necroflow gui: http://127.0.0.1:"), line + (p.stderr.read() if p.stderr else "")
    url = line.split(": ", 1)[1].strip()
    base, token = url.split("/?token=")
    assert httpx.get(url).status_code == 200
    assert httpx.get(f"{base}/api/combos").status_code == 401
    assert len(httpx.get(f"{base}/api/combos", params={"token": token}).json()) == 3
    os.killpg(p.pid, signal.SIGINT)
    assert p.wait(15) == 0
    nodir = subprocess.run([NECROFLOW, "gui", str(s.job)], capture_output=True, text=True, timeout=60,
                           env={k: v for k, v in os.environ.items() if k != "NECROFLOW_OUTDIR"})
    assert nodir.returncode == 2 and "--outdir" in nodir.stderr
