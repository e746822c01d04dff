"""Safe file primitives for everything the store writes and reads.

Writes are atomic: a temp file in the same folder, then ``os.replace``, so a reader sees the
old record or the new one, never half of one.  Reads never follow a planted symlink into
something that is not a regular file (a FIFO would hang the reader; ``/dev/zero`` would fill
its memory) and never read more than a record can sensibly hold.
"""

from __future__ import annotations

import os
import shutil
import stat as _stat
from pathlib import Path

#: No record of necroflow's is anywhere near this; a bigger file is damaged or hostile.
MAX_RECORD_BYTES = 64 << 20


class NotAFile(OSError):
    """A path that should be a regular file is something else (a FIFO, a device, a folder)."""


def atomic_write(path: str | Path, data: str | bytes) -> None:
    path = os.fspath(path)
    head, name = os.path.split(path)
    tmp = os.path.join(head, f".{name}.tmp{os.getpid()}")
    raw = data.encode() if isinstance(data, str) else data
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        try:
            view = memoryview(raw)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:  # a full disk must not leave half-written temp files in .rip/
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_bytes(path: str | Path, limit: int = MAX_RECORD_BYTES) -> bytes | None:
    """The bytes of a regular file, or None when it is absent.

    A symlink is not followed, and anything that is not a regular file raises
    :class:`NotAFile`, before a byte is read; so does a file larger than ``limit``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        if e.errno == 40:  # ELOOP: the last component is a symlink
            raise NotAFile(e.errno, "is a symlink, not a record file", os.fspath(path)) from None
        raise
    try:
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode):
            raise NotAFile(21, "is not a regular file", os.fspath(path))
        if st.st_size > limit:
            raise NotAFile(27, f"is larger than {limit} bytes", os.fspath(path))
        chunks = []
        left = limit + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise NotAFile(27, f"is larger than {limit} bytes", os.fspath(path))
        return data
    finally:
        os.close(fd)


def read_text(path: str | Path, limit: int = MAX_RECORD_BYTES) -> str | None:
    """A record file's text; None when absent, unreadable as a record, or not valid UTF-8 ("")."""
    try:
        data = read_bytes(path, limit)
    except OSError:
        return None
    if data is None:
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        return ""


def remove_output(path: str | Path) -> None:
    """Remove a declared output (file, symlink or tree) without following links."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if _stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def unlink_quietly(path: str | Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
