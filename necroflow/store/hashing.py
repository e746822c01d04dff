"""Content hashes of outputs, and the cheap signature that says when to hash again.

A file is hashed when it is recorded and again only when its signature moved.  The
signature is ``(size, mtime_ns, ctime_ns, inode, newest)``: size and mtime catch ordinary
edits, ctime catches an edit whose mtime was put back (``touch -r``, ``cp -p``, ``rsync -t``;
the kernel sets ctime to now on every change), the inode a file replaced by rename.  And, as
git does for "racy" entries, a signature is trusted only when the file's newest stamp is older
than the moment the signature was taken, at the stamps' own granularity: on a file system
with one-second stamps, an edit in the same second as the job leaves every field as it was.

A folder output is a tree: its signature digests every entry's (name, size, mtime, ctime,
inode), its hash every entry's (name, kind, content hash).  Symbolic links inside a tree are
judged by what they point to (a folder of links to a reference that changes is noticed); a
link that leads back into a folder being walked is refused, not followed forever.
"""

from __future__ import annotations

import hashlib
import os
import stat as _stat
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

CHUNK = 1 << 20
SECOND = 1_000_000_000

#: (size, mtime_ns, ctime_ns, inode, newest stamp) of a file; of a tree: (total size,
#: digest of its entries, 0, -1, newest stamp of any entry).
Signature = tuple[int, int, int, int, int]


_clock_offset_ns = 0  # the outdir file system's clock minus ours (an NFS server's skew), when large


def fs_time_ns() -> int:
    """Now, by the clock of the file system whose stamps the racy rule compares."""
    return time.time_ns() + _clock_offset_ns


def calibrate(written_fd: int, before_ns: int) -> None:
    """Learn the file system's clock from a file just written (at ``before_ns`` by our clock):
    a server clock more than a second ahead would otherwise make every output look racy."""
    global _clock_offset_ns
    skew = os.fstat(written_fd).st_mtime_ns - before_ns
    _clock_offset_ns = skew if abs(skew) > SECOND else 0


class TreeLoop(OSError):
    """A symbolic link inside a folder output that leads back into the folder (or an ancestor)."""


def signature(path: str | Path) -> Signature | None:
    """The signature of an output; None if absent (a dangling symlink is absent too)."""
    try:
        st = os.stat(path)  # a linked output (``ln -s {ref} {index}``) is judged by what it points to
    except OSError:
        return None
    if _stat.S_ISDIR(st.st_mode):
        h = hashlib.sha256()
        total = 0
        newest = max(st.st_mtime_ns, st.st_ctime_ns)
        for rel, kind, fst in walk_tree(path):
            h.update(f"{rel}\0{kind}\0{fst.st_size}\0{fst.st_mtime_ns}\0{fst.st_ctime_ns}\0{fst.st_ino}\0"
                     .encode("utf-8", "surrogateescape"))
            total += fst.st_size
            newest = max(newest, fst.st_mtime_ns, fst.st_ctime_ns)
        return total, int.from_bytes(h.digest()[:8], "big"), 0, -1, newest
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, max(st.st_mtime_ns, st.st_ctime_ns)


def signature_fields(sig: Signature, hashed_ns: int) -> dict[str, int]:
    """What a record keeps of a signature (beside the content hash)."""
    return {"size": sig[0], "mtime_ns": sig[1], "ctime_ns": sig[2], "ino": sig[3], "newest_ns": sig[4],
            "hashed_ns": hashed_ns}


def racy(newest_ns: int, hashed_ns: int) -> bool:
    """True when a stamp is not older than the moment its signature was taken.

    Stamps that are whole seconds come from a file system with one-second granularity: there
    the comparison is per second (an edit later in the same second would leave them as they
    are).  Finer stamps are compared as they are.
    """
    if newest_ns % SECOND == 0:
        return newest_ns >= hashed_ns - hashed_ns % SECOND
    return newest_ns >= hashed_ns


def trusted(rec: Mapping[str, Any], sig: Signature) -> bool:
    """True when a recorded signature still vouches for the recorded content hash."""
    if (rec.get("size") != sig[0] or rec.get("mtime_ns") != sig[1] or rec.get("ctime_ns") != sig[2]
            or rec.get("ino") != sig[3]):
        return False
    hashed = rec.get("hashed_ns")
    return type(hashed) is int and not racy(sig[4], hashed)


def walk_tree(root: str | Path) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative path, kind, stat) of every entry under ``root``, sorted, links followed.

    Kind is ``d`` (folder, path ends in ``/``), ``f`` (file or anything else that is not a
    folder), or ``l`` (a dangling link, stat of the link itself).  Raises :class:`TreeLoop`
    for a link back into a folder on the current path.
    """
    base = os.path.realpath(root)
    st = os.stat(base)
    yield from _walk(base, "", {(st.st_dev, st.st_ino)})


def _walk(full: str, rel: str, ancestors: set[tuple[int, int]]) -> Iterator[tuple[str, str, os.stat_result]]:
    with os.scandir(full) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        r = f"{rel}/{e.name}" if rel else e.name
        try:
            st = e.stat(follow_symlinks=True)
        except OSError:  # a dangling link
            yield r, "l", e.stat(follow_symlinks=False)
            continue
        if not _stat.S_ISDIR(st.st_mode):
            yield r, "f", st
            continue
        ident = (st.st_dev, st.st_ino)
        if ident in ancestors:
            raise TreeLoop(40, f"symbolic link {r} leads back into a folder it is inside; a folder "
                           "output must be a tree", os.path.join(full, e.name))
        yield r + "/", "d", st
        yield from _walk(e.path, r, ancestors | {ident})


class NotHashable(OSError):
    """An output that is neither a regular file nor a folder (a FIFO, a device, a socket)."""


def hash_file(path: str | Path) -> str:
    """SHA-256 of a regular file's bytes; anything else is refused before a byte is read (a
    FIFO would block the reader forever, ``/dev/zero`` would never end)."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as f:
        if not _stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotHashable(22, "is not a regular file or a folder (a FIFO, device or socket?); "
                              "outputs must be files or folders", os.fspath(path))
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def hash_path(path: str | Path) -> str:
    """SHA-256 of a file's bytes; for a folder, of its sorted (name, kind, content hash) tree."""
    path = Path(path)
    if not os.path.isdir(path):
        return hash_file(path)
    h = hashlib.sha256(b"tree\0")
    for rel, kind, _st in walk_tree(path):
        full = path / rel.rstrip("/")
        if kind == "d":
            h.update(f"d\0{rel}\0".encode("utf-8", "surrogateescape"))
        elif kind == "l":
            h.update(f"l\0{rel}\0{os.readlink(full)}\0".encode("utf-8", "surrogateescape"))
        else:
            h.update(f"f\0{rel}\0{hash_file(full)}\0".encode("utf-8", "surrogateescape"))
    return h.hexdigest()
