"""Run jobs as local subprocesses: ``/bin/sh -c COMMAND`` in the node folder, own process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from typing import Any

from .base import Backend, JobResult, JobSpec


class LocalBackend(Backend):
    name = "local"

    def __init__(self, shell: str = "/bin/sh") -> None:
        self.shell = shell
        self._procs: dict[str, int] = {}  # key -> pid (= process group id)
        self._lock = threading.Lock()
        self._host = socket.gethostname()
        self._held: tuple[int, ...] = ()

    def hold(self, fd: int) -> None:
        """Jobs inherit ``fd`` (the outdir lock): if necroflow is SIGKILLed, the outdir stays
        locked until the jobs it left running have ended, so no rerun races them."""
        self._held = (fd,)

    def submit(self, job: JobSpec) -> None:
        start = time.time()
        with open(job.log_path, "wb") as log:
            try:
                proc = subprocess.Popen(
                    [self.shell, "-c", job.command], cwd=job.workdir, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                    pass_fds=self._held,
                )
            except (OSError, ValueError) as e:  # ValueError: e.g. a NUL byte in the command
                log.write(f"necroflow: could not start job: {e}\n".encode())
                self.events.put(JobResult(job.key, None, message=f"could not start: {e}"))
                return
        with self._lock:
            self._procs[job.key] = proc.pid
        t = threading.Thread(target=self._wait, args=(job, proc, start), daemon=True)
        t.start()

    def _wait(self, job: JobSpec, proc: subprocess.Popen[bytes], start: float) -> None:
        # A job is its process group: once its shell has exited, anything it left behind in
        # the group is stopped, so nothing keeps writing into a folder that is being recorded
        # (or that the next run must redo), and nothing outlives the run.  The shell is
        # waited for without being reaped first, so its pid (the group id) cannot be reused
        # by another process before the group is killed.
        try:
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from reaping again
        end = time.time()
        with self._lock:
            self._procs.pop(job.key, None)
        metrics: dict[str, Any] = {
            "start": start, "end": end, "wall": round(end - start, 6),
            "cpu": round(ru.ru_utime + ru.ru_stime, 6), "max_rss": ru.ru_maxrss * 1024,
            "host": self._host, "job_id": str(proc.pid), "backend": self.name,
        }
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            msg = f"killed by signal {sig} ({name})"
            try:
                with open(job.log_path, "ab") as log:
                    log.write(f"\nnecroflow: job {msg}\n".encode())
            except OSError:
                pass
            self.events.put(JobResult(job.key, None, signal=sig, message=msg, metrics=metrics))
        else:
            code = os.WEXITSTATUS(status)
            metrics["exit_code"] = code
            self.events.put(JobResult(job.key, code, message="" if code == 0 else f"exit code {code}", metrics=metrics))

    def cancel_all(self, grace: float = 0.0) -> None:
        """SIGTERM every job's process group; SIGKILL whatever is left after ``grace`` seconds."""
        with self._lock:
            pids = list(self._procs.values())
        sig = signal.SIGTERM if grace > 0 else signal.SIGKILL
        for pid in pids:
            try:
                os.killpg(pid, sig)
            except OSError:
                pass
        if grace > 0:
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                with self._lock:
                    if not self._procs:
                        return
                time.sleep(0.02)
            with self._lock:
                pids = list(self._procs.values())
            for pid in pids:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
