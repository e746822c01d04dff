"""Schedulers order the ready jobs; the run loop launches them in that order as resources allow.

A scheduler is any callable ``(ready, remaining) -> ordered list`` where ``ready`` is a list
of jobs whose parents are done and ``remaining`` a live, read-only view of every job not
finished yet (``ready`` is a subset of it; the same objects).  Jobs expose
``job.rule.constraints`` as a mapping, so ``sorted(ready, key=lambda n:
n.rule.constraints.get("threads", 1), reverse=True)`` is a scheduler.
Schedulers are pure: no I/O, no state kept between calls or between runs.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .graph import Job

Scheduler = Callable[[Sequence[Any], Any], Sequence[Any]]


class Remaining:
    """Live read-only view of unfinished jobs, with connected components kept up to date.

    Components are over the undirected graph of remaining jobs.  Removing a finished job
    can split its component only when it leaves two or more remaining neighbours (its
    children, since its parents are done); only then is that component relabelled, so a
    run does O(1) amortised work per finished job for chains and fan-ins.
    """

    def __init__(self, jobs: Iterable[Job], parents: dict[str, list[Job]], children: dict[str, list[Job]]) -> None:
        self._set: dict[str, Job] = {j.fingerprint: j for j in jobs}
        self._parents = parents
        self._children = children
        self._comp: dict[str, int] = {}
        self._size: dict[int, int] = {}
        self._next = 0
        for fp in self._set:
            if fp not in self._comp:
                self._label(fp)

    def _label(self, start: str) -> None:
        cid = self._next
        self._next += 1
        stack = [start]
        self._comp[start] = cid
        n = 0
        while stack:
            fp = stack.pop()
            n += 1
            for nb in (*self._parents.get(fp, ()), *self._children.get(fp, ())):
                nfp = nb.fingerprint
                if nfp in self._set and self._comp.get(nfp) != cid:
                    self._comp[nfp] = cid
                    stack.append(nfp)
        self._size[cid] = n

    def done(self, job: Job) -> None:
        fp = job.fingerprint
        if self._set.pop(fp, None) is None:
            return
        cid = self._comp.pop(fp)
        self._size[cid] -= 1
        kids = [c.fingerprint for c in self._children.get(fp, ()) if c.fingerprint in self._set]
        if len(kids) >= 2:
            self._size.pop(cid, None)
            for k in kids:
                if self._comp.get(k) == cid:
                    self._label(k)

    def component_remaining(self, job: Job) -> int:
        """How many unfinished jobs share ``job``'s connected component."""
        cid = self._comp.get(job.fingerprint)
        return 0 if cid is None else self._size[cid]

    def __contains__(self, job: object) -> bool:
        return getattr(job, "fingerprint", None) in self._set

    def __iter__(self) -> Iterator[Job]:
        return iter(list(self._set.values()))

    def __len__(self) -> int:
        return len(self._set)

    def __repr__(self) -> str:
        return f"<Remaining {len(self)} jobs>"


def fifo_scheduler(ready: Sequence[Any], remaining: Any) -> list[Any]:
    """Topological (insertion) order: the order jobs were added to the DAG."""
    return sorted(ready, key=lambda j: j.order)


def smallest_component_scheduler(ready: Sequence[Any], remaining: Any) -> list[Any]:
    """Jobs of the smallest connected component of remaining work first.

    Finishing one sample's chain before starting the next keeps intermediate files and
    memory small and gives finished results early.
    """
    size = getattr(remaining, "component_remaining", None)
    if size is None:  # called with a plain collection: build the components once for this call
        jobs = list(remaining)
        parents = {j.fingerprint: [n.job for _, n in j.edges] for j in jobs}
        children: dict[str, list[Any]] = {}
        for j in jobs:
            for _, n in j.edges:
                children.setdefault(n.job.fingerprint, []).append(j)
        size = Remaining(jobs, parents, children).component_remaining
    return sorted(ready, key=lambda j: (size(j), j.order))


default_scheduler = smallest_component_scheduler


class ReadyHeap:
    """The built-in schedulers as an incremental priority queue: O(log n) per job.

    Calling a scheduler sorts every ready job each time a slot frees, which is quadratic
    when 100,000 samples are ready at once.  For ``fifo_scheduler`` and
    ``smallest_component_scheduler`` the run loop keeps this heap instead.  fifo order is
    exact.  Component sizes only shrink as work finishes, so a stored key is an upper bound:
    the head is re-keyed when it surfaces and pushed back if it has improved; a queued job
    whose component shrank below the head's key is seen only when it surfaces, so the order
    can differ from a full re-sort in such ties (never a job skipped or started twice).
    """

    def __init__(self, scheduler: Any, remaining: Remaining) -> None:
        self._heap: list[tuple[int, int, Job]] = []
        self._live: set[str] = set()
        if scheduler is fifo_scheduler:
            self._key: Callable[[Job], int] = lambda j: 0
        else:
            self._key = remaining.component_remaining

    @staticmethod
    def handles(scheduler: Any) -> bool:
        return scheduler is fifo_scheduler or scheduler is smallest_component_scheduler

    def push(self, job: Job) -> None:
        self._live.add(job.fingerprint)
        heapq.heappush(self._heap, (self._key(job), job.order, job))

    def peek(self) -> Job | None:
        heap = self._heap
        while heap:
            k, order, job = heap[0]
            if job.fingerprint not in self._live:
                heapq.heappop(heap)
                continue
            now = self._key(job)
            if now < k:
                heapq.heapreplace(heap, (now, order, job))
                continue
            return job
        return None

    def pop(self) -> Job:
        job = self.peek()
        assert job is not None
        heapq.heappop(self._heap)
        self._live.discard(job.fingerprint)
        return job

    def __len__(self) -> int:
        return len(self._live)


class ReadyQueue:
    """The ready jobs of a run, in scheduler order.

    Built-in schedulers keep an incremental :class:`ReadyHeap`; a custom scheduler is called
    with the ready jobs and the remaining work and returns the order to try them in.
    """

    def __init__(self, scheduler: Scheduler, remaining: Remaining) -> None:
        self.scheduler = scheduler
        self.remaining = remaining
        self.ready: dict[str, Job] = {}
        self.heap = ReadyHeap(scheduler, remaining) if ReadyHeap.handles(scheduler) else None

    def push(self, job: Job) -> None:
        self.ready[job.fingerprint] = job
        if self.heap is not None:
            self.heap.push(job)

    def __bool__(self) -> bool:
        return bool(self.ready)

    def __len__(self) -> int:
        return len(self.ready)

    def candidates(self, busy: bool) -> Iterator[Job]:
        """Ready jobs in scheduler order; the caller stops at the first that does not fit
        and calls :meth:`take` for each one it starts.  ``busy``: something is running or
        being recorded (so a scheduler that holds every job back is not a deadlock)."""
        heap = self.heap
        if heap is not None:  # a built-in scheduler: the head of the heap, until the caller stops
            while (head := heap.peek()) is not None:
                yield head
            return
        ready = list(self.ready.values())
        order = self.scheduler(ready, self.remaining)  # every time: it may hold even a lone job back
        if not order and not busy:
            # Nothing would ever wake the loop again: fail loudly instead of hanging.
            raise TypeError(f"scheduler returned none of the {len(ready)} ready jobs while nothing is "
                            "running; a scheduler must return the ready jobs it wants started, in order")
        for job in order:
            if getattr(job, "fingerprint", None) not in self.ready:
                raise TypeError(f"scheduler returned {job!r}, which is not one of the ready jobs it was given")
            yield job

    def take(self, job: Job) -> None:
        del self.ready[job.fingerprint]
        if self.heap is not None:
            head = self.heap.pop()
            assert head is job, "a built-in scheduler's job must start from the head of the heap"
