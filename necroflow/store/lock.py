"""``outdir/.rip/necroflow.lock``: one necroflow process per outdir (``fcntl.flock``).

The kernel drops a flock when its holder dies, so a lock file left by a killed process
never blocks the next run.  The file is opened without following symlinks: a link planted
there would otherwise make a run truncate whatever it points at.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from pathlib import Path

from .hashing import calibrate
from .orphans import JobRegister, stop_orphans

LOCK_NAME = "necroflow.lock"


class OutdirLocked(RuntimeError):
    """Another necroflow process holds the outdir lock."""


class UnsafeOutdir(OSError):
    """``outdir/.rip`` (or the lock file) is not what necroflow made: a symlink, a FIFO..."""


def check_rip(rip: str) -> None:
    """Refuse a ``.rip`` that is a symlink or not a folder (records would land elsewhere)."""
    try:
        st = os.lstat(rip)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a folder"
        raise UnsafeOutdir(errno.ENOTDIR, f"{rip} is {what}; necroflow keeps its records only in a real "
                           "folder inside the outdir (remove it and rerun)", rip)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_pid(path: str) -> int | None:
    """The pid written into a lock file by its holder, if any (a courtesy, not the lock)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        text = os.pread(fd, 64, 0).decode(errors="replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)
    return int(text) if text.isdigit() else None


def live_holder(outdir: str | os.PathLike[str]) -> int | None:
    """The pid of a live process holding the outdir lock now, or None; reads, never creates."""
    path = os.path.join(os.fspath(outdir), ".rip", LOCK_NAME)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            holder = holder_pid(path)
            return holder if holder is not None and _alive(holder) else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class OutdirLock:
    """The outdir lock, held for a whole run."""

    def __init__(self, outdir: str | os.PathLike[str]) -> None:
        self.outdir = Path(outdir)
        self.rip = os.path.join(os.fspath(outdir), ".rip")
        self.path = Path(self.rip, LOCK_NAME)
        self.fd: int | None = None
        self.stopped: list[int] = []  # job groups of a dead driver that acquire() stopped
        self.jobs: JobRegister | None = None

    def acquire(self) -> None:
        check_rip(self.rip)
        os.makedirs(self.rip, exist_ok=True)
        check_rip(self.rip)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise UnsafeOutdir(e.errno, f"{self.path} is a symlink; remove it and rerun", str(self.path)) from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise UnsafeOutdir(errno.EINVAL, f"{self.path} is not a regular file; remove it and rerun", str(self.path))
        try:
            self._flock(fd)
        except BaseException:
            os.close(fd)
            raise
        try:  # the pid is a courtesy for the error message; the flock is the lock
            before = time.time_ns()
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            calibrate(fd, before)  # the write's stamp tells the file system's clock
        except OSError:  # e.g. disk full: the run then fails on its first record, with a message
            pass
        self.fd = fd

    def _flock(self, fd: int) -> None:
        """Take the lock; if a dead necroflow's jobs hold it, stop them first (and once)."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
        holder = holder_pid(str(self.path))
        if holder is None or _alive(holder):
            raise self._locked_error()
        self.stopped = stop_orphans(self.rip, self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise self._locked_error() from None

    def record_jobs(self) -> JobRegister:
        """Where this run records its jobs' process groups, for the next run's cleanup."""
        if self.jobs is None:
            self.jobs = JobRegister(self.rip)
        return self.jobs

    def _locked_error(self) -> OutdirLocked:
        holder = holder_pid(str(self.path))
        where = self.outdir
        if holder is not None and not _alive(holder):
            return OutdirLocked(
                f"necroflow process {holder} that ran on {where} is gone, but processes it started still "
                f"hold its lock and could not be stopped; stop them (`fuser -k {self.path}`), then rerun")
        who = f" (pid {holder})" if holder is not None else ""
        return OutdirLocked(f"another necroflow process{who} is running on {where}; "
                            f"wait for it to finish or stop it (lock: {self.path})")

    def release(self) -> None:
        if self.jobs is not None:
            self.jobs.close()
            self.jobs = None
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None

    def __enter__(self) -> OutdirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
