"""Run jobs as local subprocesses through the shared shell runner, one waiter thread each."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

from . import shell
from .base import Backend, Task, TaskResult


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class LocalBackend(Backend):
    name = "local"

    def __init__(self, shell_path: str = "/bin/sh", threads: int | None = None) -> None:
        self.shell = shell_path
        self.threads = threads or usable_cpus()
        self._procs: dict[str, int] = {}  # key -> pid (= process group id)
        self._lock = threading.Lock()
        self._held: tuple[int, ...] = ()
        self._on_spawn: Callable[[int], None] | None = None

    def capacity(self) -> dict[str, int]:
        return {"threads": self.threads}

    def hold(self, fd: int, on_spawn: Callable[[int], None] | None = None) -> None:
        """Jobs inherit ``fd`` (the outdir lock): if necroflow is SIGKILLed, the outdir stays
        locked by the jobs it left running, so no rerun races them; ``on_spawn`` records each
        job's process group, so the next run can find and stop them."""
        self._held = (fd,)
        self._on_spawn = on_spawn

    def submit(self, task: Task) -> None:
        start = time.time()
        try:
            shell.fresh_log(str(task.log_path))  # this attempt's log only (begin() cleared it too)
            proc = shell.spawn(task.command, str(task.workdir), str(task.log_path), self._held, self.shell)
        except (OSError, ValueError) as e:  # ValueError: e.g. a NUL byte in the command
            shell.note_in_log(str(task.log_path), f"could not start job: {e}")
            self.events.put(TaskResult(task.key, None, message=f"could not start: {e}"))
            return
        with self._lock:
            self._procs[task.key] = proc.pid
        if self._on_spawn is not None:
            self._on_spawn(proc.pid)
        threading.Thread(target=self._wait, args=(task, proc, start), daemon=True).start()

    def _wait(self, task: Task, proc: object, start: float) -> None:
        exit = shell.reap(proc, start, task.constraints.get("time"))  # type: ignore[arg-type]
        with self._lock:
            self._procs.pop(task.key, None)
        message = shell.describe(exit)
        if exit["signal"] or exit.get("timed_out"):
            shell.note_in_log(str(task.log_path), f"job {message}")
        metrics = {k: v for k, v in exit.items() if k not in ("returncode", "signal")}
        metrics["backend"] = self.name
        if exit["returncode"] is not None:
            metrics["exit_code"] = exit["returncode"]
        self.events.put(TaskResult(task.key, exit["returncode"], signal=exit["signal"], message=message,
                                   metrics=metrics))

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
