"""Helpers and fixtures of the GUI tests: job files for ``gui_flow.py``, a built GUI, the GUI
served by a real uvicorn on a free port in a thread, a reader of its event stream, and Debian's
Chromium driven by Playwright (Playwright's own browser download is never used).

``conftest.py`` registers the fixtures; tests import the helpers from here, because in a
whole-suite run the name ``conftest`` belongs to another folder's module."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from test_observe_example import ensure_apt  # noqa: E402

from necroflow.gui import Gui, build  # noqa: E402
from necroflow.jobs import load_jobs  # noqa: E402
from necroflow.schemas import load_settings  # noqa: E402

FLOW = Path(__file__).resolve().parent / "gui_flow.py"
NECROFLOW = str(Path(sys.executable).parent / "necroflow")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def job_file(folder: Path, words: list[str], secs: float = 0, name: str = "words") -> Path:
    """A job file of ``gui_flow.pipeline`` over ``words`` (one combo per word, two jobs each)."""
    path = folder / f"{name}.toml"
    path.write_text(f'".pipeline" = "{FLOW}:pipeline"\n".requests" = ["copy"]\n'
                    f"word__grid = {json.dumps(words)}\nsecs = {secs}\n")
    return path


@dataclass
class Setup:
    gui: Gui
    job: Path
    outdir: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.gui.token}"}

    def keys(self, rule: str | None = None) -> list[str]:
        return [k for k, j in self.gui.model.by_key.items() if rule is None or j.rule.name == rule]


def wait_until(pred: Callable[[], Any], timeout: float = 20, what: str = "the condition") -> Any:
    end = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def make_gui(tmp_path: Path) -> Iterator[Callable[..., Setup]]:
    """``make_gui(words, secs=0)``: job file, outdir and a built GUI on them (not served)."""
    made: list[Setup] = []

    def make(words: list[str] | None = None, secs: float = 0, outdir: Path | None = None) -> Setup:
        job = job_file(tmp_path, words or ["alpha", "beta", "gamma"], secs, name=f"words{len(made)}")
        out = outdir or tmp_path / "out"
        gui = build(load_jobs([job], out), load_settings(outdir=out))
        made.append(Setup(gui, job, out))
        return made[-1]

    yield make
    for s in made:
        s.gui.runs.stop_all(wait=30)


@dataclass
class Served:
    setup: Setup
    base: str

    @property
    def url(self) -> str:
        return f"{self.base}/?token={self.setup.gui.token}"


@pytest.fixture
def serve() -> Iterator[Callable[[Setup], Served]]:
    """``serve(setup)``: the GUI on a real uvicorn (a free loopback port, a thread), its feed on."""
    import uvicorn

    running: list[tuple[Any, threading.Thread, Setup]] = []

    def start(setup: Setup) -> Served:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        server = uvicorn.Server(uvicorn.Config(setup.gui.app, log_level="warning", lifespan="off",
                                               timeout_graceful_shutdown=1))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        setup.gui.feed.start()
        thread.start()
        wait_until(lambda: server.started, 10, "uvicorn to start")
        running.append((server, thread, setup))
        return Served(setup, f"http://127.0.0.1:{sock.getsockname()[1]}")

    yield start
    for server, thread, setup in running:
        setup.gui.runs.stop_all(wait=30)
        server.should_exit = True
        thread.join(10)
        setup.gui.feed.stop()


class Events:
    """Reads /api/events in a thread; ``wait(pred)`` returns the first event matching."""

    def __init__(self, served: Served) -> None:
        import httpx

        self.queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.client = httpx.Client(base_url=served.base, headers=served.setup.auth, timeout=None)
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.opened.wait(10), "the event stream did not open"

    def _read(self) -> None:
        try:
            with self.client.stream("GET", "/api/events") as r:
                assert r.status_code == 200, r.status_code
                self.headers = r.headers
                self.opened.set()
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        self.queue.put(json.loads(line[6:]))
        except Exception:  # closed by close()
            pass

    def wait(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 20, what: str = "an event") -> dict[str, Any]:
        end = time.monotonic() + timeout
        for ev in self.seen:
            if pred(ev):
                return ev
        while True:
            try:
                ev = self.queue.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {what} within {timeout}s; saw {self.seen[-20:]}") from None
            self.seen.append(ev)
            if pred(ev):
                return ev

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def events() -> Iterator[Callable[[Served], Events]]:
    opened: list[Events] = []

    def open_(served: Served) -> Events:
        opened.append(Events(served))
        return opened[-1]

    yield open_
    for e in opened:
        e.close()


@pytest.fixture
def terminal() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """``terminal("run", "--outdir", ...)``: ``necroflow`` as a user would type it, in its own
    session; whatever is still running at teardown gets Ctrl-C, then is killed."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str | Path) -> subprocess.Popen[str]:
        p = subprocess.Popen([NECROFLOW, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, 2)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
        p.communicate(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright (installed with apt when missing)."""
    if not os.path.exists(CHROMIUM):
        ensure_apt("chromium", "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A Playwright page on the GUI that records console errors and page errors (a CSP
    violation is one)."""

    def __init__(self, browser: Any, served: Served, width: int = 1400, height: int = 860) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.served = served
        self.page.goto(served.url)
        self.wait("() => window.necroflow && window.necroflow.ready", "the page to draw its graph")

    def js(self, expr: str) -> Any:
        return self.page.evaluate(expr)

    def wait(self, expr: str, what: str, timeout: float = 20) -> Any:
        # Playwright's wait_for_function evaluates a string, which the page's CSP forbids: poll instead
        return wait_until(lambda: self.js(expr), timeout, what)

    def states(self) -> dict[str, str]:
        return self.js("() => Object.fromEntries([...document.querySelectorAll('#dag .node')]"
                       ".map(n => [n.dataset.id, n.dataset.state]))")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Page]]:
    pages: list[Page] = []

    def open_(served: Served, **kw: int) -> Page:
        pages.append(Page(browser, served, **kw))
        return pages[-1]

    yield open_
    for p in pages:
        p.close()


def client(setup: Setup, **kw: Any) -> Any:
    """Starlette's TestClient on the GUI's app (a 500 comes back as a 500, not an exception)."""
    import warnings

    with warnings.catch_warnings():  # "install httpx2 instead": httpx is what the test extra has
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    kw.setdefault("raise_server_exceptions", False)
    return TestClient(setup.gui.app, **kw)
