"""What the GUI shows, as plain data: combos, jobs with their states and reasons, one job's
details and log, the graph to draw.  No HTTP here; the server turns these into JSON.

States are the plan's (``up_to_date``, ``missing``, ``stale``, ``interrupted``, ``failed``,
``cleaned``), overlaid by what the outdir's event feed (``.rip/events.log``) said since the
plan was made (``running``, then ``up_to_date``/``failed``/``interrupted``), so the page is
live without re-planning on every change.
"""

from __future__ import annotations

import os
import stat
import threading
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..layout import BOX_H, BOX_W, layered
from ..plan import State
from ..store import NodeFolder, Outdir, live_holder

if TYPE_CHECKING:
    from ..jobs import JobSet
    from ..nodes import Job
    from ..plan import Plan

#: Above this many jobs the graph is the rule graph (counts per state); a rule expands to its jobs.
MAX_DRAWN_JOBS = 300
LOG_BYTES = 1 << 20  # the log view shows at most the last MiB


class NotFound(KeyError):
    """An unknown job, combo or file (HTTP 404)."""


class GuiModel:
    def __init__(self, jobset: JobSet) -> None:
        self.jobset = jobset
        self.dag = jobset.dag
        self.outdir = Outdir(self.dag.outdir)
        self.by_key: dict[str, Job] = {j.key: j for j in self.dag.jobs.values()}
        self.combo_keys: dict[str, list[str]] = {}
        for r in jobset.runs:
            canon = [self.dag.canonical(j) for j in r.pipeline.jobs]
            self.combo_keys[r.combo.name] = [j.key for j in canon]
        self._lock = threading.Lock()  # guards _plan and live: held for moments only
        self._planning = threading.Lock()  # one planner at a time; readers of live never wait for it
        self._plan: Plan | None = None
        # job key -> (state, serial of the event): what the feed said since the plan was begun
        self.live: dict[str, tuple[str, int]] = {}
        self._serial = 0

    # -- states ----------------------------------------------------------------------------
    def plan(self) -> Plan:
        plan = self._plan
        if plan is not None:
            return plan
        with self._planning:
            if self._plan is None:
                with self._lock:
                    began = self._serial
                fresh = self.dag.plan()  # seconds for a big DAG: the feed goes on meanwhile
                with self._lock:
                    # what the feed said before planning began is in the plan; what it said since may not be
                    self.live = {k: seen for k, seen in self.live.items() if seen[1] > began}
                    self._plan = fresh
            return self._plan

    def replan(self) -> None:
        """Forget the plan (after a run): the next read classifies every job again."""
        with self._lock:
            self._plan = None

    def saw(self, event: dict[str, Any]) -> None:
        """An event from the feed: a job's state changed."""
        key = event.get("job")
        if isinstance(key, str) and key in self.by_key:
            with self._lock:
                self._serial += 1
                self.live[key] = (str(event["state"]), self._serial)

    def state(self, job: Job, plan: Plan) -> str:
        live = self.live.get(job.key)
        if live is not None:
            return live[0]
        e = plan.entries.get(job.fingerprint)
        return "not_required" if e is None else e.state.value.lower()

    def locked_by(self) -> int | None:
        return live_holder(self.dag.outdir)

    # -- lists -------------------------------------------------------------------------------
    def combos(self) -> list[dict[str, Any]]:
        return [{"name": r.combo.name, "job_file": str(r.combo.source),
                 "requests": {label: n.relpath for label, n in r.requested.items()},
                 "jobs": len(self.combo_keys[r.combo.name])} for r in self.jobset.runs]

    def keys(self, combo: str | None) -> list[str]:
        if combo is None:
            return [j.key for j in self.dag.jobs.values()]
        if combo not in self.combo_keys:
            raise NotFound(f"no combo named {combo!r}")
        return self.combo_keys[combo]

    def jobs(self, combo: str | None = None) -> list[dict[str, Any]]:
        plan = self.plan()
        out = []
        for key in self.keys(combo):
            job = self.by_key[key]
            e = plan.entries.get(job.fingerprint)
            out.append({"id": key, "rule": job.rule.name, "state": self.state(job, plan),
                        "reason": str(e.reason) if e is not None else "",
                        "parents": list(dict.fromkeys(n.job.key for _, n in job.edges))})
        return out

    def job(self, key: str) -> Job:
        job = self.by_key.get(key)
        if job is None:
            raise NotFound(f"no job {key!r}")
        return job

    def folder(self, key: str) -> NodeFolder | None:
        """The job's node folder, or None when a link on the way (the rule or hash folder, or
        its record folder) leads elsewhere: nothing outside the outdir is ever read for a page."""
        folder = self.outdir.node(key)
        records = os.path.realpath(folder.rip)
        root = os.path.realpath(self.dag.outdir)
        return folder if records == os.path.join(root, key, os.path.basename(folder.rip)) else None

    def detail(self, key: str) -> dict[str, Any]:
        job = self.job(key)
        plan = self.plan()
        e = plan.entries.get(job.fingerprint)
        found = self.folder(key)
        folder = found if found is not None else NodeFolder(os.devnull + "/" + key)  # reads nothing
        outputs = []
        for fn in job.rule.filenames:
            p = folder.file(fn)
            outputs.append({"name": fn, "path": f"{key}/{fn}", "exists": os.path.lexists(p),
                            "size": _size(p)})
        return {"id": key, "rule": job.rule.name, "state": self.state(job, plan),
                "reason": str(e.reason) if e is not None else "",
                "cause": e.reason.as_dict() if e is not None else None,
                "parents": list(dict.fromkeys(n.job.key for _, n in job.edges)),
                "command": self.dag.command(job), "params": job.params,
                "metrics": folder.metrics(), "outputs": outputs, "provenance": folder.provenance(),
                "recorded_state": folder.state()}

    def log(self, key: str) -> str:
        self.job(key)
        folder = self.folder(key)
        if folder is None:
            return ""
        try:
            fd = os.open(folder.log_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return ""
        try:
            size = os.fstat(fd).st_size
            start = max(0, size - LOG_BYTES)
            return os.pread(fd, size - start, start).decode(errors="replace")
        except OSError:
            return ""
        finally:
            os.close(fd)

    def file(self, rel: str) -> tuple[int, str]:
        """An open descriptor of an output file inside the outdir, and its name; anything else
        (``..``, a link out, a record) is NotFound.  The checks are made again on what was
        opened, so a link swapped in between the check and the open is refused too."""
        if "\0" in rel:
            raise NotFound("no file name holds a NUL byte")
        root = os.path.realpath(self.dag.outdir)
        full = os.path.realpath(os.path.join(root, rel))
        self._check_file(rel, root, full)
        try:
            fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        except OSError:
            raise NotFound(f"no file {rel!r} inside the outdir") from None
        if _is_regular_file_at(fd, full):
            return fd, os.path.basename(full)
        os.close(fd)
        raise NotFound(f"no file {rel!r} inside the outdir")

    def _check_file(self, rel: str, root: str, full: str) -> None:
        if not full.startswith(root + os.sep) or not os.path.isfile(full):
            raise NotFound(f"no file {rel!r} inside the outdir")
        for parts in (Path(rel).parts, Path(os.path.relpath(full, root)).parts):  # asked for, and linked to
            job = self.by_key.get("/".join(parts[:2])) if len(parts) >= 3 else None
            if job is None or parts[2] not in job.rule.filenames:  # a declared output (or inside one)
                raise NotFound(f"{rel!r} is not an output of a job of these job files")

    # -- what a run would do -------------------------------------------------------------------
    def targets(self, combos: list[str] | None, targets: list[str] | None) -> list[str]:
        """The job keys a run request means (requested outputs of combos, or jobs by id)."""
        if targets:
            for t in targets:
                self.job(t)
            return list(targets)
        names = combos or [r.combo.name for r in self.jobset.runs]
        out: list[str] = []
        for r in self.jobset.runs:
            if r.combo.name in names:
                out.extend(n.job.key for n in r.requested.values())
        unknown = set(names) - {r.combo.name for r in self.jobset.runs}
        if unknown:
            raise NotFound(f"no combo named {sorted(unknown)[0]!r}")
        return list(dict.fromkeys(out))

    def preview(self, keys: list[str]) -> dict[str, int]:
        plan = self.dag.only(keys).plan()
        return dict(Counter(plan.entries[j.fingerprint].state.value.lower() for j in plan.to_run))

    # -- the graph -----------------------------------------------------------------------------
    def graph(self, combo: str | None = None, rule: str | None = None) -> dict[str, Any]:
        """Nodes with positions and states; the rule graph above MAX_DRAWN_JOBS jobs."""
        keys = self.keys(combo)
        plan = self.plan()
        if rule is not None:
            keys = [k for k in keys if self.by_key[k].rule.name == rule]
            if not keys:
                raise NotFound(f"no job of rule {rule!r} here")
        if len(keys) <= MAX_DRAWN_JOBS:
            return self._job_graph(keys, plan)
        return self._rule_graph(keys, plan)

    def _job_graph(self, keys: list[str], plan: Plan) -> dict[str, Any]:
        nodes = [(k, [n.job.key for _, n in self.by_key[k].edges]) for k in keys]
        lay = layered(nodes)
        return {"kind": "jobs", "width": lay.width, "height": lay.height, "box": [BOX_W, BOX_H],
                "nodes": [{"id": k, "rule": self.by_key[k].rule.name, "state": self.state(self.by_key[k], plan),
                           "x": lay.xy[i][0], "y": lay.xy[i][1]} for i, k in enumerate(keys)],
                "edges": [[nodes[p][0], k] for i, k in enumerate(keys) for p in lay.parents[i]]}

    def _rule_graph(self, keys: list[str], plan: Plan) -> dict[str, Any]:
        rules: dict[str, Counter[str]] = {}
        parents: dict[str, set[str]] = {}
        for k in keys:
            job = self.by_key[k]
            rules.setdefault(job.rule.name, Counter())[self.state(job, plan)] += 1
            parents.setdefault(job.rule.name, set()).update(n.job.rule.name for _, n in job.edges)
        names = list(rules)
        lay = layered([(r, sorted((parents[r] - {r}) & set(names))) for r in names])
        return {"kind": "rules", "width": lay.width, "height": lay.height, "box": [BOX_W, BOX_H],
                "nodes": [{"id": r, "rule": r, "counts": dict(rules[r]), "jobs": sum(rules[r].values()),
                           "state": _worst(rules[r]), "x": lay.xy[i][0], "y": lay.xy[i][1]}
                          for i, r in enumerate(names)],
                "edges": [[names[p], r] for i, r in enumerate(names) for p in lay.parents[i]]}


_PRIORITY = ["failed", "running", "interrupted", "stale", "missing", "cleaned", "up_to_date"]


def _worst(counts: Counter[str]) -> str:
    return next((s for s in _PRIORITY if counts.get(s)), "up_to_date")


def _is_regular_file_at(fd: int, path: str) -> bool:
    """The open ``fd`` is a regular file and is ``path`` (not something swapped in since)."""
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode) and os.readlink(f"/proc/self/fd/{fd}") == path
    except OSError:
        return False


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


__all__ = ["MAX_DRAWN_JOBS", "GuiModel", "NotFound", "State"]
