"""Pipelines (the wiring for one config) and the DAG that owns an outdir."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .command import resolve_command
from .containers import remember_ids
from .fold import relabel, repoint
from .heap import fit_to
from .nodes import Job, Node, walk_jobs
from .sources import SourceHashes, using
from .store import Outdir

if TYPE_CHECKING:
    from .plan import Plan
    from .reporting import RunReport

__all__ = ["DAG", "Job", "Node", "Pipeline", "resolve_command", "walk_jobs"]


class Pipeline:
    """The wiring for one config: rule calls attached as attributes (``P.bam = R.align(...)``)."""

    __slots__ = ("_labels",)  # no __dict__: a DAG keeps every pipeline it was given
    _labels: dict[str, Node]

    def __init__(self) -> None:
        object.__setattr__(self, "_labels", {})

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            raise ValueError(f"pipeline attribute {name!r}: names starting with '_' are reserved")
        if hasattr(type(self), name):  # P.nodes = ... would be stored but never read back
            raise ValueError(f"pipeline attribute {name!r} is reserved (a Pipeline method or property); choose another name")
        labels = self._labels
        if name in labels:
            raise ValueError(f"pipeline attribute {name!r} is already assigned; each name can be set once (use distinct names, e.g. f'result_{{i}}')")
        if not isinstance(value, Node):
            raise TypeError(f"pipeline attribute {name!r} must be a node returned by a rule call, got {type(value).__name__}")
        labels[name] = value

    def __getattr__(self, name: str) -> Node:
        labels = object.__getattribute__(self, "_labels")
        if name in labels:
            return labels[name]
        raise AttributeError(f"pipeline has no node named {name!r}; assigned: {', '.join(labels) or 'none'}")

    def __getitem__(self, name: str) -> Node:
        return self.__getattr__(name)

    def __contains__(self, name: object) -> bool:
        return name in self._labels

    def __dir__(self) -> list[str]:
        return list(super().__dir__()) + list(self._labels)

    @property
    def labels(self) -> dict[str, Node]:
        """Attribute name -> node, in assignment order."""
        return dict(self._labels)

    @property
    def jobs(self) -> list[Job]:
        """Every rule call this pipeline needs (labelled or not), parents first."""
        return walk_jobs(n.job for n in self._labels.values())

    @property
    def nodes(self) -> list[Node]:
        """Every node this pipeline needs, parents first (co-outputs listed once each)."""
        return [n for j in self.jobs for n in j.nodes]

    def sinks(self, jobs: list[Job] | None = None) -> dict[str, Node]:
        """Labelled nodes that no other node of this pipeline consumes: the default requests."""
        consumed = {(id(n.job), n.label) for j in (self.jobs if jobs is None else jobs) for _, n in j.edges}
        return {k: n for k, n in self._labels.items() if (id(n.job), n.label) not in consumed}

    def resolve_paths(self, outdir: str | os.PathLike[str]) -> None:
        """Resolve ``node.path`` and ``resolve_command(node)`` of every node under ``outdir``."""
        root = str(Path(outdir).absolute())
        for j in self.jobs:
            j.outdir = root

    def __str__(self) -> str:
        from .render import ascii_dag

        return ascii_dag(self.jobs, self._labels)

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(str(self) + "\n")


GLOB_CHARS = frozenset("*?[")


def expand_requests(pipeline: Pipeline, requests: Iterable[str]) -> list[str]:
    """Labels named by ``requests``: plain names, or globs over the pipeline's labels
    (``"sorted_*"``), in the pipeline's label order for a glob.  A name or glob that matches
    nothing is a KeyError naming it."""
    labels = list(pipeline.labels)
    out: dict[str, None] = {}
    for req in requests:
        if GLOB_CHARS.isdisjoint(req):
            if req not in pipeline:
                raise KeyError(f"requested output {req!r} is not a pipeline attribute; "
                               f"assigned: {', '.join(labels) or 'none'}")
            out[req] = None
            continue
        matched = fnmatch.filter(labels, req)
        if not matched:
            raise KeyError(f"requested outputs {req!r} match no pipeline attribute; "
                           f"assigned: {', '.join(labels) or 'none'}")
        out.update(dict.fromkeys(matched))
    return list(out)


class DAG:
    """All jobs of many pipelines over one outdir; equal fingerprints are one job.

    The DAG alone maps jobs to folders (``outdir/{rule}/{hash16}``): the same Pipeline added
    to two DAGs gets each DAG's own folders.
    """

    def __init__(self, outdir: str | os.PathLike[str]) -> None:
        self.outdir = Path(outdir).absolute()
        self.root = str(self.outdir)
        # Content hashes of source files, kept in the outdir; written back by a run.
        self.sources = SourceHashes(Outdir(self.outdir).load_sources())
        self.image_ids: dict[tuple[str, str], str] = {}  # container images, by content id
        self.jobs: dict[str, Job] = {}  # fingerprint -> canonical job, parents first
        self.pipelines: list[Pipeline] = []
        self.requested: dict[str, Node] = {}  # "rule/hash16/filename" -> node
        self.pipeline_requests: list[dict[str, Node]] = []  # per added pipeline: label -> canonical node

    @property
    def request_labels(self) -> list[tuple[int, str, Node]]:
        """(pipeline index, label, canonical node) of every request, in the order added."""
        return [(i, label, n) for i, mine in enumerate(self.pipeline_requests) for label, n in mine.items()]

    def add(self, pipeline: Pipeline, requests: Iterable[str] | None = None) -> DAG:
        """Add a pipeline; ``requests`` names the attributes to build (default: its sinks)."""
        if not isinstance(pipeline, Pipeline):
            raise TypeError(f"DAG.add expects a Pipeline, got {type(pipeline).__name__}")
        pjobs = pipeline.jobs
        if requests is None:
            wanted = pipeline.sinks(pjobs)
        else:
            wanted = {label: pipeline[label] for label in expand_requests(pipeline, requests)}
        self.pipelines.append(pipeline)
        if any(j.deferred for j in pjobs):
            # deferred fingerprints hash their source files through this DAG, and ask about images once
            with using(self.sources), remember_ids(self.image_ids):
                copies = self._take(pjobs)
        else:
            copies = self._take(pjobs)
        if copies:
            relabel(pipeline, copies)
        jobs = self.jobs
        mine: dict[str, Node] = {}
        for label, node in wanted.items():
            canon = jobs[node.job.fingerprint].node(node.label)
            self.requested[canon.relpath] = canon
            mine[label] = canon
        self.pipeline_requests.append(mine)
        fit_to(len(jobs))
        return self

    def _take(self, pjobs: list[Job]) -> dict[int, Job]:
        """Take a pipeline's jobs, parents first; fresh copies of jobs already here are folded
        into them (see fold.py).  Returns id(copy) -> the DAG's job."""
        jobs, root = self.jobs, self.root
        copies: dict[int, Job] = {}
        for j in pjobs:
            if j.outdir is not None:  # already in another DAG: taken as it is, never changed
                jobs.setdefault(j.fingerprint, j)
                continue
            j.outdir = root  # the convenience view (node.path); this DAG never reads it
            if copies:
                repoint(j, copies)
            canon = jobs.setdefault(j.fingerprint, j)
            if canon is not j:
                copies[id(j)] = canon
        return copies

    def only(self, keys: Iterable[str]) -> DAG:
        """A DAG over the same outdir that requests just the jobs ``keys`` (``rule/hash16``)
        and so needs only them and their ancestors.  An unknown key is a KeyError."""
        by_key = {j.key: j for j in self.jobs.values()}
        sub = DAG(self.outdir)
        sub.sources = self.sources
        for key in keys:
            job = by_key.get(key)
            if job is None:
                raise KeyError(f"no job {key!r} in this DAG")
            for n in job.nodes:
                sub.requested[n.relpath] = n
        need = [j for j in walk_jobs(n.job for n in sub.requested.values())]
        sub.jobs = {j.fingerprint: j for j in need}
        return sub

    def folder(self, job: Job) -> str:
        """``outdir/{rule}/{hash16}`` of a job, as text."""
        return f"{self.root}/{job.key}"

    def path(self, node: Node) -> Path:
        """Where a node's file lives under this DAG's outdir."""
        return Path(self.root, node.job.key, node.type.filename)

    def canonical(self, job: Job) -> Job:
        return self.jobs.get(job.fingerprint, job)

    def command(self, node: Node | Job) -> str:
        """The exact shell command of a node's job under this DAG's outdir."""
        return resolve_command(node, self.root)

    def __len__(self) -> int:
        return len(self.jobs)

    def __str__(self) -> str:
        """Every job once, in layers, each output with the labels its pipelines gave it (as ``str(P)``)."""
        from .render import ascii_dag

        labels = [(lab, n) for p in self.pipelines for lab, n in p.labels.items()]
        return ascii_dag(list(self.jobs.values()), labels, canonical=self.jobs)

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(str(self) + "\n")

    def plan(self, *, scan_orphans: bool = False) -> Plan:
        """Classify every required job against the filesystem (no side effects but re-hashing)."""
        from .plan import make_plan

        return make_plan(self, scan_orphans=scan_orphans)

    def execute(self, resource_caps: dict[str, Any] | None = None, scheduler: Any = None,
                keep_going: bool = False, autoclean: bool = False, dry_run: bool = False,
                backend: Any = None, progress: Any = None, **options: Any) -> RunReport:
        """Run whatever is not up to date.  See :func:`necroflow.runs.execute`."""
        from .runs import execute

        return execute(self, resource_caps=resource_caps, scheduler=scheduler, keep_going=keep_going,
                       autoclean=autoclean, dry_run=dry_run, backend=backend, progress=progress, **options)
