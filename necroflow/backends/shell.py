"""The one shell runner: ``/bin/sh -c COMMAND`` in the node folder, in its own process group.

Used by the local backend (in this process), by Dask workers, and by SLURM job scripts
(this file's source is embedded in each job script, so a compute node needs Python but not
necroflow).  Stdlib only, no package imports, for that reason.

A job is its process group: once its shell exits, anything it left behind in the group is
stopped, so nothing keeps writing into a folder that is being recorded.  The shell is waited
for without being reaped first, so its pid (the group id) cannot be reused by another process
before the group is killed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

HOST = socket.gethostname()


def spawn(command: str, workdir: str, log_path: str, pass_fds: tuple[int, ...] = (),
          shell: str = "/bin/sh") -> subprocess.Popen[bytes]:
    """Start the command; its stdout and stderr go to ``log_path``.  Raises OSError/ValueError."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
    try:
        return subprocess.Popen([shell, "-c", command], cwd=workdir, stdin=subprocess.DEVNULL, stdout=fd,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                pass_fds=pass_fds)
    finally:
        os.close(fd)


#: Seconds between SIGTERM and SIGKILL when a job runs out of time.
KILL_GRACE = 10.0


class TimeLimit:
    """Stops a job's process group once its time is up: SIGTERM, then SIGKILL after a grace."""

    def __init__(self, pgid: int, seconds: float | None, grace: float = KILL_GRACE) -> None:
        self.pgid, self.seconds, self.grace = pgid, seconds, grace
        self.expired = False
        self._timers: list[threading.Timer] = []
        if seconds is not None:
            self._arm(seconds, signal.SIGTERM)

    def _arm(self, delay: float, sig: int) -> None:
        t = threading.Timer(delay, self._fire, args=(sig,))
        t.daemon = True
        self._timers.append(t)
        t.start()

    def _fire(self, sig: int) -> None:
        if sig == signal.SIGTERM:
            self.expired = True
            self._arm(self.grace, signal.SIGKILL)
        try:
            os.killpg(self.pgid, sig)
        except OSError:
            pass

    def cancel(self) -> None:
        for t in self._timers:
            t.cancel()


def fresh_log(log_path: str) -> None:
    """Start a job's log empty for this attempt (a symlink planted there is removed, never followed)."""
    try:
        os.unlink(log_path)
    except FileNotFoundError:
        pass
    os.close(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))


def reap(proc: subprocess.Popen[bytes], start: float, time_limit: float | None = None,
         grace: float = KILL_GRACE) -> dict[str, Any]:
    """Wait for the shell (stopping it at ``time_limit`` seconds), stop what it left in its
    group, and return its exit and metrics (``timed_out`` when the limit stopped it)."""
    limit = TimeLimit(proc.pid, time_limit, grace)
    try:
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    except ChildProcessError:
        pass
    limit.cancel()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from reaping again
    end = time.time()
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    exit = {
        "returncode": None if sig is not None else os.WEXITSTATUS(status), "signal": sig,
        "start": start, "end": end, "wall": round(end - start, 6),
        "cpu": round(ru.ru_utime + ru.ru_stime, 6), "max_rss": ru.ru_maxrss * 1024,
        "host": HOST, "job_id": str(proc.pid),
    }
    if limit.expired:
        exit.update(timed_out=True, time_limit=time_limit)
    return exit


def describe(exit: dict[str, Any], where: str = "") -> str:
    """The failure message for an exit record, "" for success: one wording on every backend."""
    sig, rc = exit.get("signal"), exit.get("returncode")
    suffix = f" ({where})" if where else ""
    if exit.get("timed_out"):
        return f"ran out of time after {format_time(exit.get('time_limit') or 0)}{suffix}"
    if sig:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"killed by signal {sig} ({name}){suffix}"
    if rc == 0:
        return ""
    if rc is None:
        return f"ended without an exit code{suffix}"
    return f"exit code {rc}{suffix}"


def format_time(seconds: float) -> str:
    """Seconds for people: 7200 -> '2h', 5400 -> '1h30m', 2 -> '2s' (as constraints are written)."""
    s = int(-(-seconds // 1))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            parts.append(f"{s // size}{unit}")
            s %= size
    if s or not parts:
        parts.append(f"{s}s")
    return "".join(parts)


def run(command: str, workdir: str, log_path: str, time_limit: float | None = None,
        on_start: Any = None) -> dict[str, Any]:
    """Run to completion (what a Dask task or a SLURM job does); never raises for the command.
    ``on_start(pgid)`` is called once the command's process group exists."""
    start = time.time()
    try:
        proc = spawn(command, workdir, log_path)
    except (OSError, ValueError) as e:
        note_in_log(log_path, f"could not start job: {e}")
        return {"returncode": None, "signal": None, "start": start, "end": time.time(), "error": str(e)}
    if on_start is not None:
        on_start(proc.pid)
    exit = reap(proc, start, time_limit)
    if exit["signal"] or exit.get("timed_out"):
        note_in_log(log_path, f"job {describe(exit)}")
    return exit


def note_in_log(log_path: str, text: str) -> None:
    """Append necroflow's own line to a job log (never through a symlink planted there)."""
    try:
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError:
        return
    try:
        os.write(fd, f"\nnecroflow: {text}\n".encode(errors="replace"))
    except OSError:
        pass
    finally:
        os.close(fd)


def write_exit(path: str, exit: dict[str, Any]) -> None:
    """Write an exit record atomically and durably (a cluster job's only message home)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        json.dump(exit, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class ForwardTerm:
    """SIGTERM to the runner (SLURM's scancel or time limit) goes on to the command's group.

    The command runs in a session of its own, so SLURM's signal to the job reaches only this
    runner; a runner that died at once would leave the command reparented to init, where
    ``proctrack/linuxproc`` loses it and SLURM's later SIGKILL never arrives.  So the runner
    forwards SIGTERM, SIGKILLs the group after ``grace`` and stays the command's parent till
    then (SLURM's own SIGKILL, after KillWait, then reaches both).
    """

    def __init__(self, grace: float = KILL_GRACE) -> None:
        self.grace = grace
        self.pgid: int | None = None
        self.terminated = False
        signal.signal(signal.SIGTERM, self._on_term)

    def watch(self, pgid: int) -> None:
        self.pgid = pgid
        if self.terminated:  # SIGTERM came between the spawn and now
            TimeLimit(pgid, 0.0, self.grace)

    def _on_term(self, signum: int, frame: Any) -> None:
        if not self.terminated and self.pgid is not None:
            TimeLimit(self.pgid, 0.0, self.grace)
        self.terminated = True


def main(argv: list[str]) -> int:
    """``python shell.py WORKDIR LOG EXIT_RECORD COMMAND``: the body of a SLURM job script.

    A job SLURM terminates (scancel, its time limit) leaves no exit record: the poller reads
    the reason from squeue instead.
    """
    workdir, log_path, exit_path, command = argv[:4]
    term = ForwardTerm()
    exit = run(command, workdir, log_path, on_start=term.watch)
    if term.terminated:
        return 128 + signal.SIGTERM
    # The id necroflow tracks the job under: an array task's or a group member's, else SLURM's.
    exit["job_id"] = os.environ.get("NECROFLOW_SLURM_ID") or os.environ.get("SLURM_JOB_ID")
    write_exit(exit_path, exit)
    rc = exit.get("returncode")
    return rc if isinstance(rc, int) else 128 + int(exit.get("signal") or 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
