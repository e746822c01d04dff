"""Text renderings of a job graph: layered ASCII for ``print(P)`` / ``print(dag)``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .graph import Job, Node


def layers(jobs: list[Job]) -> dict[str, int]:
    """Longest-path depth of each job from the sources (jobs are given parents first)."""
    depth: dict[str, int] = {}
    for j in jobs:
        depth[j.fingerprint] = 1 + max((depth.get(n.job.fingerprint, -1) for _, n in j.edges), default=-1)
    return depth


def ascii_dag(jobs: list[Job], labels: dict[str, Node] | list[tuple[str, Node]],
              canonical: dict[str, Job] | None = None) -> str:
    """``labels`` may repeat a name (every pipeline of a DAG has its own ``result``), hence pairs."""
    depth = layers(jobs)
    by_layer: dict[int, list[Job]] = {}
    for j in jobs:
        by_layer.setdefault(depth[j.fingerprint], []).append(j)
    names: dict[tuple[str, str], list[str]] = {}
    for lab, n in labels.items() if isinstance(labels, dict) else labels:
        shown = names.setdefault((n.job.fingerprint, n.label), [])
        if lab not in shown:
            shown.append(lab)
    lines = [f"{len(jobs)} jobs in {len(by_layer)} layers"]
    for layer in sorted(by_layer):
        lines.append(f"layer {layer}")
        for j in by_layer[layer]:
            outs = ", ".join(
                f"{t.filename}" + (f" [{', '.join(names[(j.fingerprint, lab)])}]" if (j.fingerprint, lab) in names else "")
                for lab, t in j.rule.outputs.items()
            )
            lines.append(f"  {j.rule.name} {j.fingerprint[:16]} -> {outs}")
            for name, n in j.edges:
                lines.append(f"      <- {name}: {n.job.rule.name} {n.job.fingerprint[:16]}/{n.type.filename}")
    return "\n".join(lines)
