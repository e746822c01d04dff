"""Jobs left running by a necroflow process that died (SIGKILL, OOM killer, a lost session).

Every local job inherits the outdir lock, so a killed driver's jobs keep the outdir locked
and a rerun cannot race them.  The next run then finds them, stops them and carries on: it
reads the process groups the dead driver recorded when it launched them
(``.rip/running-jobs``), and stops a group only if one of its processes still holds this
outdir's lock file open, so a recycled process id is never hit.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

JOBS_NAME = "running-jobs"


class JobRegister:
    """Appends the process group of every job a run launches (the lock holder writes it)."""

    def __init__(self, rip: str) -> None:
        self.path = f"{rip}/{JOBS_NAME}"
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_NOFOLLOW
                          | os.O_CLOEXEC, 0o644)

    def add(self, pgid: int) -> None:
        try:
            os.write(self.fd, f"{pgid}\n".encode())
        except OSError:
            pass  # a full disk: the lock still guards the outdir, only the cleanup would miss it

    def close(self) -> None:
        os.close(self.fd)


def recorded_groups(rip: str) -> list[int]:
    try:
        with open(f"{rip}/{JOBS_NAME}", "rb") as f:
            text = f.read(1 << 20).decode(errors="replace")
    except OSError:
        return []
    return [int(w) for w in text.split() if w.isdigit()]


def _holds(pid: int, lock: os.stat_result) -> bool:
    """True when process ``pid`` has the lock file open."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            st = os.stat(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if st.st_ino == lock.st_ino and st.st_dev == lock.st_dev:
            return True
    return False


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _lock_holders(lock: os.stat_result) -> list[int]:
    holders = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid() and _holds(int(name), lock):
            holders.append(int(name))
    return holders


def _group_members(pgid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            out.append(int(name))
    return out


def stop_orphans(rip: str, lock_path: Path, grace: float = 2.0) -> list[int]:
    """Stop the recorded job groups that still hold the lock; returns the groups stopped."""
    try:
        lock = os.stat(lock_path)
    except OSError:
        return []
    groups = [g for g in dict.fromkeys(recorded_groups(rip)) if any(_holds(p, lock) for p in _group_members(g))]
    if not groups:  # not recorded (a driver of an older version): every group holding the lock
        groups = list(dict.fromkeys(g for p in _lock_holders(lock) if (g := _pgid(p)) is not None))
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        live = [g for g in groups if _group_members(g)]
        for g in live:
            try:
                os.killpg(g, sig)
            except OSError:
                pass
        deadline = time.monotonic() + wait
        while live and time.monotonic() < deadline:
            live = [g for g in live if any(_holds(p, lock) for p in _group_members(g))]
            time.sleep(0.02)
        if not live:
            break
    return groups
