"""The one run loop: launch ready jobs while they fit, wait for an event, record, repeat.

The parts it drives each do one thing: :class:`~necroflow.ready.ReadySet` (which jobs may
start), :class:`~necroflow.schedule.ReadyQueue` (in which order),
:class:`~necroflow.slots.Slots` (whether they fit), a backend (starting them),
:class:`~necroflow.recorder.Recorder` (their records) and
:class:`~necroflow.signals.SignalGuard` (where a signal may stop the loop).  The loop blocks
on one event queue fed by the backend and the recorder threads: it never sleep-polls.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .backends import Backend, Task, TaskResult
from .containers import ContainerError
from .launch import job_command
from .plan import Plan
from .provenance import consumed_inputs, provenance
from .ready import ReadySet
from .recorder import Outcome, Recorder
from .reporting import CancelToken, Interrupted, JobFailed, Reporter, RunReport, log_tails
from .schedule import ReadyQueue, Remaining, Scheduler
from .signals import SignalGuard, wait_event
from .slots import SOLO, WAIT, Slots
from .store import INTERRUPTED, Barrier, EventLog, IndexEntry, NodeFolder, Outdir
from .types import Log

if TYPE_CHECKING:
    from pathlib import Path

    from .graph import DAG
    from .nodes import Job


#: Most finished jobs whose states wait for one durability barrier, when events keep coming.
COMMIT_BATCH = 256


@dataclass(slots=True)
class _Running:
    job: Job
    folder: NodeFolder
    demand: dict[str, int]
    threads: int


class RunLoop:
    """One run of a plan's ``to_run`` jobs."""

    def __init__(self, dag: DAG, plan: Plan, slots: Slots, scheduler: Scheduler, keep_going: bool,
                 backend: Backend, reporter: Reporter, retries: int = 0, time_limit: int | None = None,
                 cancel: CancelToken | None = None) -> None:
        self.dag, self.plan, self.slots, self.keep_going = dag, plan, slots, keep_going
        self.retries, self.time_limit = retries, time_limit  # run-wide defaults / caps
        self.backend, self.reporter = backend, reporter
        self.outdir = Outdir(dag.outdir)
        self.current = plan.current  # fingerprint -> {filename: sha256}, grows as jobs finish
        self.events: queue.Queue[Any] = queue.Queue()
        self.ready = ReadySet(plan.to_run)
        self.remaining = Remaining(plan.to_run, self.ready.parents, self.ready.children)
        self.queue = ReadyQueue(scheduler, self.remaining)
        self.recorder = Recorder(self.events)
        self.running: dict[str, _Running] = {}
        self.errors: list[JobFailed] = []
        self.report = RunReport(plan=plan, run_id=new_run_id())
        self.index_updates: dict[str, IndexEntry] = {}  # jobs recorded up to date in this run
        self.uncommitted: list[Outcome] = []  # recorded, their state not yet written (see store.durable)
        self.barrier: Barrier | None = None
        self.log = EventLog(self.outdir.rip, self.report.run_id)  # the feed watchers (the GUI) tail
        if cancel is not None:
            cancel.attach(self.events)
        self.attempts: dict[str, int] = {}  # fingerprint -> the attempt running or next (1 first)
        self.history: dict[str, list[str]] = {}  # fingerprint -> why each failed attempt failed
        self.stopping = False

    def run(self) -> RunReport:
        t0 = time.monotonic()
        self.backend.start(self.events)
        self.barrier = Barrier(self.outdir.root)
        self.log.write(state="running", jobs=len(self.plan.to_run))
        outcome = "failed"
        try:
            with SignalGuard() as guard:
                try:
                    self.ready.prepare()
                    self.pull_ready()
                    self.launch()
                    while self.running or self.recorder.pending or (self.queue and not self.stopping):
                        if self.uncommitted and (self.events.empty() or len(self.uncommitted) >= COMMIT_BATCH):
                            self.commit()  # nothing else to do right now: make finished jobs durable
                        with guard.interruptible():
                            ev = wait_event(self.events)
                        if ev is None:
                            continue
                        self.handle(ev)
                        self.launch()
                    self.commit(final=True)
                    guard.raise_pending()
                    outcome = "failed" if self.report.failed else "succeeded"
                except (KeyboardInterrupt, Interrupted):
                    outcome = "cancelled"
                    self.abort(grace=1.0)
                    raise
                except BaseException:
                    self.abort(grace=0.0)
                    raise
        finally:
            self.recorder.shutdown()
            self.backend.stop()
            self.barrier.close()
            self.log.write(state=outcome, ran=len(self.report.ran), failed=len(self.report.failed))
            self.log.close()
            self.report.elapsed = time.monotonic() - t0
        done = set(self.report.ran) | set(self.report.failed)
        self.report.skipped = [j.key for j in self.plan.to_run if j.key not in done]
        return self.report

    def pull_ready(self) -> None:
        for job in self.ready.get_ready():
            self.queue.push(job)

    def launch(self) -> None:
        if self.stopping or not self.queue or self.slots.full():
            return
        busy = bool(self.running) or self.recorder.pending > 0
        for job in self.queue.candidates(busy):
            values = self.constraints_for(job)
            demand = self.slots.demand(values)
            verdict = self.slots.fits(demand)
            if verdict == WAIT:
                break  # strict priority: the first job that does not fit waits, nothing overtakes it
            self.start(job, values, demand, solo=verdict == SOLO)
            if verdict == SOLO or self.slots.full():
                break

    def constraints_for(self, job: Job) -> dict[str, Any]:
        """The job's constraints for its next attempt: threads fitted, time capped by the run."""
        attempt = self.attempts.get(job.fingerprint, 1)
        values = self.slots.fit_threads(job.rule.constraints.for_attempt(attempt, f"rule {job.rule.name!r}: "))
        if self.time_limit is not None:
            values["time"] = min(values.get("time") or self.time_limit, self.time_limit)
        return values

    def allowed_retries(self, job: Job) -> int:
        r = job.rule.constraints.get("retries")
        return r if isinstance(r, int) else self.retries

    def start(self, job: Job, values: dict[str, Any], demand: dict[str, int], solo: bool) -> None:
        self.queue.take(job)
        folder = self.outdir.node(job.key)
        try:
            folder.begin(job.rule.filenames, first_attempt=job.fingerprint not in self.attempts)
            prep_error: Exception | None = None
        except OSError as e:  # e.g. disk full: this job fails like any other; no crash, no traceback
            prep_error = e
        threads = values["threads"]
        attempt = self.attempts.get(job.fingerprint, 1)
        command = ""
        if prep_error is None:
            try:
                command = job_command(job, folder, self.dag.folder, self.outdir.root, values, attempt)
            except (OSError, ContainerError) as e:
                prep_error = e
        task = Task(key=job.key, rule=job.rule.name, command=command, workdir=_path(folder.path),
                    rip=_path(folder.rip), log_path=_path(folder.log_path), constraints=values, attempt=attempt)
        self.slots.take(demand, solo)
        self.running[job.key] = _Running(job, folder, demand, threads)
        self.log.job(job.key, "running")
        self.reporter.on_start(job)
        if prep_error is not None:
            self.events.put(TaskResult(job.key, None, message=f"could not be prepared ({folder.path}): {prep_error}"))
            return
        self.backend.submit(task)

    def handle(self, ev: Any) -> None:
        if isinstance(ev, TaskResult):
            run = self.running.pop(ev.key, None)
            if run is None:
                return  # a result for a job already given up on (cancelled)
            self.slots.give(run.demand)
            consumed = consumed_inputs(run.job, self.current)
            ev.metrics.setdefault("run_id", self.report.run_id)
            outcome = self.recorder.record(run.job, run.folder, ev, consumed, provenance(run.job, consumed),
                                           run.threads)
            if outcome is not None:
                self.finish(outcome)
        elif isinstance(ev, Outcome):
            self.recorder.took()
            self.finish(ev)
        elif isinstance(ev, CancelToken):
            raise KeyboardInterrupt  # stopped from another thread: exactly what Ctrl-C does
        elif isinstance(ev, BaseException):
            raise ev

    def finish(self, outcome: Outcome) -> None:
        job = outcome.job
        if self.allowed_retries(job):
            self.outdir.node(job.key).keep_attempt(self.attempts.get(job.fingerprint, 1))
        if not outcome.ok:
            if not self.retry(job, outcome.reason):
                self.fail(job, self.failure_text(job, outcome.reason))
            return
        self.uncommitted.append(outcome)
        self.current[job.fingerprint] = outcome.hashes
        self.report.ran.append(job.key)
        self.ready.done(job)
        self.remaining.done(job)
        self.reporter.on_done(job, outcome.result)
        self.pull_ready()

    def retry(self, job: Job, reason: str) -> bool:
        """Queue the job's next attempt, if it has one left; True when it does."""
        fp = job.fingerprint
        attempt = self.attempts.get(fp, 1)
        self.history.setdefault(fp, []).append(f"attempt {attempt}: {reason}")
        allowed = self.allowed_retries(job)
        if attempt > allowed or self.stopping:
            return False
        self.attempts[fp] = attempt + 1
        self.reporter.on_notice(f"necroflow: {job.key} failed ({reason}); attempt {attempt + 1} of {allowed + 1}")
        self.queue.push(job)
        return True

    def failure_text(self, job: Job, reason: str) -> str:
        history = self.history.get(job.fingerprint, [])
        if len(history) < 2:
            return reason
        return f"failed after {len(history)} attempts: " + "; ".join(history)

    def commit(self, final: bool = False) -> None:
        """One barrier for every recorded job, then their ``up_to_date`` states (and, at the end
        of the run, one more barrier so that the states themselves are on disk)."""
        if self.barrier is None or not (self.uncommitted or final):
            return
        batch, self.uncommitted = self.uncommitted, []
        if batch:
            self.barrier.sync()
        for outcome in batch:
            assert outcome.record is not None
            try:
                entry = self.outdir.node(outcome.job.key).commit(outcome.record)
            except OSError:
                continue  # the state could not be written: the job reruns next time, nothing is trusted
            if entry is not None:
                self.index_updates[outcome.job.key] = entry
            self.log.job(outcome.job.key, "up_to_date")
        if final and (batch or self.barrier.count):
            self.barrier.sync()

    def fail(self, job: Job, reason: str) -> None:
        folder = self.outdir.node(job.key)
        self.report.failed.append(job.key)
        self.log.job(job.key, "failed")
        self.ready.fail(job)
        sections = [(folder.log_path, folder.log_tail())]
        for t in job.rule.outputs.values():  # a log the command wrote itself (2> {log}) says more
            if issubclass(t, Log):
                sections.append((folder.file(t.filename), folder.log_tail(path=folder.file(t.filename))))
        self.reporter.on_fail(job, reason, log_tails(sections))
        self.errors.append(JobFailed(job, reason, folder.log_path))
        if not self.keep_going:
            self.abort(grace=0.0)

    def abort(self, grace: float) -> None:
        """Stop running jobs (process groups), mark them interrupted, let records in flight land."""
        self.stopping = True
        running = list(self.running.values())
        if running:
            try:
                self.backend.cancel_all(grace)
            finally:
                for run in running:
                    try:
                        run.folder.write_state(INTERRUPTED)
                    except OSError:
                        pass
                    self.log.job(run.job.key, "interrupted")
                self.running.clear()
        # Jobs already finished whose records are being written: let them complete.  Wait on
        # the futures, not on a count of events: an event taken off the queue just as a
        # signal arrived is lost, and counting would then wait forever.
        self.recorder.drain()
        while True:
            try:
                ev = self.events.get_nowait()
            except queue.Empty:
                break
            if isinstance(ev, Outcome):
                if ev.ok:
                    self.report.ran.append(ev.job.key)
                    self.uncommitted.append(ev)
                elif ev.job.key not in self.report.failed:  # a second failure at the same moment
                    self.report.failed.append(ev.job.key)
                    self.errors.append(JobFailed(ev.job, ev.reason, self.outdir.node(ev.job.key).log_path))
        self.recorder.pending = 0
        self.commit(final=True)  # what finished before the stop is kept


def new_run_id() -> str:
    """A run's id, recorded with each of its jobs' metrics: sortable, and unique per process."""
    import os

    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}-{os.urandom(2).hex()}"


def _path(text: str) -> Path:
    from pathlib import Path

    return Path(text)
