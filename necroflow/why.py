"""Why does a job run?  The plan's reasons, enriched with what changed since the last run.

The plan says *what* state a job is in ("output absent").  For a content-addressed store
that is rarely the useful answer: a job is usually "missing" because its hash is new, and
its hash is new because something upstream changed.  This module finds, for each job that
will run with no folder of its own, the closest earlier run of the same rule in the outdir
and names the difference:

* ``command template changed, so the hash is new``
* ``param lines changed (3 -> 5)``
* ``input index is a different upstream job (index/aaa -> index/bbb, which will run)``

Cost: a rule's folders are read (one ``dependencies.toml`` each) only when one of its jobs
will run without a folder, and each folder once per call; matching a job is O(fields) dict
lookups plus at most ``max_candidates`` comparisons.  Jobs that will not run cost nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .fingerprint import dumps
from .store import NodeFolder, Outdir

if TYPE_CHECKING:
    from .graph import DAG, Job
    from .plan import Plan



@dataclass
class PreviousRun:
    """What an earlier run of a rule recorded in its ``.rip/dependencies.toml``."""

    key: str
    command: str
    params: dict[str, Any]
    params_json: str
    inputs: dict[str, str]  # input slot -> upstream job key
    sources: dict[str, str]  # source param -> content hash


def read_previous(folder: NodeFolder, key: str) -> PreviousRun | None:
    """One node folder's provenance as a PreviousRun; None when absent or unreadable."""
    doc = folder.provenance()
    if doc is None:
        return None
    raw = doc.get("params")
    params: dict[str, Any] = raw if isinstance(raw, dict) else {}
    inputs: dict[str, str] = {}
    raw_inputs = doc.get("inputs")
    for name, c in (raw_inputs.items() if isinstance(raw_inputs, dict) else ()):
        if isinstance(c, dict) and isinstance(c.get("job"), str):
            inputs[name] = c["job"]
    raw_sources = doc.get("sources")
    sources = {k: v["sha256"] for k, v in (raw_sources.items() if isinstance(raw_sources, dict) else ())
               if isinstance(v, dict) and isinstance(v.get("sha256"), str)}
    return PreviousRun(key=key, command=str(doc.get("command", "")), params=params,
                       params_json=dumps(params), inputs=inputs, sources=sources)


def _items(command: str, params: dict[str, Any], inputs: dict[str, str]) -> frozenset[tuple[str, ...]]:
    """The fields that make a hash, as hashable items: command, each param, each input."""
    out: set[tuple[str, ...]] = {("command", command)}
    out.update(("param", k, dumps(v)) for k, v in params.items())
    out.update(("input", k, v) for k, v in inputs.items())
    return frozenset(out)


class _RuleIndex:
    """Earlier runs of one rule, indexed so that any run one change away is a dict lookup.

    Each run is filed under its full field set and under that set minus each field in turn
    (O(fields) entries per folder).  A job then looks up its own set (a run with one extra
    field, or the same fields: types changed) and its set minus each field (a run differing
    in that field's value, or lacking it).
    """

    def __init__(self, outdir: Outdir, rule: str) -> None:
        self.runs: list[PreviousRun] = []
        self.near: dict[frozenset[tuple[str, ...]], list[PreviousRun]] = {}
        for key, folder in outdir.node_folders(rule, ordered=False):
            prev = read_previous(folder, key)
            if prev is None:
                continue
            self.runs.append(prev)
            items = _items(prev.command, prev.params, prev.inputs)
            self.near.setdefault(items, []).append(prev)
            for it in items:
                self.near.setdefault(items - {it}, []).append(prev)


def _fmt(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def differences(job: Job, prev: PreviousRun) -> list[dict[str, Any]]:
    """What differs between a job and an earlier run: command, each param, source, input."""
    out: list[dict[str, Any]] = []
    if prev.command != job.rule.command:
        out.append({"kind": "command", "old": prev.command, "new": job.rule.command})
    sources = job.rule.sources
    for k in sorted(sources):
        old_sha, new_sha = prev.sources.get(k), (job.sources or {}).get(k)
        if old_sha != new_sha:
            out.append({"kind": "source", "name": k, "old": old_sha, "new": new_sha, "path": job.params.get(k)})
    if prev.params_json != job.params_json:
        old_p = prev.params
        for k in sorted(set(old_p) | set(job.params)):
            if k in sources:
                continue  # a source file is judged by its content, above
            a, b = old_p.get(k, _ABSENT), job.params.get(k, _ABSENT)
            if a is _ABSENT or b is _ABSENT or dumps(a) != dumps(b):
                out.append({"kind": "param", "name": k, "old": None if a is _ABSENT else a,
                            "new": None if b is _ABSENT else b, "added": a is _ABSENT, "removed": b is _ABSENT})
    now = {slot: n.job.key for slot, n in job.edges}
    for name in sorted(set(prev.inputs) | set(now), key=_slot_order):
        if prev.inputs.get(name) != now.get(name):
            out.append({"kind": "input", "name": name, "old": prev.inputs.get(name), "new": now.get(name)})
    for name in sorted(job.rule.lists):
        before, after = _list_length(prev.inputs, name), _list_length(now, name)
        if before != after:
            out.append({"kind": "list", "name": name, "old": before, "new": after})
    if not out:
        out.append({"kind": "types", "old": None, "new": None})
    return out


def _slot_order(slot: str) -> tuple[str, int]:
    """``bams[10]`` after ``bams[9]``: list elements in index order."""
    name, _, rest = slot.partition("[")
    return (name, int(rest[:-1]) if rest[:-1].isdigit() else -1)


def _list_length(slots: dict[str, str], name: str) -> int:
    return sum(1 for s in slots if s.startswith(name + "[") and s.endswith("]"))


_ABSENT: Any = object()


def describe(changes: list[dict[str, Any]], will_run: set[str]) -> str:
    """One readable sentence per change, joined with '; '."""
    parts: list[str] = []
    grown = {c["name"]: c for c in changes if c["kind"] == "list"}
    inputs = [c for c in changes if c["kind"] == "input" and _slot_order(c["name"])[1] < 0]
    elements = [c for c in changes if c["kind"] == "input" and _slot_order(c["name"])[1] >= 0]
    for c in changes:
        k = c["kind"]
        if k == "command":
            script = str(c["old"]).startswith("script:") and str(c["new"]).startswith("script:")
            parts.append("script content changed, so the hash is new" if script
                         else "command template changed, so the hash is new")
        elif k == "types":
            parts.append("declared input/output types changed, so the hash is new")
        elif k == "source":
            parts.append(f"source file `{c['name']}` content changed ({c['path']})")
        elif k == "param":
            if c["added"]:
                parts.append(f"param {c['name']} added (= {_fmt(c['new'])})")
            elif c["removed"]:
                parts.append(f"param {c['name']} removed (was {_fmt(c['old'])})")
            else:
                parts.append(f"param {c['name']} changed ({_fmt(c['old'])} -> {_fmt(c['new'])})")
        elif k == "list":
            n = c["new"] - c["old"]
            verb = "gained" if n > 0 else "lost"
            parts.append(f"input list `{c['name']}` {verb} {abs(n)} element{'s' if abs(n) != 1 else ''}")
    parts += _describe_elements([c for c in elements if _slot_order(c["name"])[0] not in grown
                                 or (c["old"] is not None and c["new"] is not None)], will_run)
    parts += _describe_inputs(inputs, will_run)
    return "; ".join(parts)


def _describe_elements(changes: list[dict[str, Any]], will_run: set[str]) -> list[str]:
    out = []
    for c in changes:
        name, i = _slot_order(c["name"])
        if c["old"] is None or c["new"] is None:
            continue  # counted by the list's "gained"/"lost"
        fate = "which will run" if c["new"] in will_run else "which is already built"
        out.append(f"element {i + 1} of `{name}` is a different upstream job ({c['old']} -> {c['new']}, {fate})")
    return out


def _describe_inputs(inputs: list[dict[str, Any]], will_run: set[str]) -> list[str]:
    if len(inputs) == 1:
        c = inputs[0]
        if c["old"] is None:
            return [f"input {c['name']} is new ({c['new']})"]
        if c["new"] is None:
            return [f"input {c['name']} was removed"]
        fate = "which will run" if c["new"] in will_run else "which is already built"
        return [f"input {c['name']} is a different upstream job ({c['old']} -> {c['new']}, {fate})"]
    if inputs:
        names = ", ".join(c["name"] for c in inputs)
        n_run = sum(1 for c in inputs if c["new"] in will_run)
        tail = f", {n_run} of which will run" if n_run else ""
        return [f"inputs {names} are different upstream jobs{tail}"]
    return []


class WhyIndex:
    """Lazily built per-rule indexes of earlier runs under one outdir."""

    def __init__(self, outdir: Path, current: set[str], max_candidates: int = 50) -> None:
        self.outdir = Outdir(outdir)
        self.current = current  # job keys the DAG requires now
        self.max_candidates = max_candidates
        self._rules: dict[str, _RuleIndex] = {}

    def rule(self, name: str) -> _RuleIndex:
        idx = self._rules.get(name)
        if idx is None:
            idx = self._rules[name] = _RuleIndex(self.outdir, name)
        return idx

    def closest(self, job: Job, pred_of: dict[str, str] | None = None
                ) -> tuple[PreviousRun | None, list[dict[str, Any]], bool]:
        """(closest earlier run, its differences, whether it is a *predecessor*).

        A predecessor is a folder no current job owns: most likely the run this job
        replaces.  A folder some current job owns is a sibling (another sample, say), which
        makes this job a new call rather than a changed one.  ``pred_of`` maps upstream job
        keys to their own predecessors: an earlier run whose input is the predecessor of
        this job's input is the one this job replaces, even among many runs that differ
        from it by one input.
        """
        idx = self.rule(job.rule.name)
        if not idx.runs:
            return None, [], False
        pred_of = pred_of or {}
        now_inputs = {slot: n.job.key for slot, n in job.edges}
        items = _items(job.rule.command, job.params, now_inputs)
        chained = _items(job.rule.command, job.params, {k: pred_of.get(v, v) for k, v in now_inputs.items()})
        pools = [idx.near.get(chained, [])]
        if chained != items:
            pools += [idx.near.get(chained - {it}, []) for it in chained]
        pools += [idx.near.get(items, [])] + [idx.near.get(items - {it}, []) for it in items]
        best: tuple[tuple[int, int, int], PreviousRun, list[dict[str, Any]]] | None = None
        budget = self.max_candidates
        seen: set[str] = {job.key}
        for pool in pools + [idx.runs]:
            if pool is idx.runs and best is not None and best[0][0] == 0:
                break  # a predecessor was found by lookup
            for prev in pool:
                if budget <= 0:
                    break
                if prev.key in seen:
                    continue
                seen.add(prev.key)
                budget -= 1
                diffs = differences(job, prev)
                unexplained = sum(1 for c in diffs if not (c["kind"] == "input" and c["new"] is not None
                                                           and pred_of.get(c["new"]) == c["old"]))
                rank = (0 if prev.key not in self.current else 1, unexplained, len(diffs))
                if best is None or rank < best[0]:
                    best = (rank, prev, diffs)
        if best is None:
            return None, [], False
        return best[1], best[2], best[0][0] == 0


def _explain(job: Job, plan: Plan, dag: DAG, why: WhyIndex, will_run: set[str], root_of: dict[str, str],
             pred_of: dict[str, str]) -> tuple[dict[str, Any], str]:
    """(the job's status item, the key of the job whose change makes it run)."""
    from . import reasons as R
    from .plan import State

    e = plan.entries[job.fingerprint]
    reason = e.reason
    item: dict[str, Any] = {"job": job.key, "rule": job.rule.name, "state": e.state.value,
                            "reason": str(reason), "why": str(reason), "cause_kind": reason.kind,
                            "dir": dag.folder(job)}
    root = job.key
    if reason.kind == R.PARENT_RUNS and reason.cause in root_of:
        root = root_of[reason.cause]
    elif e.state is State.MISSING and reason.kind == R.ABSENT:
        prev, diffs, predecessor = why.closest(job, pred_of)
        if prev is None:
            item["why"] = ("output absent: first run of this call (no earlier run of rule "
                           f"{job.rule.name!r} in this outdir)")
            return item, root
        if predecessor:
            item["why"] = describe(diffs, will_run)
            item["previous"] = prev.key
            pred_of[job.key] = prev.key
        else:
            fields = ", ".join(f"{c['kind']} {c['name']}" if "name" in c else c["kind"] for c in diffs)
            item["why"] = (f"output absent: a new call (the nearest existing run, {prev.key}, "
                           f"belongs to another current job and differs in {fields})")
            item["nearest"] = prev.key
        item["changes"] = diffs
        ups = [c["new"] for c in diffs if c["kind"] == "input" and c["new"] in root_of]
        if ups and all(c["kind"] == "input" for c in diffs):
            root = root_of[ups[0]]
    elif reason.kind == R.INPUT_CHANGED:
        parent = dict(job.edges).get(reason.cause)
        if parent is not None and parent.job.key in root_of:
            root = root_of[parent.job.key]
    return item, root


def status_report(dag: DAG, plan: Plan, max_candidates: int = 50) -> dict[str, Any]:
    """Every job that would run with a reason a person can act on; the rest summarised.

    The result is plain JSON-ready data (``json.dumps`` it for ``--json``); render it with
    :func:`render_status`.
    """
    from .plan import RUNNABLE

    required_keys = {j.key for j in plan.required}
    to_run = plan.to_run
    will_run = {j.key for j in to_run}
    why = WhyIndex(dag.outdir, required_keys, max_candidates)
    root_of: dict[str, str] = {}  # job key -> key of the job whose change makes it run
    text_of: dict[str, str] = {}
    pred_of: dict[str, str] = {}  # job key -> the earlier run it replaces
    jobs_out: list[dict[str, Any]] = []
    for job in to_run:
        item, root = _explain(job, plan, dag, why, will_run, root_of, pred_of)
        root_of[job.key] = root
        if root != job.key:
            item["cause"] = root
        text_of[job.key] = item["why"]
        jobs_out.append(item)
    causes: Counter[str] = Counter(root_of.values())
    grouped: dict[str, dict[str, Any]] = {}
    for root_key, n_jobs in causes.items():
        g = grouped.setdefault(text_of[root_key], {"why": text_of[root_key], "jobs": [], "downstream": 0})
        g["jobs"].append(root_key)
        g["downstream"] += n_jobs - 1
    root_causes = sorted(grouped.values(), key=lambda g: -(len(g["jobs"]) + g["downstream"]))
    rest: dict[str, Counter[str]] = {}
    for job in plan.required:
        e = plan.entries[job.fingerprint]
        if e.state not in RUNNABLE:
            rest.setdefault(e.state.value, Counter())[job.rule.name] += 1
    return {
        "outdir": str(dag.outdir),
        "total": len(plan.required),
        "to_run": len(to_run),
        "counts": dict(plan.counts()),
        "summary": plan.summary(),
        "jobs": jobs_out,
        "root_causes": root_causes,
        "rest": {state: dict(c) for state, c in rest.items()},
        "orphans": [str(p) for p in plan.orphans],
        "scanned_folders": {name: len(idx.runs) for name, idx in why._rules.items()},
    }


def render_status(report: dict[str, Any], limit: int | None = None) -> str:
    """Text for people: each job that would run and why, root causes, then the rest in one line each."""
    lines: list[str] = []
    jobs = report["jobs"]
    if jobs:
        lines.append(f"Would run {report['to_run']} of {report['total']} jobs:")
        width = max(len(j["job"]) for j in jobs[: limit if limit is not None else None])
        for j in jobs[: limit if limit is not None else None]:
            lines.append(f"  {j['state']:<11} {j['job']:<{width}}  {j['why']}")
        if limit is not None and len(jobs) > limit:
            lines.append(f"  ... and {len(jobs) - limit} more (--json lists every job)")
        causes = report["root_causes"]
        if len(causes) < len(jobs):
            lines.append(f"Root causes ({len(causes)}):")
            for c in causes[: limit if limit is not None else 20]:
                roots = c["jobs"]
                who = roots[0] if len(roots) == 1 else f"{len(roots)} jobs ({roots[0]}, ...)"
                follow = c["downstream"]
                tail = f"  [+{follow} downstream job{'s' if follow != 1 else ''}]" if follow else ""
                lines.append(f"  {who}: {c['why']}{tail}")
            if len(causes) > (limit if limit is not None else 20):
                lines.append(f"  ... and {len(causes) - (limit if limit is not None else 20)} more")
    for state, by_rule in sorted(report["rest"].items()):
        n = sum(by_rule.values())
        per = ", ".join(f"{r} {k}" for r, k in sorted(by_rule.items()))
        lines.append(f"{state.lower().replace('_', ' ')}: {n} ({per})")
    if report["orphans"]:
        lines.append(f"orphans: {len(report['orphans'])} node folder(s) no current job needs "
                     "(see `necroflow clean --orphans`)")
    lines.append(report["summary"])
    return "\n".join(lines)


def explain(dag: DAG, plan: Plan, limit: int | None = None) -> str:
    """``render_status(status_report(dag, plan))``: the dry-run text."""
    return render_status(status_report(dag, plan), limit)
