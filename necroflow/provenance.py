"""What a node folder records of where it came from: ``dependencies.toml`` as plain data.

This call's rule, command template, params and consumed inputs, plus the configs of its
ancestors, nearest first, up to ``UPSTREAM_LIMIT`` of them (a deep chain would otherwise
make provenance quadratic; each ancestor's own record holds the rest).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .nodes import Job

UPSTREAM_LIMIT = 200


def consumed_inputs(job: Job, current: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """Input slot -> the parent job, file and content hash this run of ``job`` reads."""
    out = {}
    for slot, n in job.edges:
        pj = n.job
        out[slot] = {"job": pj.key, "file": n.type.filename, "sha256": n.digest(current.get(pj.fingerprint, {}))}
    return out


def provenance(job: Job, consumed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "rule": job.rule.name, "fingerprint": job.fingerprint, "command": job.rule.command,
        "params": job.params,
        "inputs": {slot: {k: v for k, v in c.items() if v is not None} for slot, c in consumed.items()},
    }
    if job.container is not None:
        doc["container"] = {"image": job.container, "id": job.container_id}
    if job.sources:
        doc["sources"] = {k: {"path": job.params[k], "sha256": h} for k, h in job.sources.items()}
    upstream: dict[str, Any] = {}
    frontier = [n.job for _, n in job.edges]
    seen: set[str] = set()
    while frontier and len(upstream) < UPSTREAM_LIMIT:
        nxt: list[Job] = []
        for p in frontier:
            if p.fingerprint in seen:
                continue
            seen.add(p.fingerprint)
            upstream[p.key] = {"rule": p.rule.name, "params": p.params,
                               "inputs": {slot: n.relpath for slot, n in p.edges}}
            nxt.extend(n.job for _, n in p.edges)
        frontier = nxt
    if frontier:
        doc["upstream_truncated"] = True
    doc["upstream"] = upstream
    return doc
