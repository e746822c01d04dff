"""Compare the DAG with the filesystem: every required job gets a state and a reason.

Nothing else decides what runs.  A dry run prints this plan; ``execute`` runs its
``to_run`` list.  The cost is O(jobs): one state read, one record read and one ``stat``
per output; a file is re-hashed only when its size or mtime moved since it was hashed.
"""

from __future__ import annotations

import gc
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import store

if TYPE_CHECKING:
    from .graph import DAG, Job


class State(StrEnum):
    UP_TO_DATE = "UP_TO_DATE"
    CLEANED = "CLEANED"  # an intermediate deleted by autoclean whose consumers are up to date
    MISSING = "MISSING"
    STALE = "STALE"
    INTERRUPTED = "INTERRUPTED"
    FAILED = "FAILED"
    ORPHAN = "ORPHAN"



RUNNABLE = frozenset({State.MISSING, State.STALE, State.INTERRUPTED, State.FAILED})
_HASH16 = re.compile(r"^[0-9a-f]{16}$")


@dataclass(slots=True)
class Entry:
    job: Job
    state: State
    reason: str


@dataclass
class Plan:
    dag: DAG
    required: list[Job]
    entries: dict[str, Entry]  # fingerprint -> entry
    current: dict[str, dict[str, str]]  # fingerprint -> {filename: sha256} of satisfied jobs
    orphans: list[Path] = field(default_factory=list)
    looker: Any = None  # the plan's _Looker: index entries for the run loop to write back

    @property
    def to_run(self) -> list[Job]:
        return [j for j in self.required if self.entries[j.fingerprint].state in RUNNABLE]

    def counts(self) -> Counter[str]:
        c: Counter[str] = Counter(e.state.value for e in self.entries.values())
        if self.orphans:
            c[State.ORPHAN.value] = len(self.orphans)
        return c

    def summary(self) -> str:
        n_run = len(self.to_run)
        c = self.counts()
        parts = ", ".join(f"{k.lower()} {v}" for k, v in sorted(c.items()))
        if n_run == 0:
            return f"Nothing to do: all {len(self.required)} jobs are up to date ({parts})."
        return f"{n_run} of {len(self.required)} jobs to run ({parts})."

    def explain(self, limit: int | None = None) -> str:
        lines = []
        for j in self.to_run[: limit if limit is not None else None]:
            e = self.entries[j.fingerprint]
            lines.append(f"  {e.state.value:<11} {j.key}  ({e.reason})")
        if limit is not None and len(self.to_run) > limit:
            lines.append(f"  ... and {len(self.to_run) - limit} more")
        for p in self.orphans:
            lines.append(f"  ORPHAN      {p.parent.name}/{p.name}  (no longer required)")
        lines.append(self.summary())
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "jobs": [
                {"job": j.key, "rule": j.rule.name, "state": self.entries[j.fingerprint].state.value,
                 "reason": self.entries[j.fingerprint].reason, "dir": str(j.dir)}
                for j in self.required
            ],
            "orphans": [str(p) for p in self.orphans],
            "counts": dict(self.counts()),
        }


def required_jobs(dag: DAG) -> list[Job]:
    """Ancestors of every requested node, parents first (``dag.jobs`` is already topological)."""
    jobs = dag.jobs
    need = {n.job.fingerprint for n in dag.requested.values()}
    for fp in reversed(list(jobs)):
        if fp in need:
            for n in jobs[fp].inputs.values():
                need.add(n.job.fingerprint)
    return [j for fp, j in jobs.items() if fp in need]


def current_hashes(node_dir: str | Path, record: dict[str, Any], filenames: list[str],
                   persist: bool) -> tuple[dict[str, str] | None, str]:
    """Content hashes of a finished job's outputs, re-hashing only files whose size/mtime moved.

    A hand-edited output is accepted as the new content: its record is updated (when
    ``persist``) and its consumers will see a different hash.  Returns (None, reason) when
    an output is missing or the record is unusable.
    """
    outs = record.get("outputs")
    if not isinstance(outs, dict):
        return None, "records incomplete"
    result: dict[str, str] = {}
    changed = False
    for fn in filenames:
        sig = store.signature(f"{node_dir}/{fn}")
        if sig is None:
            return None, f"output {fn} absent"
        rec = outs.get(fn)
        if not isinstance(rec, dict) or "sha256" not in rec:
            return None, "records incomplete"
        if rec.get("size") == sig[0] and rec.get("mtime_ns") == sig[1]:
            result[fn] = rec["sha256"]
            continue
        sha = store.hash_path(Path(node_dir, fn))
        result[fn] = sha
        outs[fn] = {"sha256": sha, "size": sig[0], "mtime_ns": sig[1]}  # so it is not hashed again
        changed = True
    if changed and persist:
        nd = Path(node_dir)
        full = store.read_record(nd) or record  # ``record`` may be the index's shorter copy
        full["outputs"] = outs
        store.write_record(nd, full)
        for fn in filenames:
            store.atomic_write(nd / store.RIP / f"{fn}.hash", result[fn])
    return result, "re-hashed" if changed else ""


class _Looker:
    """What the plan reads from disk, read cheaply.

    A rule folder is listed once, so a node that was never built costs a set lookup, not an
    ``open``; a node whose state file still matches ``outdir/.rip/index.json`` is judged from
    the index, so a no-op rerun reads one file in all instead of two per node.
    """

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self.index = store.load_index(outdir)
        self.seen: dict[str, store.IndexEntry] = {}  # what the index should say after this plan
        self.dirty = False
        self._present: dict[str, set[str]] = {}

    def folder_exists(self, job: Job) -> bool:
        rule = job.rule.name
        names = self._present.get(rule)
        if names is None:
            try:
                names = set(os.listdir(self.outdir / rule))
            except OSError:
                names = set()
            self._present[rule] = names
        return job.fingerprint[:16] in names

    def state_and_record(self, job: Job) -> tuple[str | None, dict[str, Any] | None, tuple[int, int, int] | None]:
        assert job.dirs is not None
        stamp = store.state_stamp(job.dirs)
        if stamp is None:
            return None, None, None
        key = job.key
        e = self.index.get(key)
        if (e is not None and store.valid_entry(e) and e[0] == stamp[0] and e[1] == stamp[1]
                and len(e[2]) == stamp[2]):
            return e[2], e[3], stamp
        self.dirty = True
        self.index.pop(key, None)  # out of date: replaced by what ``seen`` learns, if anything
        d = Path(job.dirs)
        state = store.read_state(d)
        record = store.read_record(d) if state in (store.UP_TO_DATE, store.CLEANED) else None
        return state, record, stamp


def make_plan(dag: DAG, *, scan_orphans: bool = False, persist: bool = False) -> Plan:
    required = required_jobs(dag)
    requested_fps = {n.job.fingerprint for n in dag.requested.values()}
    entries: dict[str, Entry] = {}
    current: dict[str, dict[str, str]] = {}
    runs: set[str] = set()
    look = _Looker(dag.outdir)
    gc_was_on = gc.isenabled()
    gc.disable()  # the plan allocates a few objects per job and frees none: nothing for the GC to find
    try:
        for job in required:
            entry = _classify(job, entries, current, runs, requested_fps, persist, look)
            entries[job.fingerprint] = entry
            if entry.state in RUNNABLE:
                runs.add(job.fingerprint)
    finally:
        if gc_was_on:
            gc.enable()
    # A cleaned intermediate is satisfied only while nothing downstream must rerun.
    for job in reversed(required):
        if job.fingerprint in runs:
            for n in job.inputs.values():
                pfp = n.job.fingerprint
                e = entries[pfp]
                if e.state is State.CLEANED:
                    entries[pfp] = Entry(e.job, State.MISSING, f"cleaned intermediate needed by {job.key}")
                    runs.add(pfp)
    plan = Plan(dag, required, entries, current)
    plan.looker = look
    if scan_orphans:
        plan.orphans = find_orphans(dag.outdir, {j.key for j in required})
    return plan


def _classify(job: Job, entries: dict[str, Entry], current: dict[str, dict[str, str]], runs: set[str],
              requested_fps: set[str], persist: bool, look: _Looker) -> Entry:
    if not look.folder_exists(job):
        return Entry(job, State.MISSING, "output absent")
    ds = job.dirs
    assert ds is not None
    filenames = job.rule.filenames
    state, record, stamp = look.state_and_record(job)
    if state is None:
        if any(os.path.lexists(f"{ds}/{fn}") for fn in filenames):
            return Entry(job, State.INTERRUPTED, "no state record: output of unknown origin")
        return Entry(job, State.MISSING, "output absent")
    if state in (store.RUNNING, store.INTERRUPTED):
        return Entry(job, State.INTERRUPTED, f"previous run left state={state}")
    if state == store.FAILED:
        return Entry(job, State.FAILED, "previous run failed")
    if state not in (store.UP_TO_DATE, store.CLEANED):
        return Entry(job, State.INTERRUPTED, f"unknown state {state!r}")
    if record is None:
        return Entry(job, State.INTERRUPTED, "records incomplete")
    if state == store.CLEANED:
        outs = record.get("outputs") or {}
        hashes = {fn: (outs.get(fn) or {}).get("sha256") for fn in filenames}
        if any(not isinstance(h, str) for h in hashes.values()):
            return Entry(job, State.INTERRUPTED, "records incomplete")
        cur: dict[str, str] | None = hashes  # type: ignore[assignment]
        if job.fingerprint in requested_fps:
            return Entry(job, State.MISSING, "cleaned by autoclean, now requested")
    else:
        cur, why = current_hashes(ds, record, filenames, persist)
        if cur is None:
            return Entry(job, State.MISSING, why)
        if why:  # re-hashed: the record changed
            look.dirty = True
    assert stamp is not None
    look.seen[job.key] = (stamp[0], stamp[1], state, store.index_record(record))
    stale = _stale_reason(job, record, current, runs)
    if stale:
        return Entry(job, State.STALE, stale)
    current[job.fingerprint] = cur  # type: ignore[assignment]
    return Entry(job, State.CLEANED if state == store.CLEANED else State.UP_TO_DATE, "")


def _stale_reason(job: Job, record: dict[str, Any], current: dict[str, dict[str, str]], runs: set[str]) -> str:
    consumed = record.get("inputs") or {}
    for name, n in job.inputs.items():
        pfp = n.job.fingerprint
        if pfp in runs:
            return f"parent {n.job.rule.name}/{pfp[:16]} will run"
        had = consumed.get(name)
        now = current.get(pfp, _EMPTY).get(n.type.filename)
        if not isinstance(had, dict) or had.get("sha256") != now:
            return f"input {name} ({n.job.rule.name}/{pfp[:16]}/{n.type.filename}) content changed"
    return ""


_EMPTY: dict[str, str] = {}


def find_orphans(outdir: Path, keep: set[str]) -> list[Path]:
    """Node folders under outdir that no required job owns (combo link folders are skipped)."""
    out: list[Path] = []
    try:
        rule_dirs = list(os.scandir(outdir))
    except OSError:
        return out
    for rd in rule_dirs:
        if rd.name.startswith(".") or not rd.is_dir(follow_symlinks=False):
            continue
        if os.path.exists(os.path.join(rd.path, "manifest.toml")):
            continue
        with os.scandir(rd.path) as it:
            for hd in it:
                if (_HASH16.match(hd.name) and hd.is_dir(follow_symlinks=False)
                        and os.path.isdir(os.path.join(hd.path, store.RIP))
                        and f"{rd.name}/{hd.name}" not in keep):
                    out.append(Path(hd.path))
    out.sort()
    return out
