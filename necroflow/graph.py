"""Nodes, rule calls (jobs), pipelines and the DAG that owns an outdir."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .fingerprint import call_fingerprint
from .types import NodeType

if TYPE_CHECKING:
    from .execute import RunReport
    from .plan import Plan
    from .rules import Rule


class Job:
    """One rule call: a rule, its literal params and its parent nodes.  Co-outputs of a
    multi-output rule share one Job, one folder and one command run."""

    __slots__ = ("rule", "params", "params_json", "inputs", "outputs", "fingerprint", "dirs", "_dirp", "order",
                 "__weakref__")

    def __init__(self, rule: Rule, params: dict[str, Any], params_json: str, inputs: dict[str, Node]) -> None:
        self.rule = rule
        self.params = params
        self.params_json = params_json
        self.inputs = inputs
        # Parents are always built before children, so the fingerprint is computed here,
        # once, without recursion: a 10,000-deep chain costs 10,000 hashes, not a stack.
        self.fingerprint: str = call_fingerprint(
            rule.digest, params_json,
            [(name, n.job.fingerprint, n.label) for name, n in inputs.items()],
        )
        self.outputs: dict[str, Node] = {label: Node(self, label, t) for label, t in rule.outputs.items()}
        self.dirs: str | None = None  # the node folder as text; ``dir`` is the Path, made on demand
        self._dirp: Path | None = None
        self.order = 0

    @property
    def dir(self) -> Path | None:
        """The node folder ``outdir/{rule}/{hash16}``, once paths are resolved."""
        p = self._dirp
        if p is None and self.dirs is not None:
            p = self._dirp = Path(self.dirs)
        return p

    @dir.setter
    def dir(self, value: str | os.PathLike[str] | None) -> None:
        self.dirs = None if value is None else os.fspath(value)
        self._dirp = None

    @property
    def hash16(self) -> str:
        return self.fingerprint[:16]

    @property
    def key(self) -> str:
        return f"{self.rule.name}/{self.fingerprint[:16]}"

    @property
    def parents(self) -> list[Job]:
        seen: dict[str, Job] = {}
        for n in self.inputs.values():
            seen.setdefault(n.job.fingerprint, n.job)
        return list(seen.values())

    @property
    def constraints(self) -> Any:
        return self.rule.constraints

    @property
    def name(self) -> str:
        return self.rule.name

    def __repr__(self) -> str:
        return f"<Job {self.key}>"


class Node:
    """One output of a rule call: what a factory holds and passes on to the next rule."""

    __slots__ = ("job", "label", "type")

    def __init__(self, job: Job, label: str, type_: type[NodeType]) -> None:
        self.job = job
        self.label = label
        self.type = type_

    rule = property(lambda self: self.job.rule, doc="The rule that produces this node.")
    fingerprint = property(lambda self: self.job.fingerprint, doc="Full SHA-256 of the call.")
    hash16 = property(lambda self: self.job.fingerprint[:16])
    params = property(lambda self: self.job.params)
    inputs = property(lambda self: self.job.inputs)
    parents = property(lambda self: [n for n in self.job.inputs.values()])

    @property
    def filename(self) -> str:
        return self.type.filename

    @property
    def relpath(self) -> str:
        """``{rule}/{hash16}/{filename}``, relative to the outdir."""
        return f"{self.job.rule.name}/{self.job.fingerprint[:16]}/{self.type.filename}"

    @property
    def path(self) -> Path | None:
        d = self.job.dir
        return None if d is None else d / self.type.filename

    def __repr__(self) -> str:
        return f"<Node {self.relpath}>"


def walk_jobs(roots: Iterable[Job]) -> list[Job]:
    """Every job reachable from ``roots`` through inputs, parents before children.

    Iterative post-order DFS: no recursion limit, O(jobs + edges).
    """
    out: list[Job] = []
    seen: set[int] = set()
    for root in roots:
        if id(root) in seen:
            continue
        stack: list[tuple[Job, Iterator[Node]]] = [(root, iter(root.inputs.values()))]
        seen.add(id(root))
        while stack:
            job, it = stack[-1]
            for n in it:
                pj = n.job
                if id(pj) not in seen:
                    seen.add(id(pj))
                    stack.append((pj, iter(pj.inputs.values())))
                    break
            else:
                stack.pop()
                out.append(job)
    return out


class Pipeline:
    """The wiring for one config: rule calls attached as attributes (``P.bam = R.align(...)``)."""

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
        labels = self.__dict__["_labels"]
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
        return [n for j in self.jobs for n in j.outputs.values()]

    def sinks(self, jobs: list[Job] | None = None) -> dict[str, Node]:
        """Labelled nodes that no other node of this pipeline consumes: the default requests."""
        consumed = {(id(n.job), n.label) for j in (self.jobs if jobs is None else jobs) for n in j.inputs.values()}
        return {k: n for k, n in self._labels.items() if (id(n.job), n.label) not in consumed}

    def resolve_paths(self, outdir: str | os.PathLike[str]) -> None:
        """Give every node its absolute path under ``outdir`` (``DAG.add`` does this too)."""
        root = Path(outdir).absolute()
        for j in self.jobs:
            j.dir = root / j.rule.name / j.fingerprint[:16]

    def __str__(self) -> str:
        from .render import ascii_dag

        return ascii_dag(self.jobs, self._labels)

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(str(self) + "\n")


class DAG:
    """All jobs of many pipelines over one outdir; equal fingerprints are one job."""

    def __init__(self, outdir: str | os.PathLike[str]) -> None:
        self.outdir = Path(outdir).absolute()
        self.jobs: dict[str, Job] = {}  # fingerprint -> canonical job, parents first
        self.pipelines: list[Pipeline] = []
        self.requested: dict[str, Node] = {}  # "rule/hash16/filename" -> node
        self.request_labels: list[tuple[int, str, Node]] = []  # (pipeline index, label, node)
        self.pipeline_requests: list[dict[str, Node]] = []  # per added pipeline: label -> canonical node

    def add(self, pipeline: Pipeline, requests: Iterable[str] | None = None) -> DAG:
        """Add a pipeline; ``requests`` names the attributes to build (default: its sinks)."""
        if not isinstance(pipeline, Pipeline):
            raise TypeError(f"DAG.add expects a Pipeline, got {type(pipeline).__name__}")
        pjobs = pipeline.jobs
        if requests is None:
            wanted = pipeline.sinks(pjobs)
        else:
            wanted = {}
            for label in requests:
                if label not in pipeline:
                    raise KeyError(f"requested output {label!r} is not a pipeline attribute; assigned: {', '.join(pipeline.labels) or 'none'}")
                wanted[label] = pipeline[label]
        idx = len(self.pipelines)
        self.pipelines.append(pipeline)
        root = str(self.outdir)
        jobs = self.jobs
        for j in pjobs:
            dirs = f"{root}/{j.rule.name}/{j.fingerprint[:16]}"
            if j.dirs != dirs:
                j.dirs, j._dirp = dirs, None
            if j.fingerprint not in jobs:
                j.order = len(jobs)
                jobs[j.fingerprint] = j
        mine: dict[str, Node] = {}
        for label, node in wanted.items():
            canon = jobs[node.job.fingerprint].outputs[node.label]
            self.requested[canon.relpath] = canon
            self.request_labels.append((idx, label, canon))
            mine[label] = canon
        self.pipeline_requests.append(mine)
        return self

    def canonical(self, job: Job) -> Job:
        return self.jobs.get(job.fingerprint, job)

    def __len__(self) -> int:
        return len(self.jobs)

    def __str__(self) -> str:
        from .render import ascii_dag

        labels = [(lab, n) for _, lab, n in self.request_labels]
        return ascii_dag(list(self.jobs.values()), labels, canonical=self.jobs)

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(str(self) + "\n")

    def plan(self, *, scan_orphans: bool = False) -> Plan:
        """Classify every required job against the filesystem (no side effects but re-hashing)."""
        from .plan import make_plan

        return make_plan(self, scan_orphans=scan_orphans)

    def execute(self, resource_caps: dict[str, Any] | None = None, scheduler: Any = None,
                keep_going: bool = False, autoclean: bool = False, dry_run: bool = False,
                backend: Any = None, progress: Any = None) -> RunReport:
        """Run whatever is not up to date.  See :func:`necroflow.execute.execute`."""
        from .execute import execute

        return execute(self, resource_caps=resource_caps, scheduler=scheduler, keep_going=keep_going,
                       autoclean=autoclean, dry_run=dry_run, backend=backend, progress=progress)


def _plain_text(value: Any) -> str:
    """A param value as one unquoted word: numbers and bools as Python writes them, nested
    lists/dicts as JSON."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, dict)):
        return _json(value)
    return str(value)


def _value_text(value: Any) -> str:
    """Shell text of a param: one quoted word, or a list as separately quoted words."""
    if isinstance(value, list):
        return " ".join(shlex.quote(_plain_text(v)) for v in value)
    return shlex.quote(_plain_text(value))


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def command_values(job: Job) -> dict[str, str]:
    """Placeholder -> shell text for one job: paths and params shell-quoted."""
    if job.dir is None:
        raise ValueError(f"{job.key}: paths are not resolved; add the pipeline to a DAG or call P.resolve_paths(outdir) first")
    rule = job.rule
    values: dict[str, str] = {}
    for field, spec in rule.fields:
        if field in values:
            continue
        if field in rule.outputs:
            values[field] = shlex.quote(str(job.dir / rule.outputs[field].filename))
        elif field in rule.inputs:
            n = job.inputs[field]
            d = n.job.dir
            if d is None:
                d = job.dir.parent.parent / n.job.rule.name / n.job.fingerprint[:16]
            values[field] = shlex.quote(str(d / n.type.filename))
        elif field in rule.params:
            v = job.params[field]
            values[field] = (v if isinstance(v, str) else _value_text(v)) if spec == "raw" else _value_text(v)
        else:  # a constraint
            values[field] = str(rule.constraints.get(field, 1 if field == "threads" else ""))
    return values


def resolve_command(node: Node | Job) -> str:
    """The exact shell command a node's job runs: absolute paths, quoted values, nothing prepended."""
    job = node.job if isinstance(node, Node) else node
    values = command_values(job)
    out = []
    from .rules import _formatter

    for lit, field, _spec, _conv in _formatter.parse(job.rule.command):
        out.append(lit)
        if field is not None:
            out.append(values[field])
    return "".join(out)
