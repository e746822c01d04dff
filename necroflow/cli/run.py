"""``necroflow run`` and ``necroflow validate``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import (
    EXIT_CODES,
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    JobFiles,
    OutdirOpt,
    _guard,
    _load,
    _outdir_or_none,
    _settings,
    app,
    fail,
)
from .options import (
    AsJsonOpt,
    AutocleanOpt,
    BackendOpt,
    ConstraintOpt,
    ContainerOpt,
    ContainerRuntimeOpt,
    CoresOpt,
    DaskSchedulerOpt,
    DryRunOpt,
    KeepGoingOpt,
    QuietOpt,
    RetriesOpt,
    SlurmAccountOpt,
    SlurmArraySizeOpt,
    SlurmArrayThrottleOpt,
    SlurmExtraArgsOpt,
    SlurmGroupCpusOpt,
    SlurmGroupSizeOpt,
    SlurmPartitionOpt,
    SlurmPollIntervalOpt,
    TimeLimitOpt,
    VerboseOpt,
)


@app.command(epilog=EXIT_CODES)
def run(
    jobs: JobFiles,
    outdir: OutdirOpt = None,
    cores: CoresOpt = None,
    constraint: ConstraintOpt = None,
    keep_going: KeepGoingOpt = None,
    autoclean: AutocleanOpt = None,
    dry_run: DryRunOpt = None,
    as_json: AsJsonOpt = False,
    backend: BackendOpt = None,
    quiet: QuietOpt = None,
    verbose: VerboseOpt = None,
    slurm_partition: SlurmPartitionOpt = None,
    slurm_account: SlurmAccountOpt = None,
    slurm_poll_interval: SlurmPollIntervalOpt = None,
    slurm_extra_args: SlurmExtraArgsOpt = None,
    dask_scheduler: DaskSchedulerOpt = None,
    slurm_array_size: SlurmArraySizeOpt = None,
    slurm_array_throttle: SlurmArrayThrottleOpt = None,
    slurm_group_size: SlurmGroupSizeOpt = None,
    slurm_group_cpus: SlurmGroupCpusOpt = None,
    retries: RetriesOpt = None,
    time_limit: TimeLimitOpt = None,
    container: ContainerOpt = None,
    container_runtime: ContainerRuntimeOpt = None,
) -> None:
    """Run every JOB.toml: build one DAG, run what is not up to date, link each combo's outputs.

    After the run each combo gets OUTDIR/COMBO/ with symlinks to its requested outputs only
    and a manifest.toml keyed by Pipeline attribute name; links from earlier runs that are
    no longer requested are removed.  With --dry-run nothing runs: each job that would run
    is listed with its reason (missing, stale because an input changed, interrupted,
    failed), followed by counts per state.

    Every option can also come from a NECROFLOW_* environment variable (shown with each
    option); a flag given on the command line wins.  Example:

    \b
        necroflow run --outdir results -c8 --constraint ram=64Gi examples/necroalchemy_grid.toml
    """
    flags = {k: v for k, v in locals().items() if k not in ("jobs", "as_json", "constraint")}
    settings = _settings(constraints=list(constraint) if constraint else None, **flags)
    if settings.outdir is None:
        raise fail("no output directory: pass --outdir DIR (or set NECROFLOW_OUTDIR)")
    jobset = _load(jobs, settings.outdir, container=settings.container,
                   container_runtime=settings.container_runtime)
    if settings.dry_run:
        with _guard():
            outcome = _api().run_loaded(jobset, settings)
        _print_dry_run(outcome, as_json)
        raise typer.Exit(EXIT_OK)
    raise typer.Exit(_run(jobset, settings, as_json))


def _api() -> Any:
    from .. import jobs

    return jobs


def _print_dry_run(outcome: Any, as_json: bool) -> None:
    """The plan on stdout: each job that would run with its reason, then counts per state.

    ``necroflow status`` gives the longer analysis (what changed since the earlier run,
    root causes); the dry run keeps to the plan's own one-line reasons.
    """
    plan, combos = outcome.plan, outcome.combo_rows
    if as_json:
        doc = plan.as_dict()
        doc["to_run"] = len(plan.to_run)
        doc["combos"] = combos
        doc["autoclean"] = outcome.autoclean
        typer.echo(json.dumps(doc, indent=1))
        return
    typer.echo(plan.explain())
    for line in outcome.autoclean:
        typer.echo(line)
    done = sum(c["complete"] for c in combos)
    typer.echo(f"Combos: {done} of {len(combos)} complete (all requested outputs up to date).")


def _run(jobset: Any, settings: Any, as_json: bool) -> int:
    """Run through the API, print what happened, and map the outcome to an exit code."""
    from ..reporting import Interrupted
    from ..store import OutdirLocked

    reporter = _reporter(settings)
    try:
        with _guard():
            _api().make_outdir(settings.outdir)
        with _guard(os_error_code=EXIT_FAILED):
            try:
                outcome = _api().run_loaded(jobset, settings, reporter)
            finally:
                close = getattr(reporter, "close", None)  # a live display shows the cursor again
                if close is not None:
                    close()
    except OutdirLocked as e:
        raise fail(str(e), EXIT_LOCKED) from None
    except Interrupted as e:
        typer.echo(f"necroflow: {e}; running jobs were stopped and will rerun next time", err=True)
        raise typer.Exit(128 + e.signum) from None
    for name, st in outcome.combos.items():
        if st not in ("linked", "incomplete"):
            typer.echo(f"necroflow: warning: combo {name}: {st}", err=True)
    incomplete = [n for n, st in outcome.combos.items() if st == "incomplete"]
    if incomplete and not settings.quiet:
        typer.echo(f"necroflow: {len(incomplete)} combo(s) not linked because an output failed or was not "
                   f"built: {', '.join(incomplete)}", err=True)
    for err in outcome.errors:
        typer.echo(f"necroflow: {err}", err=True)
    if as_json:
        doc: dict[str, Any] = {"ok": outcome.ok, "failed": outcome.failed, "combos": outcome.combos}
        report = outcome.report
        if report is not None:
            doc.update(ran=report.ran, up_to_date=report.up_to_date, cleaned=report.cleaned,
                       elapsed=round(report.elapsed, 3))
        typer.echo(json.dumps(doc, indent=1))
    return EXIT_FAILED if outcome.errors else EXIT_OK


def _reporter(settings: Any) -> Any:
    """Progress on stderr: a live block on a terminal, plain lines otherwise (see progress.py)."""
    from ..progress import make_reporter

    return make_reporter(sys.stderr, quiet=settings.quiet, verbose=2 if settings.verbose else 0)


@app.command(epilog=EXIT_CODES)
def validate(
    jobs: JobFiles,
    outdir: Annotated[Path | None, typer.Option(
        "--outdir", show_default=False,
        help="Also check the combo folders against what earlier runs left in this output "
             "directory (env NECROFLOW_OUTDIR).")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="A missing input file is an error (exit 2), as it is for 'run'.")] = False,
) -> None:
    """Check job files without running anything: schema, grids, factories, pipelines.

    Reads each JOB.toml, expands its grids, imports each factory and builds every combo's
    pipeline, exactly as 'run' would, then prints each combo with its number of jobs and
    the number of distinct jobs they share.  Exit 0 when everything is valid, 2 otherwise
    (each problem names the file and key).  An input file that does not exist yet (data
    not made on a fresh clone) is a warning naming the file, key and combo, unless
    --strict; 'run' always refuses it before anything starts.
    """
    directory = _outdir_or_none(outdir)
    jobset = _load(jobs, directory if directory is not None else Path("necroflow-validate-outdir"),
                   missing_files_ok=not strict)
    from ..plan import required_jobs

    for w in jobset.warnings:
        typer.echo(f"necroflow: warning: {w}", err=True)
    for r in jobset.runs:
        typer.echo(f"{r.combo.name}: {len(r.pipeline.jobs)} jobs, requests {', '.join(r.requested)}"
                   f"  ({r.combo.source})")
    missing = f"; {len(jobset.warnings)} missing input file(s), see the warnings" if jobset.warnings else ""
    typer.echo(f"OK: {len(jobset.runs)} combo(s) from {len(jobs)} file(s), "
               f"{len(required_jobs(jobset.dag))} distinct jobs{missing}.")


