"""The live feed of the GUI: what changed in the outdir, pushed to every open page.

One thread tails ``.rip/events.log`` (written by any run on the outdir: this GUI's, or a
``necroflow run`` in a terminal) a few times a second, updates the model's live states, and
hands each event to every subscriber (a page's server-sent-events stream).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from ..store import EventTail
from .model import GuiModel

POLL = 0.2  # seconds between looks at the log: a change shows within well under a second
RUN_ENDS = frozenset({"succeeded", "failed", "cancelled"})
BACKLOG = 50_000  # events queued for one page that does not read (a sleeping tab): then it is dropped


DROPPED: dict[str, Any] = {"dropped": True}  # the marker that ends a stream that fell too far behind


class Feed:
    def __init__(self, model: GuiModel) -> None:
        self.model = model
        self.tail = EventTail(model.outdir.rip, from_end=True)
        self._subs: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="necroflow-gui-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(POLL):
            self.poll()

    def poll(self) -> None:
        for ev in self.tail.read():
            if "job" in ev:
                self.model.saw(ev)
                self.publish({"job": ev["job"], "state": ev["state"], "run": ev.get("run"), "t": ev.get("t")})
            else:
                if ev["state"] in RUN_ENDS:
                    self.model.replan()
                self.publish({"outdir_run": ev.get("run"), "state": ev["state"]})

    def publish(self, event: dict[str, Any]) -> None:
        with self._lock:
            subs = list(self._subs)
        for loop, q in subs:
            if q.qsize() >= BACKLOG:  # its stream ends; the page reconnects and reloads every state
                self.unsubscribe((loop, q))
                loop.call_soon_threadsafe(q.put_nowait, DROPPED)
                continue
            try:
                loop.call_soon_threadsafe(q.put_nowait, event)
            except RuntimeError:  # that page's loop is gone
                self.unsubscribe((loop, q))

    def subscribe(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]:
        sub = (asyncio.get_running_loop(), asyncio.Queue[dict[str, Any]]())
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]) -> None:
        with self._lock:
            self._subs.discard(sub)
