"""One run of a DAG, as ``dag.execute()`` and ``necroflow run`` do it: lock, plan, run loop,
autoclean, index; the errors of failed jobs raised at the end.

The run loop itself is :class:`necroflow.execute.RunLoop`; this module decides its caps and
settings and does what comes before and after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .backends import Backend, make_backend
from .constraints import parse_time
from .execute import RunLoop
from .plan import Plan, make_plan
from .reporting import CancelToken, Reporter, RunReport
from .resources import parse_resource
from .schedule import default_scheduler
from .slots import Slots
from .store import Outdir

if TYPE_CHECKING:
    from .graph import DAG
    from .store import OutdirLock


def normalise_caps(resource_caps: Mapping[str, Any] | None, capacity: Mapping[str, int] | None = None
                   ) -> dict[str, int]:
    """Caps as integers: the user's, over what the backend offers (``capacity``).

    ``threads="all"`` (or None) means the backend's capacity; a backend with no capacity (a
    cluster) and no user cap leaves that resource unlimited.
    """
    caps: dict[str, int] = dict(capacity or {})
    for k, v in (resource_caps or {}).items():
        if k == "threads" and v in ("all", None):
            continue
        try:
            caps[k] = parse_resource(v)
        except ValueError as e:
            raise ValueError(f"resource cap {k}={v!r}: {e}") from None
    if "threads" in caps and caps["threads"] < 1:
        raise ValueError(f"resource cap threads={caps['threads']!r}: at least 1 thread is needed to run anything")
    return caps


def _save_sources(dag: DAG) -> None:
    """Keep the source files' hashes for the next run (only a cache: a failure costs a re-hash)."""
    try:
        Outdir(dag.outdir).save_sources(dag.sources.entries)
        dag.sources.dirty = False
    except OSError:
        pass


def execute(dag: DAG, resource_caps: Mapping[str, Any] | None = None, scheduler: Callable[..., Any] | None = None,
            keep_going: bool = False, autoclean: bool = False, dry_run: bool = False,
            backend: Backend | str | None = None, progress: Reporter | None = None,
            backend_options: Mapping[str, Any] | None = None, retries: int = 0,
            time_limit: int | float | str | None = None, cancel: CancelToken | None = None) -> RunReport:
    """Run every required job that is not up to date.

    ``retries`` is the default number of retries of a failed job (a rule's ``retries``
    constraint wins); ``time_limit`` caps every job's time (seconds or text like ``"2h"``);
    ``cancel`` (a :class:`~necroflow.reporting.CancelToken`) lets another thread stop the run.

    Raises :class:`JobFailed` on the first failure (``keep_going=False``: running jobs are
    stopped and marked interrupted), an ``ExceptionGroup`` of them with ``keep_going=True``,
    :class:`~necroflow.store.OutdirLocked` when another process owns the outdir,
    ``KeyboardInterrupt``/:class:`Interrupted` on SIGINT/SIGTERM after stopping jobs.
    """
    reporter = progress if progress is not None else Reporter()
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries={retries!r}: give a non-negative number of retries, e.g. retries=2")
    limit = None if time_limit is None else parse_time(time_limit)
    be = make_backend(backend, backend_options)
    caps = normalise_caps(resource_caps, be.capacity())
    if dry_run:
        plan = make_plan(dag, scan_orphans=autoclean)
        reporter.on_plan(plan, True)
        if autoclean:
            _autoclean(dag, plan, None, reporter)
        return RunReport(plan=plan, dry_run=True)
    lock = Outdir(dag.outdir).lock()
    lock.acquire()
    try:
        plan = _plan_locked(dag, lock, autoclean, reporter)
        if lock.fd is not None:
            be.hold(lock.fd, lock.record_jobs().add)
        loop = RunLoop(dag, plan, Slots(caps), scheduler or default_scheduler, keep_going, be, reporter,
                       retries, limit, cancel)
        report = loop.run()
        if autoclean:
            _autoclean(dag, plan, report, reporter)
        if plan.reader is not None:
            plan.reader.save(loop.index_updates)
        reporter.on_finish(report)
    finally:
        lock.release()
    if report.failed:
        if keep_going:
            raise ExceptionGroup(f"{len(loop.errors)} job(s) failed", loop.errors)
        raise loop.errors[0]
    return report


def _plan_locked(dag: DAG, lock: OutdirLock, autoclean: bool, reporter: Reporter) -> Plan:
    """The run's plan (it may update records), after saying what the lock had to clean up."""
    plan = make_plan(dag, scan_orphans=autoclean, persist=True)
    if dag.sources.dirty:
        _save_sources(dag)
    reporter.on_plan(plan, False)
    if lock.stopped:
        reporter.on_notice(f"necroflow: stopped {len(lock.stopped)} job(s) a killed necroflow left running "
                           f"on {dag.outdir} (process groups {', '.join(map(str, lock.stopped))}); they rerun now")
    return plan


def _autoclean(dag: DAG, plan: Plan, report: RunReport | None, reporter: Reporter) -> None:
    """Say what autoclean deletes, then delete it; without a report (a dry run) only say it."""
    from .autoclean import apply_clean, plan_clean

    failed = set() if report is None else set(report.failed) | set(report.skipped)
    cp = plan_clean(dag, plan, failed)
    for line in cp.lines(verbose=reporter.verbose >= 2):
        reporter.on_notice(line if report is not None else line.replace("autoclean: deleting", "autoclean would delete", 1))
    if report is not None:
        report.cleaned = apply_clean(dag, cp)
