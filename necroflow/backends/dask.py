"""Run jobs as tasks on a Dask ``distributed`` cluster.

Why: a SLURM job costs seconds of scheduler latency; a Dask task costs milliseconds.  For
pipelines with thousands of short jobs, start a pool of workers once (locally, or under
SLURM with dask-jobqueue) and feed the jobs to it.

Each job becomes one task that runs the shell command in a subprocess on a worker, in the
node folder, appending to ``.rip/job.log``; the task returns the exit code and metrics,
and a done-callback puts the :class:`TaskResult` on the run loop's queue.  Nothing is
written outside the node folder, and this backend writes no bookkeeping file of its own.

Resource constraints map onto Dask *worker resources*: a job with ``threads=4, ram=8Gi``
asks for ``{"threads": 4, "ram": 8Gi-in-bytes}`` and Dask only starts it on a worker that
advertises that much free.  ``distributed`` is imported only when the backend is built, so
``import necroflow`` stays light.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from necroflow.backends import shell
from necroflow.backends.base import Backend, Task, TaskResult
from necroflow.resources import parse_resource

log = logging.getLogger("necroflow.backends.dask")

# ----------------------------------------------------------------------------------------
# Worker side.  These run inside the Dask worker process; the registry lets cancel_all()
# kill the process group of a running command (cancelling a Dask future does not stop a
# task that has already started).
# ----------------------------------------------------------------------------------------

_running: dict[str, int] = {}  # task token -> process group id
_cancelled: set[str] = set()
_registry_lock = threading.Lock()


def run_command(token: str, command: str, workdir: str, log_path: str,
                time_limit: float | None = None) -> dict[str, Any]:
    """Run ``command`` through the shared shell runner; return its exit record."""
    start = time.time()
    with _registry_lock:
        if token in _cancelled:
            return {"returncode": None, "signal": None, "cancelled": True, "start": start, "end": start}
        try:
            proc = shell.spawn(command, workdir, log_path)
        except (OSError, ValueError) as e:
            shell.note_in_log(log_path, f"could not start job: {e}")
            return {"returncode": None, "signal": None, "start": start, "end": time.time(), "error": str(e)}
        _running[token] = proc.pid
    try:
        exit = shell.reap(proc, start, time_limit)
    finally:
        with _registry_lock:
            _running.pop(token, None)
    if exit["signal"] or exit.get("timed_out"):
        shell.note_in_log(log_path, f"job {shell.describe(exit)}")
    exit["cancelled"] = token in _cancelled
    return exit


def kill_commands(tokens: list[str], grace: float = 0.0) -> int:
    """Mark ``tokens`` cancelled and kill their process groups (SIGTERM first if ``grace`` > 0)."""
    killed = []
    with _registry_lock:
        _cancelled.update(tokens)
        for token in tokens:
            pgid = _running.get(token)
            if pgid is not None:
                try:
                    os.killpg(pgid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
                    killed.append(pgid)
                except ProcessLookupError:
                    pass

    def finish() -> None:
        for pgid in killed:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    if killed and grace > 0:
        timer = threading.Timer(grace, finish)
        timer.daemon = True
        timer.start()
    return len(killed)


# ----------------------------------------------------------------------------------------
# Client side
# ----------------------------------------------------------------------------------------


def _machine_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


class DaskBackend(Backend):
    """Send each job to a Dask cluster as one task.

    Parameters:
        scheduler_address: ``tcp://host:port`` of a running scheduler; ``None`` starts a
            ``LocalCluster`` bound to this machine only, closed again by :meth:`stop`.
        n_workers: workers of the LocalCluster (default 1).  The machine's CPUs and memory
            are split evenly between them.
        resources: the resources each worker offers, e.g. ``{"threads": 8, "ram": "16Gi",
            "gpu": 1}``.  For a LocalCluster this defaults to its share of the machine; for
            an existing scheduler it declares what the workers were started with
            (``dask worker --resources "threads=8,ram=17179869184"``) and defaults to what
            the connected workers advertise.  Constraints whose name is not a resource here
            are not sent to Dask.
        processes: run LocalCluster workers as processes instead of threads.  Threads are
            the default: each job is a subprocess anyway, and worker processes would re-import
            a user's script that lacks an ``if __name__ == "__main__":`` guard.
    """

    name = "dask"

    def __init__(
        self,
        scheduler_address: str | None = None,
        n_workers: int | None = None,
        resources: Mapping[str, int | float | str] | None = None,
        processes: bool = False,
    ) -> None:
        try:
            import distributed
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the dask backend needs the 'distributed' package: pip install 'necroflow[dask]'"
            ) from exc
        self._distributed = distributed
        self.scheduler_address = scheduler_address
        self.processes = processes
        self._cluster: Any = None
        self._client: Any = None
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[Task, Any]] = {}  # token -> (job, future)
        caps = {k: parse_resource(v) for k, v in (resources or {}).items()}
        self.n_workers = int(n_workers or 1)
        if scheduler_address is None:
            if self.n_workers < 1:
                raise ValueError(f"n_workers must be at least 1, got {n_workers!r}")
            share = max(1, (os.cpu_count() or 1) // self.n_workers)
            caps = {"threads": share, "ram": _machine_memory() // self.n_workers, **caps}
        #: What one worker offers; for an existing scheduler without ``resources=`` this is
        #: filled in from the workers when the first job is submitted.
        self.caps: dict[str, int] = caps

    def _connect(self) -> Any:
        """Start the LocalCluster or connect to the scheduler, once, on the first submit.

        Deferred to here so that a run with nothing to do never pays for a cluster.
        """
        with self._lock:
            if self._client is not None:
                return self._client
            distributed = self._distributed
            if self.scheduler_address is None:
                # Threads talk in-process; worker processes talk TCP on loopback only.  The
                # scheduler's HTTP endpoint gets a free loopback port instead of a public :8787.
                network = {"host": "127.0.0.1"} if self.processes else {}
                self._cluster = distributed.LocalCluster(
                    n_workers=self.n_workers,
                    threads_per_worker=max(1, int(self.caps["threads"])),
                    processes=self.processes,
                    dashboard_address="127.0.0.1:0",
                    resources={k: float(v) for k, v in self.caps.items()},
                    silence_logs=logging.WARNING,
                    **network,
                )
                self._client = distributed.Client(self._cluster)
            else:
                try:
                    self._client = distributed.Client(self.scheduler_address, timeout=30)
                except OSError as exc:
                    raise RuntimeError(
                        f"could not connect to the Dask scheduler at {self.scheduler_address}: {exc}; "
                        "check the address (--dask-scheduler / NECROFLOW_DASK_SCHEDULER) and that "
                        "the scheduler is running"
                    ) from exc
                if not self.caps:
                    self.caps = self._advertised_resources()
            return self._client

    def _advertised_resources(self) -> dict[str, int]:
        """Largest amount of each resource any connected worker offers."""
        caps: dict[str, int] = {}
        for info in self._client.scheduler_info().get("workers", {}).values():
            for name, amount in (info.get("resources") or {}).items():
                caps[name] = max(caps.get(name, 0), int(amount))
        return caps

    def task_resources(self, constraints: Mapping[str, Any]) -> dict[str, float]:
        """The Dask ``resources=`` request for a job's constraints.

        Only names the workers offer are requested (Dask would hold a task forever waiting
        for a resource no worker has), and no amount above the largest worker's.
        """
        wanted: dict[str, float] = {}
        for name in self.caps:
            value = constraints.get(name, 1 if name == "threads" else None)
            if value is None or isinstance(value, bool):
                continue
            try:
                amount = parse_resource(value)
            except ValueError:
                continue  # not a countable amount (a partition name, say): not a Dask resource
            if amount > self.caps[name] > 0:
                # Like the local run loop's rule for over-sized jobs: it gets a whole worker.
                log.warning(
                    "%s=%d is more than any Dask worker offers (%d); the job takes a whole worker",
                    name, amount, self.caps[name],
                )
                amount = self.caps[name]
            if amount > 0:
                wanted[name] = float(amount)
        return wanted

    def submit(self, job: Task) -> None:
        client = self._connect()
        wanted = self.task_resources(job.constraints)
        shell.fresh_log(str(job.log_path))  # the log holds this attempt only, as on the local backend
        token = f"necroflow-{job.key.replace('/', '-')}-{uuid.uuid4().hex[:8]}"
        future = client.submit(
            run_command,
            token,
            job.command,
            str(job.workdir),
            str(job.log_path),
            job.constraints.get("time"),
            key=token,
            pure=False,
            retries=0,
            resources=wanted or None,
        )
        with self._lock:
            self._pending[token] = (job, future)
        future.add_done_callback(lambda fut, token=token: self._done(token, fut))

    def _done(self, token: str, future: Any) -> None:
        with self._lock:
            entry = self._pending.pop(token, None)
        if entry is None:
            return
        job = entry[0]
        try:
            result = self._result(job, token, future)
        except Exception as exc:  # the run loop must always hear about the job
            result = TaskResult(job.key, None, message=f"Dask task {token} could not be read: {exc!r}")
        self.events.put(result)

    def _result(self, job: Task, token: str, future: Any) -> TaskResult:
        if future.status == "cancelled":
            return TaskResult(job.key, None, message=f"Dask task {token} was cancelled", metrics={"job_id": token})
        if future.status != "finished":
            exc = future.exception()
            return TaskResult(
                job.key,
                None,
                message=f"Dask task {token} failed before the command finished: {exc!r}",
                metrics={"job_id": token},
            )
        rec = future.result()
        metrics = {k: rec.get(k) for k in ("start", "end", "wall", "cpu", "max_rss", "host", "timed_out", "time_limit")
                   if k in rec}
        metrics.update(job_id=token, backend=self.name)
        rc, sig = rec["returncode"], rec["signal"]
        where = f"Dask task {token} on {rec.get('host')}"
        if rec.get("cancelled"):
            message = f"cancelled ({where})"
        elif rec.get("error"):
            message = f"could not start: {rec['error']} ({where})"
        else:
            message = shell.describe(rec, where)
            if rc not in (0, None):
                message += f"; see {job.log_path}"
        return TaskResult(job.key, rc, signal=sig, message=message, metrics=metrics)

    def cancel_all(self, grace: float = 0.0) -> None:
        """Cancel queued tasks and kill running commands' process groups on every worker.

        With ``grace`` > 0 the commands get SIGTERM first and SIGKILL ``grace`` seconds later.
        """
        with self._lock:
            tokens = list(self._pending)
            futures = [f for _, f in self._pending.values()]
        if not tokens:
            return
        try:
            self._client.run(kill_commands, tokens, grace)
        except Exception:
            log.warning("could not reach every Dask worker to kill running jobs", exc_info=True)
        self._client.cancel(futures)

    def stop(self) -> None:
        """Close the client, and the LocalCluster if this backend started it."""
        with self._lock:
            busy = bool(self._pending)
        if busy:
            self.cancel_all()
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
