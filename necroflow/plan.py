"""Compare the DAG with the filesystem: every required job gets a state and a reason.

Nothing else decides what runs.  A dry run prints this plan; ``execute`` runs its
``to_run`` list.  The cost is O(jobs): one state read, one record read and one ``stat``
per output; a file is re-hashed only when its signature moved since it was hashed.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import reasons as R
from .heap import paused, restore
from .reasons import Reason
from .store import (
    CLEANED,
    FAILED,
    INTERRUPTED,
    RUNNING,
    UP_TO_DATE,
    NodeReader,
    Outdir,
    live_holder,
)

if TYPE_CHECKING:
    from .graph import DAG
    from .nodes import Job


class State(StrEnum):
    UP_TO_DATE = "UP_TO_DATE"
    CLEANED = "CLEANED"  # an intermediate deleted by autoclean whose consumers are up to date
    MISSING = "MISSING"
    STALE = "STALE"
    INTERRUPTED = "INTERRUPTED"
    FAILED = "FAILED"
    ORPHAN = "ORPHAN"
    RUNNING = "RUNNING"  # running now, in the necroflow process that holds the outdir


RUNNABLE = frozenset({State.MISSING, State.STALE, State.INTERRUPTED, State.FAILED})
RUNNABLE_OR_RUNNING = RUNNABLE | {State.RUNNING}


@dataclass(slots=True)
class Entry:
    job: Job
    state: State
    reason: Reason


@dataclass
class Plan:
    dag: DAG
    required: list[Job]
    entries: dict[str, Entry]  # fingerprint -> entry
    current: dict[str, dict[str, str]]  # fingerprint -> {filename: sha256} of satisfied jobs
    orphans: list[Path] = field(default_factory=list)
    reader: NodeReader | None = None  # what the plan read: index entries for the run to write back
    locked_by: int | None = None  # pid of a live necroflow running on this outdir now (-1: unknown pid)

    @cached_property  # a plan is made once and never changes: its readers ask many times
    def to_run(self) -> list[Job]:
        return [j for j in self.required if self.entries[j.fingerprint].state in RUNNABLE]

    def counts(self) -> Counter[str]:
        c: Counter[str] = Counter(e.state for e in self.entries.values())  # a State is its value (StrEnum)
        if self.orphans:
            c[State.ORPHAN.value] = len(self.orphans)
        return c

    def summary(self) -> str:
        n_run = len(self.to_run)
        c = self.counts()
        parts = ", ".join(f"{k.lower()} {v}" for k, v in sorted(c.items()))
        if n_run == 0 and not c.get(State.RUNNING.value):
            text = f"Nothing to do: all {len(self.required)} jobs are up to date ({parts})."
        else:
            text = f"{n_run} of {len(self.required)} jobs to run ({parts})."
        if self.locked_by is not None:
            who = f"necroflow process {self.locked_by}" if self.locked_by > 0 else "another necroflow process"
            text += (f" A run is in progress: the outdir is locked by {who}; its running jobs are shown "
                     "as RUNNING.")
        return text

    def explain(self, limit: int | None = None) -> str:
        return "\n".join(self.explain_lines(limit))

    def explain_lines(self, limit: int | None = None) -> Iterator[str]:
        """The lines of :meth:`explain`, one at a time (a million-job dry run need not hold
        them all)."""
        shown = (j for j in self.required if self.entries[j.fingerprint].state in RUNNABLE_OR_RUNNING)
        n = 0
        for j in shown:
            if limit is not None and n >= limit:
                yield f"  ... and {sum(1 for _ in shown) + 1} more"
                break
            n += 1
            e = self.entries[j.fingerprint]
            yield f"  {e.state:<11} {j.key}  ({e.reason})"
        for p in self.orphans:
            yield f"  ORPHAN      {p.parent.name}/{p.name}  (no longer required)"
        yield self.summary()

    def as_dict(self) -> dict[str, Any]:
        return {
            "jobs": [
                {"job": j.key, "rule": j.rule.name, "state": self.entries[j.fingerprint].state.value,
                 "reason": str(self.entries[j.fingerprint].reason),
                 "cause": self.entries[j.fingerprint].reason.as_dict(), "dir": self.dag.folder(j)}
                for j in self.required
            ],
            "orphans": [str(p) for p in self.orphans],
            "counts": dict(self.counts()),
        }


def required_jobs(dag: DAG) -> list[Job]:
    """Ancestors of every requested node, parents first (``dag.jobs`` is already topological).

    Walked children first, so a job leaves ``need`` once it is reached: no parent of it can
    come later, and the set holds only the frontier, not every job of a million-job DAG.
    """
    jobs = dag.jobs
    need = {n.job.fingerprint for n in dag.requested.values()}
    out: list[Job] = []
    for fp in reversed(jobs):  # dicts reverse in place: no copy of the keys
        if fp in need:
            need.discard(fp)
            job = jobs[fp]
            out.append(job)
            for _, n in job.edges:
                need.add(n.job.fingerprint)
    out.reverse()
    return out


class _Classifier:
    """One pass over the required jobs, parents first."""

    def __init__(self, dag: DAG, persist: bool, locked_by: int | None) -> None:
        self.outdir = Outdir(dag.outdir)
        self.locked_by = locked_by
        self.reader = self.outdir.reader()
        self.persist = persist
        self.requested = {n.job.fingerprint for n in dag.requested.values()}
        self.entries: dict[str, Entry] = {}
        self.current: dict[str, dict[str, str]] = {}

    def classify(self, job: Job) -> Entry:
        rule = job.rule
        if not self.reader.folder_exists(rule.name, job.fingerprint[:16]):
            return Entry(job, State.MISSING, _ABSENT)
        key = job.key
        folder = self.outdir.node(key)
        state, record, stamp = self.reader.state_and_record(key, folder)
        if state is None:
            if any(os.path.lexists(folder.file(fn)) for fn in rule.filenames):
                return Entry(job, State.INTERRUPTED, Reason(R.NO_STATE))
            return Entry(job, State.MISSING, Reason(R.ABSENT))
        if state == RUNNING and self.locked_by is not None:
            return Entry(job, State.RUNNING, Reason(R.RUNNING_ELSEWHERE, detail=str(self.locked_by)))
        if state in (RUNNING, INTERRUPTED):
            return Entry(job, State.INTERRUPTED, Reason(R.LEFT_STATE, detail=state))
        if state == FAILED:
            return Entry(job, State.FAILED, Reason(R.FAILED_BEFORE))
        if state not in (UP_TO_DATE, CLEANED):
            return Entry(job, State.INTERRUPTED, Reason(R.UNKNOWN_STATE, detail=state))
        if record is None:
            return Entry(job, State.INTERRUPTED, Reason(R.RECORDS_INCOMPLETE))
        if state == CLEANED:
            outs = record["outputs"]
            if any(fn not in outs for fn in rule.filenames):
                return Entry(job, State.INTERRUPTED, Reason(R.RECORDS_INCOMPLETE))
            cur: dict[str, str] = {fn: outs[fn]["sha256"] for fn in rule.filenames}
            if job.fingerprint in self.requested:
                return Entry(job, State.MISSING, Reason(R.CLEANED_REQUESTED))
        else:
            hashes, missing, rehashed = folder.current_hashes(record, rule.filenames, self.persist)
            if hashes is None:
                return Entry(job, State.MISSING, Reason(R.OUTPUT_ABSENT, cause=missing) if missing
                             else Reason(R.RECORDS_INCOMPLETE))
            cur = hashes
            if rehashed:  # the record changed
                self.reader.dirty = True
        assert stamp is not None
        self.reader.learn(key, stamp, state, record)
        stale = self.stale_reason(job, record)
        if stale is not None:
            return Entry(job, State.STALE, stale)
        self.current[job.fingerprint] = cur
        return Entry(job, State.CLEANED if state == CLEANED else State.UP_TO_DATE, R.NONE)

    def stale_reason(self, job: Job, record: dict[str, Any]) -> Reason | None:
        consumed = record.get("inputs") or {}
        entries, current = self.entries, self.current
        for slot, n in job.edges:
            pfp = n.job.fingerprint
            if entries[pfp].state in RUNNABLE_OR_RUNNING:  # parents are classified first
                return Reason(R.PARENT_RUNS, cause=n.job.key, detail=slot)
            had = consumed.get(slot)
            now = n.digest(current.get(pfp, _EMPTY))
            if had is None or had.get("sha256") != now:
                return Reason(R.INPUT_CHANGED, cause=slot, detail=f"{n.job.key}/{n.type.filename}")
        return None


_EMPTY: dict[str, str] = {}
_ABSENT = Reason(R.ABSENT)  # frozen: one for every job of a new outdir


def make_plan(dag: DAG, *, scan_orphans: bool = False, persist: bool = False) -> Plan:
    restore()  # the DAG is built: the collector's usual pace again (see heap.py)
    required = required_jobs(dag)
    # A plan made while another process runs on the outdir (status, --dry-run) says so; a run's
    # own plan holds the lock itself (persist) and sees no one else.
    with paused():  # reading the index and classifying allocate and free nothing cyclic: no GC passes
        c = _Classifier(dag, persist, None if persist else live_holder(dag.outdir))
        for job in required:
            entry = c.classify(job)
            c.entries[job.fingerprint] = entry
    entries = c.entries
    # A cleaned intermediate is satisfied only while nothing downstream must rerun.
    for job in reversed(required):
        if entries[job.fingerprint].state in RUNNABLE_OR_RUNNING:  # a parent turned MISSING counts too
            for _, n in job.edges:
                pfp = n.job.fingerprint
                e = entries[pfp]
                if e.state is State.CLEANED:
                    entries[pfp] = Entry(e.job, State.MISSING, Reason(R.CLEANED_NEEDED, cause=job.key))
    plan = Plan(dag, required, entries, c.current, reader=c.reader, locked_by=c.locked_by)
    if scan_orphans:
        keep = {j.key for j in required}
        plan.orphans = [Path(f.path) for key, f in c.outdir.node_folders() if key not in keep]
    return plan
