"""Recording a finished job: verify its outputs, hash them, write its records (state last).

A few small files are recorded on the run loop's thread: that costs less than handing them
to a thread and waiting for the answer, and the child they make ready is seen by the
scheduler at once.  Big outputs are hashed on recorder threads, so cores do not sit idle
while a 100 GB BAM is read; their outcome arrives later as an event.
"""

from __future__ import annotations

import os
import queue
import stat
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .store import NodeFolder, hash_path, signature
from .store.hashing import fs_time_ns, signature_fields

if TYPE_CHECKING:
    from .backends.base import TaskResult
    from .nodes import Job

INLINE_HASH_BYTES = 1 << 20


@dataclass(slots=True)
class Outcome:
    """A recorded job: ok, or the reason it failed."""

    job: Job
    result: TaskResult
    ok: bool
    reason: str = ""
    hashes: dict[str, str] = field(default_factory=dict)
    record: dict[str, Any] | None = None  # written, waiting for the state that vouches for it


def small_outputs(folder: NodeFolder, files: list[str]) -> bool:
    """True when every output is a plain file and together they are under 1 MiB."""
    total = 0
    for fn in files:
        try:
            st = os.stat(folder.file(fn))
        except OSError:
            continue  # missing: finalise reports it
        if not stat.S_ISREG(st.st_mode):
            return False
        total += st.st_size
    return total <= INLINE_HASH_BYTES


def finalise(job: Job, folder: NodeFolder, result: TaskResult, consumed: dict[str, Any],
             provenance: dict[str, Any], threads: int = 1) -> Outcome:
    """Verify, hash and record one finished job; never raises (a failed write fails the job)."""
    try:
        metrics = dict(result.metrics)
        metrics.setdefault("exit_code", result.returncode)
        metrics.setdefault("threads", threads)
        if result.signal is not None:
            metrics["signal"] = result.signal
        if not result.ok:
            folder.record_failure(metrics, provenance)
            return Outcome(job, result, False, result.message or "failed")
        files = job.rule.filenames
        now = fs_time_ns()  # before the stats: the racy rule compares stamps with this
        sigs = {fn: signature(folder.file(fn)) for fn in files}  # None: absent
        missing = [fn for fn, sig in sigs.items() if sig is None]
        if missing:
            msg = f"exited 0 but did not write declared output(s): {', '.join(missing)}"
            folder.record_failure(metrics, provenance, note=msg)
            return Outcome(job, result, False, msg)
        outputs: dict[str, dict[str, Any]] = {}
        for fn, sig in sigs.items():
            assert sig is not None
            outputs[fn] = {"sha256": hash_path(folder.file(fn)), **signature_fields(sig, now)}
        record = folder.record_success(job.key, job.fingerprint, outputs, consumed, metrics, provenance)
        return Outcome(job, result, True, hashes={fn: o["sha256"] for fn, o in outputs.items()}, record=record)
    except Exception as e:  # a failed record write must surface, not hang the loop
        try:
            folder.write_state("failed")
        except OSError:
            pass
        why = f"could not record results: {e}"
        if not result.ok:  # keep the job's own failure first: it is usually the cause
            why = f"{result.message or 'failed'}; {why}"
        return Outcome(job, result, False, why)


class Recorder:
    """Records finished jobs inline (small outputs) or on two threads (big ones)."""

    def __init__(self, events: queue.Queue[Any]) -> None:
        self.events = events
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="necroflow-record")
        self.futures: set[Future[None]] = set()
        self.pending = 0  # recordings on threads whose outcome has not been handled yet

    def record(self, job: Job, folder: NodeFolder, result: TaskResult, consumed: dict[str, Any],
               provenance: dict[str, Any], threads: int = 1) -> Outcome | None:
        """The outcome now, or None when it will arrive on the event queue."""
        if not result.ok or small_outputs(folder, job.rule.filenames):
            return finalise(job, folder, result, consumed, provenance, threads)
        self.pending += 1
        fut = self.pool.submit(self._post, job, folder, result, consumed, provenance, threads)
        self.futures.add(fut)
        fut.add_done_callback(self.futures.discard)
        return None

    def _post(self, *args: Any) -> None:
        self.events.put(finalise(*args))

    def took(self) -> None:
        """The loop handled one outcome that arrived as an event."""
        self.pending -= 1

    def drain(self) -> None:
        """Wait for every recording in flight (they land; their events stay queued)."""
        wait_futures(list(self.futures))

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)
