"""Autoclean: delete what the current run's required subgraph does not need, and say so first.

Orphan node folders go (folders no required job owns: other job files' results too, if
their job files were not given); so do intermediates whose consumers are all up to date.
Requested outputs of this run are never deleted.  An intermediate keeps its records (state
``cleaned``), so the next run of the same request reruns nothing.  A combo folder whose
requested outputs are deleted goes with them: no dangling link, no manifest naming absent
files.  :func:`plan_clean` lists all of it (with sizes and the combos it ends) before
:func:`apply_clean` deletes anything; a dry run prints the plan only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .clean import format_bytes, tree_bytes
from .links import combos_using, remove_combo
from .plan import State
from .store import UP_TO_DATE, Outdir, remove_output

if TYPE_CHECKING:
    from .graph import DAG
    from .nodes import Job
    from .plan import Plan


@dataclass
class CleanPlan:
    orphans: list[Path] = field(default_factory=list)  # node folders
    intermediates: list[Job] = field(default_factory=list)  # jobs whose outputs go (records stay)
    combos: list[tuple[Path, str]] = field(default_factory=list)  # combo folder, its job file
    bytes: int = 0

    def lines(self, verbose: bool = False) -> list[str]:
        """What a person is told: counts, bytes and combos always; every path with ``verbose``."""
        n = len(self.orphans) + len(self.intermediates)
        if not n:
            return []
        out = [f"autoclean: deleting {len(self.orphans)} orphan folder(s) and the outputs of "
               f"{len(self.intermediates)} intermediate job(s), {format_bytes(self.bytes)}"]
        if self.combos:
            names = ", ".join(f"{f.name} ({job_file})" for f, job_file in self.combos)
            out.append(f"autoclean: this removes requested outputs of other combos, whose folders go too: {names}")
        if verbose:
            out += [f"  orphan        {p.parent.name}/{p.name}" for p in self.orphans]
            out += [f"  intermediate  {j.key}" for j in self.intermediates]
        return out


def plan_clean(dag: DAG, plan: Plan, failed: set[str] = frozenset()) -> CleanPlan:  # type: ignore[assignment]
    """What autoclean deletes after a run in which the jobs ``failed`` did not succeed (for a
    dry run: none, i.e. what it will delete if everything succeeds)."""
    outdir = Outdir(dag.outdir)
    cp = CleanPlan(orphans=[p for p in plan.orphans if p.parent.parent == dag.outdir and not p.is_symlink()])
    requested = {n.job.fingerprint for n in dag.requested.values()}
    consumers: dict[str, list[Job]] = {}
    for j in plan.required:
        for _, n in j.edges:
            consumers.setdefault(n.job.fingerprint, []).append(j)
    for j in plan.required:
        fp = j.fingerprint
        if fp in requested or j.key in failed or not consumers.get(fp):
            continue
        if any(c.key in failed for c in consumers[fp]) or plan.entries[fp].state is State.CLEANED:
            continue
        cp.intermediates.append(j)
    seen: set[tuple[int, int]] = set()
    cp.bytes = sum(tree_bytes(p, seen) for p in cp.orphans)
    for j in cp.intermediates:
        cp.bytes += sum(tree_bytes(Path(outdir.node(j.key).file(fn)), seen) for fn in j.rule.filenames)
    keys = {f"{p.parent.name}/{p.name}" for p in cp.orphans} | {j.key for j in cp.intermediates}
    cp.combos = [(folder, m.job_file or "?") for folder, m in combos_using(dag.outdir, keys)]
    return cp


def apply_clean(dag: DAG, cp: CleanPlan) -> list[str]:
    """Delete what ``cp`` lists; returns the paths removed."""
    removed: list[str] = []
    outdir = Outdir(dag.outdir)
    for combo, _ in cp.combos:
        remove_combo(combo)
    for p in cp.orphans:
        try:
            remove_output(p)
            removed.append(str(p))
        except OSError:
            pass
    for j in cp.intermediates:
        node = outdir.node(j.key)
        if node.state() == UP_TO_DATE:
            removed.extend(node.clean_outputs(j.rule.filenames))
    return removed
