"""What the faces (report, GUI, status) know of each job: typed records read from the store.

Given a DAG, exactly the jobs it requires, in their plan states (jobs that have not run yet
included); without one, every node folder of the outdir with its recorded state.

Runs are told apart by the ``run_id`` every job's metrics carry; records written before
run ids existed fall back to the pause between jobs (:data:`SESSION_GAP`).  Combos come from
the job files when they are given (:func:`jobset_requests`), else from the combo folders'
manifests (:func:`manifest_requests`); either way a job belongs to every combo whose
requested outputs it feeds (:func:`assign_combos`).
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .store import FAILED, RUNNING, NodeFolder, Outdir
from .store.folder import RIP

if TYPE_CHECKING:
    import os

    from .graph import DAG
    from .jobs import JobSet

#: For records without a run id: a pause longer than this between jobs starts a new run.
SESSION_GAP = 300.0


@dataclass
class JobRecord:
    """What the report knows about one node folder."""

    key: str
    rule: str
    dir: Path
    state: str  # lower case: up_to_date, failed, running, interrupted, missing, stale, ...
    reason: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)  # input name -> upstream job key
    outputs: list[str] = field(default_factory=list)  # declared (DAG) or found (no DAG) file names
    combos: dict[str, list[str]] = field(default_factory=dict)  # combo -> its requested labels this job gives

    @property
    def log_path(self) -> Path:
        return Path(NodeFolder(self.dir).log_path)

    @property
    def start(self) -> float | None:
        v = self.metrics.get("start")
        return float(v) if isinstance(v, (int, float)) else None

    @property
    def end(self) -> float | None:
        v = self.metrics.get("end")
        return float(v) if isinstance(v, (int, float)) else None

    @property
    def run_id(self) -> str | None:
        v = self.metrics.get("run_id")
        return v if isinstance(v, str) and v else None

    def num(self, name: str) -> float | None:
        v = self.metrics.get(name)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _found_outputs(folder: NodeFolder) -> list[str]:
    import os

    try:
        return sorted(e.name for e in os.scandir(folder.path) if not e.name.startswith(RIP))
    except OSError:
        return []


def _from_folder(folder: NodeFolder, key: str, rule: str) -> JobRecord:
    deps = folder.provenance() or {}
    raw_inputs = deps.get("inputs")
    inputs = {n: c["job"] for n, c in (raw_inputs.items() if isinstance(raw_inputs, dict) else ())
              if isinstance(c, dict) and isinstance(c.get("job"), str)}
    params = deps.get("params") if isinstance(deps.get("params"), dict) else {}
    return JobRecord(key=key, rule=rule, dir=Path(folder.path), state=folder.state() or "missing",
                     metrics=folder.metrics(), params=params or {}, inputs=inputs,
                     outputs=_found_outputs(folder))


def collect_jobs(outdir: str | os.PathLike[str], dag: DAG | None = None) -> list[JobRecord]:
    """Job records, parents before children: the DAG's required jobs, or every node folder."""
    od = Outdir(outdir)
    if dag is None:
        return _toposort([_from_folder(f, key, key.split("/")[0]) for key, f in od.node_folders()])
    from .plan import make_plan

    plan = make_plan(dag)
    records: list[JobRecord] = []
    for job in plan.required:
        folder = od.node(job.key)
        e = plan.entries[job.fingerprint]
        rec = JobRecord(key=job.key, rule=job.rule.name, dir=Path(folder.path), state=e.state.value.lower(),
                        reason=str(e.reason), metrics=folder.metrics(), params=dict(job.params),
                        inputs={slot: n.job.key for slot, n in job.edges}, outputs=list(job.rule.filenames))
        if rec.state != "up_to_date":
            recorded = folder.state()
            if recorded in (RUNNING, FAILED):
                rec.state = recorded
        records.append(rec)
    return records


def _toposort(records: list[JobRecord]) -> list[JobRecord]:
    by_key = {r.key: r for r in records}
    indeg = {r.key: 0 for r in records}
    children: dict[str, list[str]] = {}
    for r in records:
        for up in set(r.inputs.values()):
            if up in by_key:
                indeg[r.key] += 1
                children.setdefault(up, []).append(r.key)
    ready = sorted((r.start or 0.0, r.key) for r in records if indeg[r.key] == 0)
    heapq.heapify(ready)
    out: list[JobRecord] = []
    while ready:
        _, k = heapq.heappop(ready)
        out.append(by_key[k])
        for c in children.get(k, ()):
            indeg[c] -= 1
            if indeg[c] == 0:
                heapq.heappush(ready, (by_key[c].start or 0.0, c))
    if len(out) < len(records):  # a cycle can only come from hand-edited records: keep them anyway
        done = {r.key for r in out}
        out += [r for r in records if r.key not in done]
    return out


# ------------------------------------------------------------------------------- timeline

def assign_slots(records: list[JobRecord]) -> dict[str, int]:
    """Worker slot of each timed job: the lowest slot free at its start (interval partitioning).

    The number of slots equals the largest number of jobs that overlapped, which is what a
    reader wants to see as "how parallel was this run".
    """
    timed = sorted((r for r in records if r.start is not None and r.end is not None),
                   key=lambda r: (r.start, r.end, r.key))
    busy: list[tuple[float, int]] = []  # (end, slot)
    free: list[int] = []
    n_slots = 0
    out: dict[str, int] = {}
    for r in timed:
        assert r.start is not None and r.end is not None
        while busy and busy[0][0] <= r.start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            slot = heapq.heappop(free)
        else:
            slot = n_slots
            n_slots += 1
        out[r.key] = slot
        heapq.heappush(busy, (max(r.end, r.start), slot))
    return out


def sessions(records: list[JobRecord], gap: float = SESSION_GAP) -> list[list[JobRecord]]:
    """Timed jobs split into runs, in the order they started.

    Jobs with the same ``run_id`` are one run, however long it paused (a queue on a
    cluster); records without one (written before run ids existed) are split where a pause
    is longer than ``gap`` seconds.
    """
    timed = sorted((r for r in records if r.start is not None and r.end is not None), key=lambda r: r.start or 0.0)
    by_id: dict[str, list[JobRecord]] = {}
    untagged: list[JobRecord] = []
    for r in timed:
        rid = r.run_id
        if rid is None:
            untagged.append(r)
        else:
            by_id.setdefault(rid, []).append(r)
    runs = list(by_id.values()) + _split_on_pauses(untagged, gap)
    return sorted(runs, key=lambda run: (run[0].start or 0.0, run[0].key))


def _split_on_pauses(timed: list[JobRecord], gap: float) -> list[list[JobRecord]]:
    out: list[list[JobRecord]] = []
    horizon = float("-inf")
    for r in timed:
        assert r.start is not None and r.end is not None
        if not out or r.start > horizon + gap:
            out.append([])
        out[-1].append(r)
        horizon = max(horizon, r.end)
    return out


def rule_totals(records: list[JobRecord]) -> list[dict[str, Any]]:
    """Per rule: job count, states, total/mean/max wall, total CPU, peak memory."""
    by_rule: dict[str, list[JobRecord]] = {}
    for r in records:
        by_rule.setdefault(r.rule, []).append(r)
    out = []
    for rule, rs in by_rule.items():
        walls = [w for r in rs if (w := r.num("wall")) is not None]
        cpus = [c for r in rs if (c := r.num("cpu")) is not None]
        rss = [m for r in rs if (m := r.num("max_rss")) is not None]
        out.append({"rule": rule, "jobs": len(rs), "states": dict(Counter(r.state for r in rs)),
                    "wall": sum(walls), "mean_wall": sum(walls) / len(walls) if walls else None,
                    "max_wall": max(walls, default=None), "cpu": sum(cpus), "max_rss": max(rss, default=None)})
    return out


# ------------------------------------------------------------------------------- combos

def jobset_requests(jobset: JobSet) -> dict[str, dict[str, str]]:
    """Combo name -> {requested label: job key}, from loaded job files."""
    return {r.combo.name: {label: n.job.key for label, n in r.requested.items()} for r in jobset.runs}


def manifest_requests(outdir: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """Combo name -> {requested label: job key}, from the manifests of the outdir's combo folders.

    A manifest that cannot be read is left out: a report never fails over one.
    """
    import os

    from .schemas import ConfigError, read_manifest

    out: dict[str, dict[str, str]] = {}
    try:
        entries = sorted(os.scandir(outdir), key=lambda e: e.name)
    except OSError:
        return out
    for e in entries:
        path = Path(e.path) / "manifest.toml"
        if not e.is_dir(follow_symlinks=False) or not path.is_file():
            continue
        try:
            m = read_manifest(path)
        except ConfigError:
            continue
        keys = {label: "/".join(rel.split("/")[:2]) for label, rel in m.outputs.items() if rel.count("/") >= 2}
        out[e.name] = keys  # the folder name: what the report links to
    return out


def assign_combos(records: list[JobRecord], requests: dict[str, dict[str, str]]) -> None:
    """Set each record's ``combos``: every combo a requested output of which it is, or feeds."""
    by_key = {r.key: r for r in records}
    for combo, labels in requests.items():
        seen: set[str] = set()
        stack = [k for k in labels.values() if k in by_key]
        while stack:
            k = stack.pop()
            if k in seen:
                continue
            seen.add(k)
            stack.extend(up for up in by_key[k].inputs.values() if up in by_key and up not in seen)
        for k in seen:
            by_key[k].combos.setdefault(combo, [])
        for label, k in labels.items():
            if k in by_key:
                by_key[k].combos[combo].append(label)
