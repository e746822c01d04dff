"""Durability: a job's records reach the disk before the state word that vouches for them.

A rename is atomic but not durable: after a power cut a renamed record may be empty, and a
state file may be on disk before the outputs it vouches for.  So a finished job's outputs and
records are written first, then, for a whole batch of finished jobs at once, one ``syncfs``
makes all of it durable, then their ``up_to_date`` states are written (and made durable by
the next batch's ``syncfs``, or the last one of the run).  A power cut at any moment leaves
a job either vouched for by records that are on disk, or not vouched for (it reruns).

One ``syncfs`` per batch instead of an ``fsync`` per file keeps the cost per job small.
"""

from __future__ import annotations

import os
from typing import Any

_syncfs: Any = None  # libc's syncfs, found on the first barrier (ctypes is slow to import)


def _find_syncfs() -> Any:
    global _syncfs
    if _syncfs is None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)  # this process: libc is in it (find_library would run ldconfig)
        _syncfs = getattr(libc, "syncfs", False)
    return _syncfs


class Barrier:
    """Flushes everything written to one file system (the outdir's) to disk."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.fd: int | None = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.count = 0

    def sync(self) -> None:
        if self.fd is None:
            return
        self.count += 1
        syncfs = _find_syncfs()
        if not syncfs or syncfs(self.fd) != 0:
            os.sync()  # no syncfs here (not Linux) or it failed: flush every file system

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
