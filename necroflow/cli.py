"""The ``necroflow`` command: a thin Typer layer over :mod:`necroflow.jobs` and the engine.

Exit codes: 0 ok, 1 a job failed, 2 invalid input, 3 outdir locked, 130 interrupted
(SIGINT), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_LOCKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

app = typer.Typer(
    name="necroflow",
    help="Run typed, content-addressed pipelines described by job TOML files.\n\n"
    "Exit codes: 0 ok, 1 a job failed, 2 invalid input, 3 outdir locked, 130 interrupted.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)

JobFiles = Annotated[list[Path], typer.Argument(help="Job TOML file(s); several share one DAG.", show_default=False)]


def fail(message: str, code: int = EXIT_INVALID) -> typer.Exit:
    typer.echo(f"necroflow: error: {message}", err=True)
    return typer.Exit(code)


def _settings(**flags: Any) -> Any:
    from .schemas import ConfigError, load_settings

    try:
        return load_settings(**flags)
    except ConfigError as e:
        raise fail(str(e)) from None


def _constraint_flags(values: list[str] | None) -> list[str] | None:
    return list(values) if values else None


def _load(jobs: list[Path], outdir: Path) -> Any:
    from .jobs import load_jobs
    from .schemas import ConfigError

    try:
        return load_jobs(jobs, outdir)
    except ConfigError as e:
        raise fail(str(e)) from None


@app.command()
def run(
    jobs: JobFiles,
    outdir: Annotated[Path | None, typer.Option("--outdir", "-o", help="Output directory [env NECROFLOW_OUTDIR].")] = None,
    cores: Annotated[str | None, typer.Option("--cores", "-c", help="Thread cap: N or 'all' (default all CPUs); -c8, -call.")] = None,
    constraint: Annotated[list[str] | None, typer.Option("--constraint", help="Extra resource cap KEY=VALUE (e.g. ram=64Gi); repeatable.")] = None,
    keep_going: Annotated[bool | None, typer.Option("--keep-going", "-k", help="Continue independent branches past failures.")] = None,
    autoclean: Annotated[bool | None, typer.Option("--autoclean", help="Delete orphan outputs and intermediates once consumed.")] = None,
    dry_run: Annotated[bool | None, typer.Option("--dry-run", "-n", help="Show what would run and why; run nothing.")] = None,
    backend: Annotated[str | None, typer.Option("--backend", help="Where jobs run: local, slurm or dask.")] = None,
    quiet: Annotated[bool | None, typer.Option("--quiet", "-q", help="Only errors and the final summary.")] = None,
    verbose: Annotated[bool | None, typer.Option("--verbose", "-v", help="Also print each job as it starts.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="With --dry-run: print the plan as JSON.")] = False,
    slurm_partition: Annotated[str | None, typer.Option(help="SLURM partition.")] = None,
    slurm_account: Annotated[str | None, typer.Option(help="SLURM account.")] = None,
    slurm_poll_interval: Annotated[float | None, typer.Option(help="Seconds between SLURM polls.")] = None,
    dask_scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address (tcp://host:8786).")] = None,
) -> None:
    """Build the DAG of every JOB.toml and run what is not up to date.

    After the run each combo gets outdir/COMBO/ with symlinks to its requested outputs and a
    manifest.toml.  With --dry-run, prints what would run and why.
    """
    settings = _settings(outdir=outdir, cores=cores, constraints=_constraint_flags(constraint), keep_going=keep_going,
                         autoclean=autoclean, dry_run=dry_run, backend=backend, quiet=quiet, verbose=verbose,
                         slurm_partition=slurm_partition, slurm_account=slurm_account,
                         slurm_poll_interval=slurm_poll_interval, dask_scheduler=dask_scheduler)
    if settings.outdir is None:
        raise fail("no output directory: pass --outdir DIR (or set NECROFLOW_OUTDIR)")
    jobset = _load(jobs, settings.outdir)
    from .execute import Interrupted, JobFailed, Reporter
    from .store import OutdirLocked

    caps: dict[str, Any] = {"threads": settings.thread_cap(), **settings.constraints}
    reporter = _reporter(settings, as_json)
    if settings.dry_run:
        report = jobset.dag.execute(resource_caps=caps, dry_run=True, autoclean=settings.autoclean,
                                    progress=reporter)
        if as_json:
            typer.echo(json.dumps(report.plan.as_dict(), indent=1))
        raise typer.Exit(EXIT_OK)
    code = EXIT_OK
    errors: list[JobFailed] = []
    try:
        jobset.dag.execute(resource_caps=caps, keep_going=settings.keep_going, autoclean=settings.autoclean,
                           backend=_backend(settings), progress=reporter)
    except OutdirLocked as e:
        raise fail(str(e), EXIT_LOCKED) from None
    except JobFailed as e:
        errors, code = [e], EXIT_FAILED
    except ExceptionGroup as eg:
        errors, code = [x for x in eg.exceptions if isinstance(x, JobFailed)], EXIT_FAILED
        if len(errors) != len(eg.exceptions):
            raise
    except KeyboardInterrupt:
        typer.echo("necroflow: interrupted; running jobs were stopped and will rerun next time", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Interrupted as e:
        typer.echo(f"necroflow: {e}; running jobs were stopped and will rerun next time", err=True)
        raise typer.Exit(128 + e.signum) from None
    failed_keys = {e.job.key for e in errors}
    _write_links(jobset, failed_keys, settings.keep_going or not errors)
    if errors:
        for e in errors:
            typer.echo(f"necroflow: {e}", err=True)
    raise typer.Exit(code)


def _reporter(settings: Any, as_json: bool) -> Any:
    from .execute import Reporter

    try:
        from .progress import make_reporter
    except ImportError:
        make_reporter = None
    stream = sys.stderr if not as_json else open("/dev/null", "w")  # noqa: SIM115
    verbosity = 0 if settings.quiet else 2 if settings.verbose else 1
    if make_reporter is not None and not as_json:
        return make_reporter(stream, quiet=settings.quiet, verbose=verbosity)
    return Reporter(stream, verbose=verbosity)


def _backend(settings: Any) -> Any:
    if settings.backend == "slurm":
        from .backends.slurm import SlurmBackend

        return SlurmBackend(partition=settings.slurm_partition, account=settings.slurm_account,
                            poll_interval=settings.slurm_poll_interval, submit_rate=settings.slurm_submit_rate)
    if settings.backend == "dask":
        from .backends.dask import DaskBackend

        return DaskBackend(scheduler_address=settings.dask_scheduler)
    return None


def _write_links(jobset: Any, failed: set[str], allowed: bool) -> None:
    """Links and manifests for every combo whose requested outputs all exist and are recorded."""
    if not allowed:
        return
    from . import store
    from .jobs import write_links
    from .plan import required_jobs
    from .schemas import ConfigError

    dag = jobset.dag
    for run in jobset.runs:
        ok = True
        for node in run.requested.values():
            d = node.job.dir
            if node.job.key in failed or d is None or store.read_state(d) != store.UP_TO_DATE:
                ok = False
                break
        if ok:
            try:
                write_links(dag, run)
            except (ConfigError, OSError) as e:
                typer.echo(f"necroflow: warning: links for {run.combo.name}: {e}", err=True)
    del required_jobs


@app.command()
def validate(jobs: JobFiles) -> None:
    """Check job files without running anything: schema, grids, factories, pipelines.

    Prints each combo with its job count; exit 0 when all is valid, 2 otherwise.
    """
    jobset = _load(jobs, Path("necroflow-validate-outdir"))
    dag = jobset.dag
    from .plan import required_jobs

    for run in jobset.runs:
        n = len(run.pipeline.jobs)
        typer.echo(f"{run.combo.name}: {n} jobs, requests {', '.join(run.requested)}  ({run.combo.source})")
    typer.echo(f"OK: {len(jobset.runs)} combo(s) from {len(jobs)} file(s), {len(required_jobs(dag))} distinct jobs.")


@app.command()
def schema(
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="factory.py:function whose typed config to include.")] = None,
    kind: Annotated[str, typer.Option("--kind", help="job or manifest.")] = "job",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the JSON Schema of job TOMLs (or manifest.toml) for editor completion."""
    from . import schemas

    if kind == "manifest":
        doc = schemas.manifest_schema()
    elif kind != "job":
        raise fail(f"--kind must be 'job' or 'manifest', not {kind!r}")
    elif pipeline:
        from .jobs import load_factory

        try:
            factory, _ = load_factory(pipeline, job_file=Path("--pipeline"))
            model = schemas.config_model_of(factory)
        except schemas.ConfigError as e:
            raise fail(str(e)) from None
        if model is None:
            raise fail(f"{pipeline}: the factory's config parameter is not annotated with a Pydantic model")
        doc = schemas.pipeline_job_schema(model)
    else:
        doc = schemas.job_schema()
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if output:
        output.write_text(text)
    else:
        typer.echo(text, nl=False)


_COMMANDS = {"run", "validate", "schema", "status", "graph", "report", "clean"}


def main(argv: list[str] | None = None) -> None:
    """Entry point.  ``necroflow --outdir results job.toml`` (no subcommand) means ``run``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and not any(a in _COMMANDS for a in args[:1]) and args[0] not in ("-h", "--help"):
        args.insert(0, "run")
    if threading_main():
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    app(args=args, prog_name="necroflow")


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    main()
