"""The ready set of a run: which jobs may start, following ``graphlib.TopologicalSorter``.

``prepare()`` once; ``get_ready()`` returns the jobs that became ready since the last call;
``done(job)`` marks a job finished (its children may become ready); ``fail(job)`` marks it
failed and returns its descendants, which will never run; ``is_active()`` says whether
anything is still ready or in progress.  O(1) work per finished edge; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .nodes import Job

_WAITING, _READY, _OUT, _DONE, _FAILED, _SKIPPED = range(6)


class ReadySet:
    def __init__(self, jobs: Iterable[Job]) -> None:
        self.jobs: dict[str, Job] = {j.fingerprint: j for j in jobs}
        self.children: dict[str, list[Job]] = {}
        self.parents: dict[str, list[Job]] = {}
        self._pending: dict[str, int] = {}
        for fp, j in self.jobs.items():
            ps = {n.job.fingerprint for _, n in j.edges if n.job.fingerprint in self.jobs}
            self.parents[fp] = [self.jobs[p] for p in ps]
            self._pending[fp] = len(ps)
            for p in ps:
                self.children.setdefault(p, []).append(j)
        self._status: dict[str, int] = dict.fromkeys(self.jobs, _WAITING)
        self._new: list[Job] = []
        self._active = 0  # ready or handed out, not yet done/failed
        self._prepared = False

    def prepare(self) -> None:
        if self._prepared:
            raise ValueError("ReadySet.prepare() called twice")
        self._prepared = True
        for fp, n in self._pending.items():
            if n == 0:
                self._make_ready(self.jobs[fp])

    def _make_ready(self, job: Job) -> None:
        self._status[job.fingerprint] = _READY
        self._new.append(job)
        self._active += 1

    def get_ready(self) -> tuple[Job, ...]:
        if not self._prepared:
            raise ValueError("ReadySet.prepare() must be called first")
        out = tuple(self._new)
        self._new.clear()
        for j in out:
            self._status[j.fingerprint] = _OUT
        return out

    def _finish(self, job: Job, status: int) -> None:
        fp = job.fingerprint
        if self._status.get(fp) != _OUT:
            raise ValueError(f"{job.key} was not handed out by get_ready(), or is already finished")
        self._status[fp] = status
        self._active -= 1

    def done(self, *jobs: Job) -> None:
        for job in jobs:
            self._finish(job, _DONE)
            for c in self.children.get(job.fingerprint, ()):
                cfp = c.fingerprint
                self._pending[cfp] -= 1
                if self._pending[cfp] == 0 and self._status[cfp] == _WAITING:
                    self._make_ready(c)

    def fail(self, job: Job) -> list[Job]:
        """Mark ``job`` failed; returns the descendants that can now never run."""
        self._finish(job, _FAILED)
        skipped: list[Job] = []
        stack = list(self.children.get(job.fingerprint, ()))
        while stack:
            c = stack.pop()
            if self._status[c.fingerprint] == _WAITING:
                self._status[c.fingerprint] = _SKIPPED
                skipped.append(c)
                stack.extend(self.children.get(c.fingerprint, ()))
        return skipped

    def is_active(self) -> bool:
        return self._active > 0

    def unfinished(self) -> list[Job]:
        """Jobs that neither finished nor were skipped (after a stop: what never ran)."""
        return [j for fp, j in self.jobs.items() if self._status[fp] in (_WAITING, _READY, _OUT)]
