"""Autoclean: delete what the current run's required subgraph does not need.

Orphan node folders go; so do intermediates whose consumers are all up to date.  Requested
outputs are never deleted.  An intermediate keeps its records (state ``cleaned``), so the
next run of the same request reruns nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .plan import State
from .store import UP_TO_DATE, Outdir, remove_output

if TYPE_CHECKING:
    from .graph import DAG
    from .nodes import Job
    from .plan import Plan
    from .reporting import RunReport


def autoclean_outputs(dag: DAG, plan: Plan, report: RunReport) -> list[str]:
    removed: list[str] = []
    outdir = Outdir(dag.outdir)
    for p in plan.orphans:
        try:
            if p.parent.parent == dag.outdir and not p.is_symlink():
                remove_output(p)
                removed.append(str(p))
        except OSError:
            pass
    failed = set(report.failed) | set(report.skipped)
    requested = {n.job.fingerprint for n in dag.requested.values()}
    consumers: dict[str, list[Job]] = {}
    for j in plan.required:
        for _, n in j.edges:
            consumers.setdefault(n.job.fingerprint, []).append(j)
    for j in plan.required:
        fp = j.fingerprint
        if fp in requested or j.key in failed or not consumers.get(fp):
            continue
        if any(c.key in failed for c in consumers[fp]):
            continue
        if plan.entries[fp].state is State.CLEANED:
            continue
        folder = outdir.node(j.key)
        if folder.state() != UP_TO_DATE:
            continue
        removed.extend(folder.clean_outputs(j.rule.filenames))
    return removed
