"""Signals during a run: SIGINT, SIGTERM and SIGHUP stop the run, but only where it is safe.

A signal interrupts the run loop only while it waits for an event.  Anywhere else (between
starting a process and the backend registering it, between a job's end and its record) an
exception would leave a job nobody stops or a count nobody decrements; there the signal is
noted and raised at the next wait.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from .reporting import Interrupted

T = TypeVar("T")


class SignalGuard:
    """``with SignalGuard() as guard: ... with guard.interruptible(): wait()``."""

    def __init__(self) -> None:
        self.pending: int | None = None
        self._interruptible = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is not threading.main_thread():
            return self
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            current = signal.getsignal(s)
            if current == signal.SIG_IGN:
                continue  # nohup, or a background job of a non-interactive shell: respect it
            if s == signal.SIGINT and current is not signal.default_int_handler:
                continue  # the caller has its own Ctrl-C handling
            try:
                self._old[s] = signal.signal(s, self._on_signal)
            except (ValueError, OSError):
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            try:
                signal.signal(s, h)
            except (ValueError, OSError):
                pass
        self._old.clear()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.pending is None:
            self.pending = signum
        if self._interruptible:
            self._interruptible = False
            self.raise_pending()

    def raise_pending(self) -> None:
        signum = self.pending
        if signum is not None:
            self.pending = None
            raise KeyboardInterrupt if signum == signal.SIGINT else Interrupted(signum)

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """The one place a signal may interrupt: a pending one is raised on entry."""
        self._interruptible = True
        try:
            self.raise_pending()
            yield
        finally:
            self._interruptible = False


#: How often a waiting run loop wakes to run signal handlers.  Python runs them only on the
#: main thread, and a blocking ``Queue.get()`` is woken only by a signal the kernel happened
#: to deliver to that thread; one delivered to a backend's thread would wait for the next event.
WAKE_INTERVAL = 0.2


def wait_event(events: queue.Queue[T]) -> T | None:
    """The next event, or None after ``WAKE_INTERVAL`` (so pending signal handlers run)."""
    try:
        return events.get(timeout=WAKE_INTERVAL)
    except queue.Empty:
        return None
