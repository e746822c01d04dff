"""An output directory: its node folders, its lock and ``.rip/index.json``.

``outdir/{rule}/{hash16}/`` is a node folder exactly when :func:`is_node_folder` says so;
every reader (plan, why, report, clean, jobs) asks this module instead of testing paths.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .files import atomic_write, read_text
from .folder import RIP, IndexEntry, NodeFolder
from .lock import OutdirLock, check_rip
from .records import (
    CLEANED,
    STATES,
    UP_TO_DATE,
    index_copy,
    parse_record,
    valid_outputs,
    valid_record,
)

INDEX_NAME = "index.json"
INDEX_VERSION = 1
SOURCES_NAME = "sources.json"
HASH16 = re.compile(r"^[0-9a-f]{16}$")
MANIFEST = "manifest.toml"  # marks a combo's link folder (schemas.manifest writes it)


def is_rule_folder(path: str) -> bool:
    """A real folder that is not a combo's link folder."""
    return (os.path.isdir(path) and not os.path.islink(path)
            and not os.path.lexists(os.path.join(path, MANIFEST)))


def is_node_folder(path: str | os.PathLike[str]) -> bool:
    """``outdir/{rule}/{hash16}``: a real folder named by a hash, holding a real ``.rip``."""
    p = os.fspath(path)
    if not HASH16.match(os.path.basename(p)) or os.path.islink(p) or not os.path.isdir(p):
        return False
    rip = os.path.join(p, RIP)
    return os.path.isdir(rip) and not os.path.islink(rip)


class Outdir:
    """The store's view of one output directory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()
        self.root = str(self.path)
        self.rip = f"{self.root}/{RIP}"

    def lock(self) -> OutdirLock:
        return OutdirLock(self.path)

    def check(self) -> None:
        """Raise :class:`~necroflow.store.lock.UnsafeOutdir` when ``.rip`` is not a real folder."""
        check_rip(self.rip)

    def node(self, key: str) -> NodeFolder:
        """The folder of job ``rule/hash16``."""
        return NodeFolder(f"{self.root}/{key}")

    def node_folders(self, rule: str | None = None, ordered: bool = True) -> Iterator[tuple[str, NodeFolder]]:
        """(key, folder) of every node folder (sorted unless ``ordered=False``: directory
        order); combo link folders and links skipped."""
        try:
            rules = sorted(e.name for e in os.scandir(self.root)) if rule is None else [rule]
        except OSError:
            return
        for name in rules:
            rd = f"{self.root}/{name}"
            if name.startswith(".") or not is_rule_folder(rd):
                continue
            try:
                hashes = sorted(os.listdir(rd)) if ordered else os.listdir(rd)
            except OSError:
                continue
            for h in hashes:
                if is_node_folder(f"{rd}/{h}"):
                    yield f"{name}/{h}", NodeFolder(f"{rd}/{h}")

    def holds_rule_outputs(self, name: str) -> bool:
        """True when ``outdir/name`` is a rule folder with at least one node folder."""
        return next(iter(self.node_folders(name)), None) is not None and is_rule_folder(f"{self.root}/{name}")

    # -- the index -----------------------------------------------------------------------
    def load_index(self) -> dict[str, IndexEntry]:
        """A cache of every node's state and record, so that a no-op rerun reads one file
        instead of two per node.  A missing or damaged index is empty; entries are checked
        when used (:func:`valid_entry`)."""
        text = read_text(f"{self.rip}/{INDEX_NAME}")
        if not text:
            return {}
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            return {}
        if type(doc) is not dict or doc.get("version") != INDEX_VERSION or type(doc.get("nodes")) is not dict:
            return {}
        return doc["nodes"]

    def save_index(self, nodes: dict[str, IndexEntry]) -> None:
        doc = {"version": INDEX_VERSION, "nodes": {k: list(v) for k, v in nodes.items()}}
        atomic_write(f"{self.rip}/{INDEX_NAME}", json.dumps(doc, separators=(",", ":")))

    def load_sources(self) -> dict[str, dict[str, Any]]:
        """``.rip/sources.json``: path -> {sha256, signature} of source files; damaged reads as empty."""
        text = read_text(f"{self.rip}/{SOURCES_NAME}")
        try:
            doc = json.loads(text) if text else {}
        except (ValueError, RecursionError):
            return {}
        if type(doc) is not dict:
            return {}
        return {k: v for k, v in doc.items() if type(k) is str and valid_outputs({k: v})}

    def save_sources(self, entries: dict[str, dict[str, Any]]) -> None:
        atomic_write(f"{self.rip}/{SOURCES_NAME}", json.dumps(entries, separators=(",", ":")))

    def reader(self) -> NodeReader:
        return NodeReader(self)


def valid_entry(e: Any) -> bool:
    return (type(e) in (list, tuple) and len(e) == 4 and type(e[0]) is int and type(e[1]) is int
            and e[2] in STATES and valid_record(e[3]))


class NodeReader:
    """What a plan reads from disk, read cheaply.

    A rule folder is listed once, so a node that was never built costs a set lookup, not an
    ``open``; a node whose state file still matches the index is judged from the index, so a
    no-op rerun reads one file in all instead of two per node.
    """

    def __init__(self, outdir: Outdir) -> None:
        self.outdir = outdir
        self.index = outdir.load_index()
        self.seen: dict[str, IndexEntry] = {}  # what the index should say after this plan
        self.dirty = False
        self._present: dict[str, set[str]] = {}

    def folder_exists(self, rule: str, hash16: str) -> bool:
        names = self._present.get(rule)
        if names is None:
            try:
                names = set(os.listdir(f"{self.outdir.root}/{rule}"))
            except OSError:
                names = set()
            self._present[rule] = names
        return hash16 in names

    def state_and_record(self, key: str, folder: NodeFolder
                         ) -> tuple[str | None, dict[str, Any] | None, tuple[int, int, int] | None]:
        """(state word, checked record, state stamp) of a node; the record only for
        ``up_to_date``/``cleaned`` nodes."""
        stamp = folder.stamp()
        if stamp is None:
            return None, None, None
        e = self.index.get(key)
        if e is not None and valid_entry(e) and e[0] == stamp[0] and e[1] == stamp[1] and len(e[2]) == stamp[2]:
            return e[2], e[3], stamp
        self.dirty = True
        self.index.pop(key, None)  # out of date: replaced by what ``seen`` learns, if anything
        state = folder.state()
        record = parse_record(read_text(f"{folder.rip}/record.json")) if state in (UP_TO_DATE, CLEANED) else None
        return state, record, stamp

    def learn(self, key: str, stamp: tuple[int, int, int], state: str, record: dict[str, Any]) -> None:
        e = self.index.get(key)
        if e is not None and e[3] is record:  # judged from the index: the entry stays as it is
            self.seen[key] = e  # (a re-hash updated its record in place)
            return
        self.seen[key] = (stamp[0], stamp[1], state, index_copy(record))

    def save(self, updates: dict[str, IndexEntry]) -> None:
        """Write the index back when this plan or run learned anything new.

        The index is only a cache, so a failure to write it costs speed next time, never
        correctness.
        """
        if not (self.dirty or updates):
            return
        nodes = dict(self.index)
        nodes.update(self.seen)
        nodes.update(updates)
        try:
            self.outdir.save_index(nodes)
        except OSError:
            pass
