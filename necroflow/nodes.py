"""Jobs (rule calls) and nodes (their outputs): the values a factory builds and a DAG holds.

A job is immutable once made: its rule, literal params and parent nodes fix its fingerprint.
It knows nothing of output directories; a :class:`~necroflow.graph.DAG` maps jobs to folders
under its own outdir, so one job can belong to several DAGs without any of them seeing the
others' paths.  For convenience (``P.shout.path``, ``resolve_command(node)``) a job also
remembers the first outdir it was resolved under; no DAG ever reads that.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .fingerprint import call_fingerprint, dumps

if TYPE_CHECKING:
    from .rules import Rule
    from .types import NodeType

_serials = itertools.count()

#: One input edge: the slot it fills (``"bam"``, or ``"bams[2]"`` for an element of a list
#: input) and the parent node.
Edge = tuple[str, "Node"]


class Job:
    """One rule call: a rule, its literal params and its parent nodes.

    Co-outputs of a multi-output rule share one Job, one folder and one command run.
    ``order`` is the creation order, which is topological (parents are made first); the
    fifo scheduler follows it.
    """

    __slots__ = ("rule", "params", "_lists", "edges", "nodes", "fingerprint",
                 "order", "outdir", "deferred", "_extra")

    def __init__(self, rule: Rule, params: dict[str, Any], params_json: str,
                 inputs: dict[str, Node | tuple[Node, ...]], container: str | None = None) -> None:
        self.rule = rule
        self.params = params  # params_json (canonical JSON of them) is hashed below, not kept
        # Inputs are kept once, as edges; a rule with list inputs also keeps its lists' shape.
        self._lists = inputs if rule.lists else None
        if rule.lists:
            edges: list[Edge] = []
            for name, value in inputs.items():
                if isinstance(value, tuple):
                    edges.extend((f"{name}[{i}]", n) for i, n in enumerate(value))
                else:
                    edges.append((name, value))
            self.edges: tuple[Edge, ...] = tuple(edges)
        else:
            self.edges = tuple(inputs.items())  # type: ignore[arg-type]
        # Parents are always built before children, so the fingerprint is computed here,
        # once, without recursion: a 10,000-deep chain costs 10,000 hashes, not a stack.  A
        # call that reads source files (or has a parent that does) waits until its
        # fingerprint is first needed: hashing them is the DAG's business (see sources.py).
        # Only a call that hashes source files or runs in an image carries these (see _Extra).
        self._extra = _Extra(container) if container is not None or rule.sources else None
        deferred = rule.deferred or container is not None
        if not deferred:
            parents = []
            for slot, n in self.edges:
                pj = n.job
                if pj.deferred:
                    deferred = True
                    break
                parents.append((slot, pj.fingerprint, n.label))
        self.deferred: bool = deferred
        if not deferred:
            self.fingerprint: str = call_fingerprint(rule.digest, params_json, parents)
        # Its output nodes in the rule's order: a tuple, not a dict per job (see ``outputs``).
        self.nodes: tuple[Node, ...] = tuple([Node(self, label, t) for label, t in rule.outputs.items()])
        self.order = next(_serials)
        self.outdir: str | None = None  # the first outdir this job was resolved under (convenience only)

    def __getattr__(self, name: str) -> Any:
        # Only reached for an unset slot: the fingerprint of a deferred call.
        if name == "fingerprint" and object.__getattribute__(self, "deferred"):
            resolve_deferred(self)
            return object.__getattribute__(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _resolve(self) -> None:
        """Compute a deferred fingerprint (every parent's is known by now)."""
        rule = self.rule
        params_json = self.params_json
        identity: dict[str, Any] = {}
        if rule.sources or self.container is not None:
            extra = self._extra
            assert extra is not None  # made with the job whenever the rule has sources or the call an image
            if rule.sources:
                from .missing import source_hash

                extra.sources = {k: source_hash(self.params[k]) for k in sorted(rule.sources)}
                identity.update({k: {"source_sha256": h} for k, h in extra.sources.items()})
            if extra.container is not None:
                from .containers import image_id

                extra.container_id = image_id(rule.name, extra.container)[1]
                identity[".container"] = extra.container_id  # no param can be named so: identifiers only
        if identity:
            params_json = dumps({**self.params, **identity})
        parents = [(slot, n.job.fingerprint, n.label) for slot, n in self.edges]
        self.fingerprint = call_fingerprint(rule.digest, params_json, parents)
        self.deferred = False

    @property
    def inputs(self) -> dict[str, Node | tuple[Node, ...]]:
        """Input name -> parent node (a tuple of them for a list input)."""
        lists = self._lists
        return dict(self.edges) if lists is None else dict(lists)

    @property
    def outputs(self) -> dict[str, Node]:
        """Output label -> node (a new dict each time; ``nodes`` and ``node()`` are cheaper)."""
        return {n.label: n for n in self.nodes}

    def node(self, label: str) -> Node:
        """The output node named ``label``."""
        for n in self.nodes:
            if n.label == label:
                return n
        raise KeyError(f"rule {self.rule.name!r} has no output {label!r}")

    @property
    def sources(self) -> dict[str, str] | None:
        """Source param -> content hash, once known."""
        return None if self._extra is None else self._extra.sources

    @property
    def container(self) -> str | None:
        """The image its command runs in (by name), if any."""
        return None if self._extra is None else self._extra.container

    @property
    def container_id(self) -> str | None:
        """That image's content id, once known."""
        return None if self._extra is None else self._extra.container_id

    @property
    def params_json(self) -> str:
        """Canonical JSON of the literal params (what the fingerprint hashed)."""
        return dumps(self.params)

    @property
    def key(self) -> str:
        """``{rule}/{hash16}``: made when asked, not kept (a million jobs, 70 MB)."""
        return f"{self.rule.name}/{self.fingerprint[:16]}"

    @property
    def hash16(self) -> str:
        return self.fingerprint[:16]

    @property
    def dir(self) -> Path | None:
        """``outdir/{rule}/{hash16}`` under the first outdir this job was resolved in."""
        return None if self.outdir is None else Path(self.outdir, self.key)

    @property
    def parents(self) -> list[Job]:
        """Distinct parent jobs, in input order."""
        seen: dict[int, Job] = {}
        for _, n in self.edges:
            seen.setdefault(id(n.job), n.job)
        return list(seen.values())

    @property
    def constraints(self) -> Any:
        return self.rule.constraints

    @property
    def name(self) -> str:
        return self.rule.name

    def __repr__(self) -> str:
        return f"<Job {self.key}>"


class _Extra:
    """What a deferred call learns when resolved: kept apart, as most jobs have none of it."""

    __slots__ = ("sources", "container", "container_id")

    def __init__(self, container: str | None) -> None:
        self.sources: dict[str, str] | None = None  # source param -> content hash, once known
        self.container = container
        self.container_id: str | None = None


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
    parents = property(lambda self: [n for _, n in self.job.edges])

    @property
    def filename(self) -> str:
        return self.type.filename

    @property
    def files(self) -> tuple[str, ...]:
        """The main file and its companions (``x.bam``, ``x.bam.bai``)."""
        return self.type.files()

    def digest(self, hashes: Mapping[str, str]) -> str | None:
        """What a consumer records of this node, from its job's ``{file: sha256}``: the main
        file's hash, or one hash over the main file and its companions (a changed ``.bai``
        changes it).  None while a file is unknown."""
        files = self.type._files
        if len(files) == 1:
            return hashes.get(files[0])
        parts = [hashes.get(fn) for fn in files]
        if None in parts:
            return None
        text = "\0".join(f"{fn}\0{h}" for fn, h in zip(files, parts, strict=True))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def relpath(self) -> str:
        """``{rule}/{hash16}/{filename}``, relative to the outdir."""
        return f"{self.job.key}/{self.type.filename}"

    @property
    def path(self) -> Path | None:
        """The file under the first outdir the job was resolved in (``DAG.path`` for a given DAG)."""
        d = self.job.dir
        return None if d is None else d / self.type.filename

    def __repr__(self) -> str:
        return f"<Node {self.relpath}>"


def resolve_deferred(job: Job) -> None:
    """Resolve a deferred job and its deferred ancestors, parents first, without recursion."""
    order: list[Job] = []
    seen: set[int] = {id(job)}
    stack: list[tuple[Job, Iterator[Edge]]] = [(job, iter(job.edges))]
    while stack:
        j, it = stack[-1]
        for _, n in it:
            pj = n.job
            if pj.deferred and id(pj) not in seen:
                seen.add(id(pj))
                stack.append((pj, iter(pj.edges)))
                break
        else:
            stack.pop()
            order.append(j)
    for j in order:
        j._resolve()


def walk_jobs(roots: Iterable[Job]) -> list[Job]:
    """Every job reachable from ``roots`` through inputs, parents before children.

    Iterative post-order DFS: no recursion limit, O(jobs + edges).
    """
    out: list[Job] = []
    seen: set[int] = set()
    for root in roots:
        if id(root) in seen:
            continue
        stack: list[tuple[Job, Iterator[Edge]]] = [(root, iter(root.edges))]
        seen.add(id(root))
        while stack:
            job, it = stack[-1]
            for _, n in it:
                pj = n.job
                if id(pj) not in seen:
                    seen.add(id(pj))
                    stack.append((pj, iter(pj.edges)))
                    break
            else:
                stack.pop()
                out.append(job)
    return out
