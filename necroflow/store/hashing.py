"""Content hashes of outputs, and the cheap signature that says when to hash again.

A file is hashed when it is recorded and again only when its signature moved.  A folder
output is a tree: its signature digests every entry's (name, size, mtime), its hash every
entry's (name, kind, content hash).
"""

from __future__ import annotations

import hashlib
import os
import stat as _stat
from pathlib import Path

CHUNK = 1 << 20

#: (size, mtime_ns) of a file, or (total size, digest of entries) of a tree.
Signature = tuple[int, int]


def signature(path: str | Path) -> Signature | None:
    """The signature of an output; None if absent (a dangling symlink is absent too)."""
    try:
        st = os.lstat(path)
        if _stat.S_ISLNK(st.st_mode):
            # A linked output (``ln -s {ref} {index}``) is judged by what it points to; a
            # linked directory is a tree like any other (its own mtime ignores edits inside).
            st = os.stat(path)
    except OSError:
        return None
    if _stat.S_ISDIR(st.st_mode):
        h = hashlib.sha256()
        total = 0
        for rel, fst in walk_tree(path):
            h.update(f"{rel}\0{fst.st_size}\0{fst.st_mtime_ns}\0".encode("utf-8", "surrogateescape"))
            total += fst.st_size
        return total, int.from_bytes(h.digest()[:8], "big")
    return st.st_size, st.st_mtime_ns


def walk_tree(root: str | Path) -> list[tuple[str, os.stat_result]]:
    """Every entry under ``root`` (folders with a trailing ``/``), sorted, links not followed."""
    out: list[tuple[str, os.stat_result]] = []
    stack = [("", str(root))]
    while stack:
        rel, full = stack.pop()
        with os.scandir(full) as it:
            for e in it:
                r = f"{rel}/{e.name}" if rel else e.name
                if e.is_dir(follow_symlinks=False):
                    stack.append((r, e.path))
                    out.append((r + "/", e.stat(follow_symlinks=False)))
                else:
                    out.append((r, e.stat(follow_symlinks=False)))
    out.sort(key=lambda x: x[0])
    return out


def hash_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def hash_path(path: str | Path) -> str:
    """SHA-256 of a file's bytes; for a directory, of its sorted (name, kind, content hash) tree."""
    path = Path(path)
    if os.path.isdir(path):
        h = hashlib.sha256(b"tree\0")
        for rel, st in walk_tree(path):
            full = path / rel.rstrip("/")
            if _stat.S_ISDIR(st.st_mode):
                h.update(f"d\0{rel}\0".encode("utf-8", "surrogateescape"))
            elif _stat.S_ISLNK(st.st_mode):
                h.update(f"l\0{rel}\0{os.readlink(full)}\0".encode("utf-8", "surrogateescape"))
            else:
                h.update(f"f\0{rel}\0{hash_file(full)}\0".encode("utf-8", "surrogateescape"))
        return h.hexdigest()
    return hash_file(path)
