"""``outdir/.rip/events.log``: every state change of a run, one JSON line each, as it happens.

Who watches an outdir (the GUI, from this process or another) tails this file instead of
stat-ing every node folder: a run appends ``{"t", "run", "job", "state"}`` when a job starts,
ends up to date, fails or is interrupted, and ``{"t", "run", "state"}`` when the run starts
and ends.  The file is only a feed: the node folders' records stay the truth, and a reader
that misses lines (the file rotated) re-reads the records.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

EVENTS_NAME = "events.log"
ROTATE_BYTES = 16 << 20  # a run starting with a bigger log moves it to events.log.1


class EventLog:
    """The writer: one append per event (a single ``write`` of one line on an O_APPEND file)."""

    def __init__(self, rip: str, run_id: str) -> None:
        self.path = f"{rip}/{EVENTS_NAME}"
        self.run_id = run_id
        self.fd: int | None = None
        try:
            if os.path.getsize(self.path) > ROTATE_BYTES:
                os.replace(self.path, self.path + ".1")
        except OSError:
            pass
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                              0o644)
        except OSError:
            self.fd = None  # a feed, not a record: a run goes on without it

    def write(self, **event: Any) -> None:
        if self.fd is None:
            return
        event = {"t": round(time.time(), 3), "run": self.run_id, **event}
        try:
            os.write(self.fd, (json.dumps(event, separators=(",", ":")) + "\n").encode())
        except OSError:
            pass

    def job(self, key: str, state: str) -> None:
        self.write(job=key, state=state)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class EventTail:
    """The reader: new events since the last call (from the start of the file at first)."""

    def __init__(self, rip: str, from_end: bool = False) -> None:
        self.path = f"{rip}/{EVENTS_NAME}"
        self.ino: int | None = None
        self.offset = 0
        self.partial = b""
        if from_end:
            try:
                st = os.stat(self.path)
                self.ino, self.offset = st.st_ino, st.st_size
            except OSError:
                pass

    def read(self) -> list[dict[str, Any]]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return []
        try:
            st = os.fstat(fd)
            if st.st_ino != self.ino or st.st_size < self.offset:  # a new or rotated log
                self.ino, self.offset, self.partial = st.st_ino, 0, b""
            data = os.pread(fd, max(0, st.st_size - self.offset), self.offset) if st.st_size > self.offset else b""
        finally:
            os.close(fd)
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        out = []
        for line in lines:
            try:
                ev = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if type(ev) is dict and type(ev.get("state")) is str:
                out.append(ev)
        return out
