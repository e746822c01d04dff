"""Source files: inputs from outside the outdir, identified by their content, not their path.

A literal param annotated :class:`SourceFile` names a file (or folder) the pipeline reads
but no rule makes: a FASTQ from the sequencer, a reference genome.  Its contribution to the
fingerprint is the content hash, so moving or renaming the data (same bytes) reruns
nothing, and changing the bytes reruns exactly its consumers.  ``{param}`` renders the
absolute path.

Hashing waits until a fingerprint is needed, normally when the pipeline is added to a DAG:
then the DAG's outdir keeps the hashes (``.rip/sources.json``, by the same signature rule as
outputs), so a rerun hashes only files whose signature moved.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from .store import hash_path, signature
from .store.hashing import fs_time_ns, signature_fields, trusted


class SourceFile(str):
    """Annotation of a param that names a file outside the outdir: ``def align(fastq: SourceFile)``."""


class SourceMissing(FileNotFoundError):
    """A source file that does not exist; raised when the rule is called."""


def source_path(rule: str, key: str, value: Any) -> str:
    """The absolute path a source param names (relative paths are from the current directory)."""
    if not isinstance(value, (str, os.PathLike)) or isinstance(value, bytes):
        raise TypeError(f"rule {rule!r}: source file {key!r} expects a path (str or Path), "
                        f"got {type(value).__name__} {value!r:.60}")
    path = os.path.abspath(os.fspath(value))
    if not os.path.exists(path):
        raise SourceMissing(f"rule {rule!r}: source file {key!r}: {path} does not exist")
    return path


class SourceHashes:
    """Content hashes of source files, each kept with the signature it was taken at."""

    def __init__(self, entries: dict[str, dict[str, Any]] | None = None) -> None:
        self.entries: dict[str, dict[str, Any]] = dict(entries or {})  # path -> {sha256, signature fields}
        self.dirty = False

    def hash(self, path: str) -> str:
        now = fs_time_ns()
        sig = signature(path)
        if sig is None:
            raise SourceMissing(f"source file {path} does not exist (any more)")
        e = self.entries.get(path)
        if e is not None and trusted(e, sig):
            return str(e["sha256"])
        sha = hash_path(path)
        self.entries[path] = {"sha256": sha, **signature_fields(sig, now)}
        self.dirty = True
        return sha


_process_cache = SourceHashes()  # outside any DAG: this process's own memory
_current: ContextVar[SourceHashes | None] = ContextVar("necroflow_source_hashes", default=None)


@contextmanager
def using(cache: SourceHashes) -> Iterator[None]:
    """Hash source files through ``cache`` (a DAG's, kept in its outdir) inside the block."""
    token = _current.set(cache)
    try:
        yield
    finally:
        _current.reset(token)


def content_hash(path: str) -> str:
    return (_current.get() or _process_cache).hash(path)
