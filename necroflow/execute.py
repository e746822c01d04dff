"""The one run loop: plan, then launch ready jobs as resources allow, record, repeat.

Bookkeeping follows ``graphlib.TopologicalSorter``: an in-degree count per job, a ready
list, O(1) work per finished job.  The loop blocks on one event queue fed by the backend
(job ended) and by the finaliser threads (outputs hashed and recorded): it never
sleep-polls.  Hashing and record writing happen off this thread.
"""

from __future__ import annotations

import os
import queue
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import store
from .backends.base import Backend, JobResult, JobSpec
from .graph import resolve_command
from .plan import Plan, State, make_plan
from .resources import parse_resource
from .schedule import ReadyHeap, Remaining, default_scheduler

if TYPE_CHECKING:
    from .graph import DAG, Job


class JobFailed(RuntimeError):
    """A job exited non-zero, was killed, or did not write its declared outputs."""

    def __init__(self, job: Job, reason: str, log_path: Path | None = None) -> None:
        self.job = job
        self.reason = reason
        self.log_path = log_path
        where = f"; log: {log_path}" if log_path else ""
        super().__init__(f"job {job.key} (rule {job.rule.name!r}) failed: {reason}{where}")


class Interrupted(BaseException):
    """The run was stopped by a signal (SIGTERM/SIGHUP); running jobs were stopped and marked interrupted."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by signal {signal.Signals(signum).name}")


@dataclass
class RunReport:
    plan: Plan
    ran: list[str] = field(default_factory=list)  # job keys that ran and succeeded
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # not started because a parent failed
    cleaned: list[str] = field(default_factory=list)  # paths removed by autoclean
    elapsed: float = 0.0
    dry_run: bool = False

    @property
    def up_to_date(self) -> int:
        return len(self.plan.required) - len(self.plan.to_run)


class Reporter:
    """Plain line-by-line progress on a stream (stderr by default).  Subclass to customise."""

    def __init__(self, stream: Any = None, verbose: int = 1) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.verbose = verbose
        self.total = 0
        self.count = 0

    def emit(self, text: str) -> None:
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def on_plan(self, plan: Plan, dry_run: bool) -> None:
        self.total = len(plan.to_run)
        if dry_run:
            self.emit(plan.explain())
        elif self.verbose >= 1:
            self.emit(plan.summary())

    def on_start(self, job: Job) -> None:
        if self.verbose >= 2:
            self.emit(f"start  {job.key}")

    def on_done(self, job: Job, result: JobResult) -> None:
        self.count += 1
        if self.verbose >= 1:
            self.emit(f"[{self.count}/{self.total}] done   {job.key} ({result.metrics.get('wall', 0):.2f}s)")

    def on_fail(self, job: Job, reason: str, log_tail: str) -> None:
        self.count += 1
        self.emit(f"[{self.count}/{self.total}] FAILED {job.key}: {reason}")
        if log_tail:
            self.emit(f"--- {job.dir}/.rip/job.log (last lines) ---\n{log_tail}\n---")

    def on_finish(self, report: RunReport) -> None:
        if self.verbose >= 1 and not report.dry_run and report.plan.to_run:
            msg = f"{len(report.ran)} ran, {report.up_to_date} up to date"
            if report.failed:
                msg += f", {len(report.failed)} failed"
            if report.skipped:
                msg += f", {len(report.skipped)} not started (upstream failed)"
            self.emit(f"Finished in {report.elapsed:.2f}s: {msg}.")


CLUSTER_THREADS = 1_000_000  # on a cluster backend the cluster decides placement; no local cap


def normalise_caps(resource_caps: dict[str, Any] | None, local: bool = True) -> dict[str, int]:
    """Caps as integers.  ``threads`` defaults to this machine's CPUs for local runs and to
    no limit for cluster backends; every other resource is unlimited unless capped."""
    caps: dict[str, int] = {"threads": (os.cpu_count() or 1) if local else CLUSTER_THREADS}
    for k, v in (resource_caps or {}).items():
        if k == "threads" and v in ("all", None):
            continue
        try:
            caps[k] = parse_resource(v)
        except ValueError as e:
            raise ValueError(f"resource cap {k}={v!r}: {e}") from None
    if caps["threads"] < 1:
        raise ValueError(f"resource cap threads={caps['threads']!r}: at least 1 thread is needed to run anything")
    return caps


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 8192))
            data = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(data.rstrip("\n").split("\n")[-lines:])


class _Finalised:
    __slots__ = ("job", "result", "ok", "reason", "hashes", "entry")

    def __init__(self, job: Job, result: JobResult, ok: bool, reason: str, hashes: dict[str, str],
                 entry: store.IndexEntry | None = None) -> None:
        self.job, self.result, self.ok, self.reason, self.hashes = job, result, ok, reason, hashes
        self.entry = entry


def execute(dag: DAG, resource_caps: dict[str, Any] | None = None, scheduler: Callable[..., Any] | None = None,
            keep_going: bool = False, autoclean: bool = False, dry_run: bool = False,
            backend: Backend | str | None = None, progress: Reporter | None = None) -> RunReport:
    """Run every required job that is not up to date.

    Raises :class:`JobFailed` on the first failure (``keep_going=False``: running jobs are
    stopped and marked interrupted), an ``ExceptionGroup`` of them with ``keep_going=True``,
    :class:`~necroflow.store.OutdirLocked` when another process owns the outdir,
    ``KeyboardInterrupt``/:class:`Interrupted` on SIGINT/SIGTERM after stopping jobs.
    """
    reporter = progress if progress is not None else Reporter()
    caps = normalise_caps(resource_caps, local=backend is None or backend == "local"
                          or getattr(backend, "name", "") == "local")
    if dry_run:
        plan = make_plan(dag, scan_orphans=autoclean)
        reporter.on_plan(plan, True)
        return RunReport(plan=plan, dry_run=True)
    lock = store.OutdirLock(dag.outdir)
    lock.acquire()
    try:
        plan = make_plan(dag, scan_orphans=autoclean, persist=True)
        reporter.on_plan(plan, False)
        be = _make_backend(backend)
        if lock.fd is not None:
            be.hold(lock.fd)
        run = _Run(dag, plan, caps, scheduler or default_scheduler, keep_going, be, reporter)
        report = run.run()
        if autoclean:
            report.cleaned = autoclean_outputs(dag, plan, report)
        save_index(dag, plan, run.index_updates)
        reporter.on_finish(report)
    finally:
        lock.release()
    if report.failed:
        errors = run.errors
        if keep_going:
            raise ExceptionGroup(f"{len(errors)} job(s) failed", errors)
        raise errors[0]
    return report


def _make_backend(backend: Backend | str | None) -> Backend:
    if backend is None or backend == "local":
        from .backends.local import LocalBackend

        return LocalBackend()
    if isinstance(backend, Backend):
        return backend
    if backend == "slurm":
        from .backends.slurm import SlurmBackend

        return SlurmBackend()
    if backend == "dask":
        from .backends.dask import DaskBackend

        return DaskBackend()
    raise ValueError(f"unknown backend {backend!r}: use 'local', 'slurm', 'dask' or a Backend instance")


class _Run:
    def __init__(self, dag: DAG, plan: Plan, caps: dict[str, int], scheduler: Callable[..., Any],
                 keep_going: bool, backend: Backend, reporter: Reporter) -> None:
        self.dag, self.plan, self.caps, self.scheduler = dag, plan, caps, scheduler
        self.keep_going, self.backend, self.reporter = keep_going, backend, reporter
        self.current = plan.current  # fingerprint -> {filename: sha256}, grows as jobs finish
        self.errors: list[JobFailed] = []
        self.events: queue.Queue[Any] = queue.Queue()
        to_run = plan.to_run
        self.todo = {j.fingerprint: j for j in to_run}
        self.parents: dict[str, list[Job]] = {}
        self.children: dict[str, list[Job]] = {}
        self.indeg: dict[str, int] = {}
        for j in to_run:
            ps = {n.job.fingerprint for n in j.inputs.values() if n.job.fingerprint in self.todo}
            self.parents[j.fingerprint] = [self.todo[p] for p in ps]
            self.indeg[j.fingerprint] = len(ps)
            for p in ps:
                self.children.setdefault(p, []).append(j)
        self.ready: dict[str, Job] = {fp: j for fp, j in self.todo.items() if self.indeg[fp] == 0}
        self.remaining = Remaining(to_run, self.parents, self.children)
        self.heap = ReadyHeap(scheduler, self.remaining) if ReadyHeap.handles(scheduler) else None
        if self.heap is not None:
            for j in self.ready.values():
                self.heap.push(j)
        self.running: dict[str, tuple[Job, dict[str, int]]] = {}  # key -> (job, demand)
        self.finalising = 0
        self.used = dict.fromkeys(caps, 0)
        self.solo = False
        self.stopping = False
        # Jobs that exited and are being recorded, whose success makes a child ready.  While
        # any exists, nothing new is launched: the scheduler must see that child among the
        # ready jobs (otherwise the freed slot goes to, say, the next sample, and "finish
        # one component first" silently degrades into fifo whenever caps are tight).
        self.unlocking: set[str] = set()
        self.report = RunReport(plan=plan)
        self.index_updates: dict[str, store.IndexEntry] = {}  # jobs recorded up to date in this run
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="necroflow-record")
        self.finalisers: set[Future[None]] = set()
        # Signals interrupt the loop only while it waits for an event.  Anywhere else (between
        # Popen and the backend registering the process, between a JobResult and its
        # finaliser being submitted) an exception would leave a job nobody stops or a
        # count nobody decrements; there the signal is noted and raised at the next wait.
        self.interruptible = False
        self.pending_signal: int | None = None

    # -- resources ---------------------------------------------------------------------------
    def demand(self, job: Job) -> dict[str, int]:
        cons = job.rule.constraints
        d = {}
        for k in self.caps:
            v = cons.get(k, 1 if k == "threads" else 0)
            d[k] = v if isinstance(v, int) else 0
        return d

    def try_launch(self) -> None:
        if self.stopping or self.solo or not self.ready or self.unlocking:
            return
        if self.used["threads"] >= self.caps["threads"]:
            return  # every job needs at least one thread: do not even ask the scheduler
        caps, used = self.caps, self.used
        for job in self._candidates():
            d = self.demand(job)
            if any(d[k] > caps[k] for k in caps):  # larger than a cap: runs alone when idle
                if self.running:
                    break
                self.solo = True
                self.start(job, d)
                break
            if all(used[k] + d[k] <= caps[k] for k in caps):
                self.start(job, d)
            else:
                break  # strict priority: the first job that does not fit waits, nothing overtakes it

    def _candidates(self) -> Iterator[Job]:
        """Ready jobs in scheduler order; the loop stops at the first one that does not fit."""
        heap = self.heap
        if heap is not None:  # a built-in scheduler: the head of the heap, until the loop stops
            while (head := heap.peek()) is not None:
                yield head
            return
        ready = list(self.ready.values())
        order = self.scheduler(ready, self.remaining) if len(ready) > 1 else ready
        if not order and not self.running and not self.finalising:
            # Nothing would ever wake the loop again: fail loudly instead of hanging.
            raise TypeError(f"scheduler returned none of the {len(ready)} ready jobs while nothing is "
                            "running; a scheduler must return the ready jobs it wants started, in order")
        for job in order:
            if getattr(job, "fingerprint", None) not in self.ready:
                raise TypeError(f"scheduler returned {job!r}, which is not one of the ready jobs it was given")
            yield job

    def start(self, job: Job, demand: dict[str, int]) -> None:
        fp = job.fingerprint
        del self.ready[fp]
        if self.heap is not None:
            head = self.heap.pop()
            assert head is job, "a built-in scheduler's job must start from the head of the heap"
        d = job.dir
        assert d is not None
        rule = job.rule
        try:
            store.prepare_node_dir(d, rule.filenames)
            prep_error: OSError | None = None
        except OSError as e:  # e.g. disk full: this job fails like any other; no crash, no traceback
            prep_error = e
        cons = dict(rule.constraints)
        cons.setdefault("threads", 1)
        spec = JobSpec(key=job.key, rule=rule.name, command=resolve_command(job), workdir=d,
                       rip=d / store.RIP, log_path=d / store.RIP / "job.log", constraints=cons)
        for k, v in demand.items():
            self.used[k] += v
        self.running[job.key] = (job, demand)
        self.reporter.on_start(job)
        if prep_error is not None:
            self.events.put(JobResult(job.key, None, message=f"could not prepare its folder {d}: {prep_error}"))
            return
        self.backend.submit(spec)

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> RunReport:
        t0 = time.monotonic()
        old_handlers = self._install_signals()
        self.backend.start(self.events)
        try:
            self.try_launch()
            while self.running or self.finalising or (self.ready and not self.stopping):
                self.handle(self.wait_event())
                self.try_launch()
            self.raise_pending_signal()
        except (KeyboardInterrupt, Interrupted):
            self.abort(grace=1.0)
            raise
        except BaseException:
            self.abort(grace=0.0)
            raise
        finally:
            self._restore_signals(old_handlers)
            self.pool.shutdown(wait=True)
            self.backend.stop()
            self.report.elapsed = time.monotonic() - t0
        blocked = [j.key for fp, j in self.todo.items() if fp in self.indeg and j.key not in self.report.ran
                   and j.key not in self.report.failed]
        self.report.skipped = blocked
        return self.report

    def wait_event(self) -> Any:
        """Block for the next event; the one place a signal may interrupt the loop."""
        self.interruptible = True
        try:
            self.raise_pending_signal()
            return self.events.get()
        finally:
            self.interruptible = False

    def raise_pending_signal(self) -> None:
        signum = self.pending_signal
        if signum is not None:
            self.pending_signal = None
            raise KeyboardInterrupt if signum == signal.SIGINT else Interrupted(signum)

    def handle(self, ev: Any) -> None:
        if isinstance(ev, JobResult):
            entry = self.running.pop(ev.key, None)
            if entry is None:
                return  # a result for a job already given up on (cancelled)
            job, demand = entry
            for k, v in demand.items():
                self.used[k] -= v
            self.solo = False
            self.finalising += 1
            consumed = self._consumed(job)
            if self._small_outputs(job):
                # Its child becomes ready with the event _finalise queues now: hold launches
                # back until then, so the scheduler sees that child (never while a big output
                # is being hashed on a recorder thread: that would leave cores idle).
                if any(self.indeg.get(c.fingerprint) == 1 for c in self.children.get(job.fingerprint, ())):
                    self.unlocking.add(job.fingerprint)
                # A few small files: hashing and recording them here costs less than handing
                # them to a thread and waiting for the answer (the next job waits either way).
                self._finalise(job, ev, consumed)
            else:
                fut = self.pool.submit(self._finalise, job, ev, consumed)
                self.finalisers.add(fut)
                fut.add_done_callback(self.finalisers.discard)
        elif isinstance(ev, _Finalised):
            self.finalising -= 1
            job = ev.job
            fp = job.fingerprint
            self.unlocking.discard(fp)
            if ev.ok:
                if ev.entry is not None:
                    self.index_updates[job.key] = ev.entry
                self.current[fp] = ev.hashes
                self.report.ran.append(job.key)
                self.indeg.pop(fp, None)
                self.remaining.done(job)
                self.reporter.on_done(job, ev.result)
                for c in self.children.get(fp, ()):
                    cfp = c.fingerprint
                    self.indeg[cfp] -= 1
                    if self.indeg[cfp] == 0:
                        self.ready[cfp] = c
                        if self.heap is not None:
                            self.heap.push(c)
            else:
                self.fail(job, ev.reason)
        elif isinstance(ev, BaseException):
            raise ev

    def fail(self, job: Job, reason: str) -> None:
        assert job.dir is not None
        log = job.dir / store.RIP / "job.log"
        self.report.failed.append(job.key)
        self.indeg.pop(job.fingerprint, None)
        self.reporter.on_fail(job, reason, _log_tail(log))
        self.errors.append(JobFailed(job, reason, log))
        if not self.keep_going:
            self.stopping = True
            self.abort(grace=0.0)

    def abort(self, grace: float) -> None:
        """Stop running jobs (process groups), mark them interrupted, let records in flight land."""
        self.stopping = True
        running = list(self.running.values())
        if running:
            try:
                self.backend.cancel_all(grace)
            finally:
                for job, _ in running:
                    assert job.dir is not None
                    try:
                        store.write_state(job.dir, store.INTERRUPTED)
                    except OSError:
                        pass
                self.running.clear()
        # Jobs already finished whose records are being written: let them complete.  Wait on
        # the futures, not on a count of events: an event taken off the queue just as a
        # signal arrived is lost, and counting would then wait forever.
        wait_futures(list(self.finalisers))
        while True:
            try:
                ev = self.events.get_nowait()
            except queue.Empty:
                break
            if isinstance(ev, _Finalised):
                self.finalising -= 1
                if ev.ok:
                    self.report.ran.append(ev.job.key)
                elif ev.job.key not in self.report.failed:  # a second failure at the same moment
                    assert ev.job.dir is not None
                    self.report.failed.append(ev.job.key)
                    self.errors.append(JobFailed(ev.job, ev.reason, ev.job.dir / store.RIP / "job.log"))
        self.finalising = 0

    def _consumed(self, job: Job) -> dict[str, Any]:
        out = {}
        for name, n in job.inputs.items():
            pfp = n.job.fingerprint
            out[name] = {"job": f"{n.job.rule.name}/{pfp[:16]}", "file": n.type.filename,
                         "sha256": self.current.get(pfp, {}).get(n.type.filename)}
        return out

    INLINE_HASH_BYTES = 1 << 20

    def _small_outputs(self, job: Job) -> bool:
        """True when every output is a plain file and together they are under 1 MiB."""
        d = job.dir
        assert d is not None
        total = 0
        for fn in job.rule.filenames:
            try:
                st = os.stat(d / fn)
            except OSError:
                continue  # missing: _finalise reports it
            if not stat.S_ISREG(st.st_mode):
                return False
            total += st.st_size
        return total <= self.INLINE_HASH_BYTES

    def _finalise(self, job: Job, result: JobResult, consumed: dict[str, Any]) -> None:
        """Verify outputs, hash them, write records, state last (big outputs: on a recorder thread)."""
        d = job.dir
        assert d is not None
        try:
            metrics = dict(result.metrics)
            metrics.setdefault("exit_code", result.returncode)
            if result.signal is not None:
                metrics["signal"] = result.signal
            store.atomic_write(d / store.RIP / "metrics.json", _json(metrics))
            write_dependencies(job, consumed)
            if not result.ok:
                store.write_state(d, store.FAILED)
                self.events.put(_Finalised(job, result, False, result.message or "failed", {}))
                return
            sigs = {fn: store.signature(d / fn) for fn in job.rule.filenames}  # None: absent
            missing = [fn for fn, sig in sigs.items() if sig is None]
            if missing:
                store.write_state(d, store.FAILED)
                msg = f"exited 0 but did not write declared output(s): {', '.join(missing)}"
                try:
                    with open(d / store.RIP / "job.log", "a") as f:
                        f.write(f"\nnecroflow: {msg}\n")
                except OSError:
                    pass
                self.events.put(_Finalised(job, result, False, msg, {}))
                return
            outs: dict[str, Any] = {}
            hashes: dict[str, str] = {}
            for fn, sig in sigs.items():
                sha = store.hash_path(d / fn)
                assert sig is not None
                outs[fn] = {"sha256": sha, "size": sig[0], "mtime_ns": sig[1]}
                hashes[fn] = sha
                store.atomic_write(d / store.RIP / f"{fn}.hash", sha)
            record = {"job": job.key, "fingerprint": job.fingerprint, "outputs": outs, "inputs": consumed}
            store.write_record(d, record)
            store.write_state(d, store.UP_TO_DATE)
            stamp = store.state_stamp(d)
            entry = None if stamp is None else (stamp[0], stamp[1], store.UP_TO_DATE, store.index_record(record))
            self.events.put(_Finalised(job, result, True, "", hashes, entry))
        except Exception as e:  # a failed record write must surface, not hang the loop
            try:
                store.write_state(d, store.FAILED)
            except OSError:
                pass
            why = f"could not record results: {e}"
            if not result.ok:  # keep the job's own failure first: it is usually the cause
                why = f"{result.message or 'failed'}; {why}"
            self.events.put(_Finalised(job, result, False, why, {}))

    # -- signals -----------------------------------------------------------------------------
    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        old: dict[int, Any] = {}

        def on_signal(signum: int, frame: Any) -> None:
            if self.pending_signal is None:
                self.pending_signal = signum
            if self.interruptible:
                self.interruptible = False
                self.raise_pending_signal()

        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            current = signal.getsignal(s)
            if current == signal.SIG_IGN:
                continue  # nohup, or a background job of a non-interactive shell: respect it
            if s == signal.SIGINT and current is not signal.default_int_handler:
                continue  # the caller has its own Ctrl-C handling
            try:
                old[s] = signal.signal(s, on_signal)
            except (ValueError, OSError):
                pass
        return old

    def _restore_signals(self, old: dict[int, Any]) -> None:
        for s, h in old.items():
            try:
                signal.signal(s, h)
            except (ValueError, OSError):
                pass


def save_index(dag: DAG, plan: Plan, updates: dict[str, store.IndexEntry]) -> None:
    """Write ``outdir/.rip/index.json`` back when this run learned anything new.

    The index is only a cache (each entry is checked against its node's state file), so a
    failure to write it costs speed on the next run, never correctness.
    """
    look = plan.looker
    if look is None or not (look.dirty or updates):
        return
    nodes = dict(look.index)
    nodes.update(look.seen)
    nodes.update(updates)
    try:
        store.write_index(dag.outdir, nodes)
    except OSError:
        pass


def _json(data: Any) -> str:
    import json

    return json.dumps(data, sort_keys=True, indent=1, default=str)


UPSTREAM_LIMIT = 200


def write_dependencies(job: Job, consumed: dict[str, Any]) -> None:
    """``.rip/dependencies.toml``: this call's config plus the configs of its ancestors.

    Ancestors are listed nearest first, up to ``UPSTREAM_LIMIT`` of them (a deep chain
    would otherwise make provenance quadratic); each one's own record holds the rest.
    """
    import tomli_w

    assert job.dir is not None
    doc: dict[str, Any] = {
        "rule": job.rule.name, "fingerprint": job.fingerprint, "command": job.rule.command,
        "params": job.params,
        "inputs": {name: {k: v for k, v in c.items() if v is not None} for name, c in consumed.items()},
    }
    upstream: dict[str, Any] = {}
    frontier = [n.job for n in job.inputs.values()]
    seen: set[str] = set()
    while frontier and len(upstream) < UPSTREAM_LIMIT:
        nxt: list[Job] = []
        for p in frontier:
            if p.fingerprint in seen:
                continue
            seen.add(p.fingerprint)
            upstream[p.key] = {"rule": p.rule.name, "params": p.params,
                               "inputs": {k: n.relpath for k, n in p.inputs.items()}}
            nxt.extend(n.job for n in p.inputs.values())
        frontier = nxt
    if frontier:
        doc["upstream_truncated"] = True
    doc["upstream"] = upstream
    store.atomic_write(job.dir / store.RIP / "dependencies.toml", tomli_w.dumps(doc))


def autoclean_outputs(dag: DAG, plan: Plan, report: RunReport) -> list[str]:
    """Delete orphan node folders, and intermediates whose consumers are all up to date.

    Requested outputs are never deleted.  An intermediate keeps its ``.rip/`` record
    (state ``cleaned``), so the next run of the same request reruns nothing.
    """
    removed: list[str] = []
    outdir = dag.outdir
    for p in plan.orphans:
        try:
            if p.parent.parent == outdir and not p.is_symlink():
                store.remove_output(p)
                removed.append(str(p))
        except OSError:
            pass
    failed = set(report.failed) | set(report.skipped)
    requested = {n.job.fingerprint for n in dag.requested.values()}
    consumers: dict[str, list[Job]] = {}
    for j in plan.required:
        for n in j.inputs.values():
            consumers.setdefault(n.job.fingerprint, []).append(j)
    for j in plan.required:
        fp = j.fingerprint
        if fp in requested or j.key in failed or not consumers.get(fp):
            continue
        if any(c.key in failed for c in consumers[fp]):
            continue
        if plan.entries[fp].state is State.CLEANED:
            continue
        d = j.dir
        assert d is not None
        if store.read_state(d) != store.UP_TO_DATE:
            continue
        for t in j.rule.outputs.values():
            target = d / t.filename
            if os.path.lexists(target):
                store.remove_output(target)
                removed.append(str(target))
        store.write_state(d, store.CLEANED)
    return removed
