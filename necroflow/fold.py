"""Fold a new pipeline's duplicate jobs into the ones its DAG already holds.

A factory run per sample calls ``R.index(genome="hg38")`` once per sample, and each call
makes its own Job.  The DAG keeps one job per fingerprint, but every sample's pipeline used
to keep its own copy alive (through its labels, and through the ``align`` job whose input it
is): at a million jobs, a quarter of the memory.  When :meth:`DAG.add` takes a pipeline, the
copies it brings are replaced by the DAG's own jobs wherever that changes nothing anyone else
can see: in jobs that belong to no DAG yet (``outdir`` unset), and in the pipeline's labels.
The fingerprints are equal, so no hash, folder or command changes; the copies are freed.

A job already in another DAG is never touched: the same pipeline may be added to two DAGs,
and each keeps its own view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .graph import Pipeline
    from .nodes import Job, Node


def repoint(job: Job, canonical: dict[int, Job]) -> None:
    """Make a fresh job's inputs the DAG's own nodes where its parents were copies."""
    edges = job.edges
    if not any(id(n.job) in canonical for _, n in edges):
        return
    job.edges = tuple((slot, _canon(n, canonical)) for slot, n in edges)
    lists = job._lists
    if lists is not None:
        job._lists = {name: tuple(_canon(n, canonical) for n in v) if isinstance(v, tuple) else _canon(v, canonical)
                      for name, v in lists.items()}


def relabel(pipeline: Pipeline, canonical: dict[int, Job]) -> None:
    """Point the pipeline's labels at the DAG's own nodes instead of copies."""
    labels = pipeline._labels
    for name, node in list(labels.items()):
        if id(node.job) in canonical:
            labels[name] = _canon(node, canonical)


def _canon(node: Node, canonical: dict[int, Job]) -> Node:
    job = canonical.get(id(node.job))
    return node if job is None else job.node(node.label)
