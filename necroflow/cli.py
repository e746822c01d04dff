"""The ``necroflow`` command: a thin Typer layer over :mod:`necroflow.jobs` and the engine.

Every command turns bad input into one readable line per problem and exit code 2, never
a traceback; the work itself is done by functions the Python API has too (``load_jobs``,
``DAG.execute``, ``link_combos``).  Exit codes: 0 ok, 1 a job failed, 2 invalid input,
3 outdir locked, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_LOCKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

EXIT_CODES = (
    "Exit codes: 0 ok; 1 a job failed; 2 invalid input (job file, option or environment "
    "variable); 3 the outdir is locked by another necroflow process; 130 interrupted "
    "(Ctrl-C); 143 terminated (SIGTERM)."
)

app = typer.Typer(
    name="necroflow",
    help="Run typed, content-addressed pipelines described by job TOML files.\n\n"
    "A job TOML names a pipeline factory ('.pipeline' = \"factory.py:function\") and its "
    "parameters; keys ending in __grid expand into one combo per value.  "
    "'necroflow --outdir DIR job.toml' (no command) means 'necroflow run'.  "
    "Run 'necroflow COMMAND --help' for each command.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    pretty_exceptions_enable=False,
)

JobFiles = Annotated[
    list[Path],
    typer.Argument(help="Job TOML file(s); several share one DAG, so common work runs once.",
                   show_default=False, metavar="JOB.toml"),
]


def fail(message: str, code: int = EXIT_INVALID) -> typer.Exit:
    """Print ``necroflow: error: ...`` to stderr and return the Exit to raise."""
    typer.echo(f"necroflow: error: {message}", err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def _guard(os_error_code: int = EXIT_INVALID) -> Iterator[None]:
    """Bad input, an unwritable outdir or Ctrl-C end the command with a line and a code.

    An OSError is the user's to fix (exit 2) while loading; during a run (a full disk) it
    counts as a failed run (``os_error_code=1``).
    """
    from .schemas import ConfigError

    try:
        yield
    except ConfigError as e:
        raise fail(str(e)) from None
    except KeyboardInterrupt:
        typer.echo("necroflow: interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except OSError as e:  # unreadable factory, unwritable outdir, a file where a folder should be
        where = f": {e.filename}" if e.filename else ""
        raise fail(f"{e.strerror or e}{where}", os_error_code) from None


def _settings(**flags: Any) -> Any:
    from .schemas import load_settings

    with _guard():
        return load_settings(**flags)


def _load(jobs: list[Path], outdir: Path) -> Any:
    from .jobs import load_jobs

    with _guard():
        return load_jobs(jobs, outdir)


def _outdir_or_none(flag: Path | None) -> Path | None:
    """--outdir, else NECROFLOW_OUTDIR.  Commands other than run read only this one setting,
    so a NECROFLOW_* variable meant for runs can't break them."""
    if flag is not None:
        return flag
    env = os.environ.get("NECROFLOW_OUTDIR", "").strip()
    return Path(env) if env else None


def _outdir(flag: Path | None) -> Path:
    directory = _outdir_or_none(flag)
    if directory is None:
        raise fail("no output directory: pass --outdir DIR (or set NECROFLOW_OUTDIR)")
    return directory


OutdirOpt = Annotated[
    Path | None,
    typer.Option("--outdir", help="Output directory (env NECROFLOW_OUTDIR).", show_default=False),
]


@app.command(epilog=EXIT_CODES)
def run(
    jobs: JobFiles,
    outdir: OutdirOpt = None,
    cores: Annotated[str | None, typer.Option(
        "--cores", "-c", metavar="N|all",
        help="Thread cap: a positive integer or 'all' CPUs (the default); -c8 and -call work too. "
             "(env NECROFLOW_CORES)")] = None,
    constraint: Annotated[list[str] | None, typer.Option(
        "--constraint", metavar="KEY=VALUE",
        help="Extra resource cap, e.g. ram=64Gi (SI K M G T P or binary Ki Mi Gi Ti Pi suffixes); "
             "repeatable. (env NECROFLOW_CONSTRAINTS='ram=64Gi,gpu=2')")] = None,
    keep_going: Annotated[bool | None, typer.Option(
        "--keep-going/--no-keep-going", "-k",
        help="Continue independent branches past failures; combos that succeeded still get "
             "links. (env NECROFLOW_KEEP_GOING)")] = None,
    autoclean: Annotated[bool | None, typer.Option(
        "--autoclean/--no-autoclean",
        help="Delete orphan outputs, and intermediates once their consumers are up to date. "
             "(env NECROFLOW_AUTOCLEAN)")] = None,
    dry_run: Annotated[bool | None, typer.Option(
        "--dry-run/--no-dry-run", "-n",
        help="Print what would run and why, with counts; run nothing. (env NECROFLOW_DRY_RUN)")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the plan (with --dry-run) or the run's result as JSON on stdout.")] = False,
    backend: Annotated[str | None, typer.Option(
        "--backend", metavar="local|slurm|dask",
        help="Where jobs run (default local). (env NECROFLOW_BACKEND)")] = None,
    quiet: Annotated[bool | None, typer.Option(
        "--quiet/--no-quiet", "-q", help="Only errors and the final summary. (env NECROFLOW_QUIET)")] = None,
    verbose: Annotated[bool | None, typer.Option(
        "--verbose/--no-verbose", "-v", help="Also print each job as it starts. (env NECROFLOW_VERBOSE)")] = None,
    slurm_partition: Annotated[str | None, typer.Option(
        help="SLURM partition for sbatch. (env NECROFLOW_SLURM_PARTITION)")] = None,
    slurm_account: Annotated[str | None, typer.Option(
        help="SLURM account for sbatch. (env NECROFLOW_SLURM_ACCOUNT)")] = None,
    slurm_poll_interval: Annotated[float | None, typer.Option(
        help="Seconds between SLURM state polls (default 1). (env NECROFLOW_SLURM_POLL_INTERVAL)")] = None,
    slurm_extra_args: Annotated[str | None, typer.Option(
        help="Extra sbatch arguments for every job, e.g. '--qos=short'. (env NECROFLOW_SLURM_EXTRA_ARGS)")] = None,
    dask_scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (tcp://host:8786); none starts a local cluster. "
             "(env NECROFLOW_DASK_SCHEDULER)")] = None,
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
    settings = _settings(outdir=outdir, cores=cores, constraints=list(constraint) if constraint else None,
                         keep_going=keep_going, autoclean=autoclean, dry_run=dry_run, backend=backend,
                         quiet=quiet, verbose=verbose, slurm_partition=slurm_partition,
                         slurm_account=slurm_account, slurm_poll_interval=slurm_poll_interval,
                         slurm_extra_args=slurm_extra_args, dask_scheduler=dask_scheduler)
    if settings.outdir is None:
        raise fail("no output directory: pass --outdir DIR (or set NECROFLOW_OUTDIR)")
    jobset = _load(jobs, settings.outdir)
    if not settings.dry_run:
        _make_outdir(settings.outdir)
    if settings.dry_run:
        _dry_run(jobset, settings, as_json)
        raise typer.Exit(EXIT_OK)
    raise typer.Exit(_run(jobset, settings, as_json))


def _make_outdir(path: Path) -> None:
    """Create the outdir up front, so a bad --outdir is one line and exit 2, not a failed run."""
    if path.exists() and not path.is_dir():
        raise fail(f"--outdir {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise fail(f"cannot create the output directory {path}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise fail(f"the output directory {path} is not writable")


def _dry_run(jobset: Any, settings: Any, as_json: bool) -> None:
    """The plan on stdout: each job that would run with its reason, then counts per state.

    ``necroflow status`` gives the longer analysis (what changed since the earlier run,
    root causes); the dry run keeps to the plan's own one-line reasons.
    """
    with _guard():
        plan = jobset.dag.plan(scan_orphans=settings.autoclean)
        combos = _combo_rows(jobset, plan)
    if as_json:
        doc = plan.as_dict()
        doc["to_run"] = len(plan.to_run)
        doc["combos"] = combos
        typer.echo(json.dumps(doc, indent=1))
        return
    typer.echo(plan.explain())
    done = sum(c["complete"] for c in combos)
    typer.echo(f"Combos: {done} of {len(combos)} complete (all requested outputs up to date).")


def _combo_rows(jobset: Any, plan: Any) -> list[dict[str, Any]]:
    """One row per combo: its job file, whether all its requested outputs are up to date
    (recorded so, and nothing upstream of them would run), and where they are."""
    from .graph import walk_jobs
    from .jobs import combo_complete

    will_run = {j.fingerprint for j in plan.to_run}

    def complete(r: Any) -> bool:
        if not combo_complete(r):
            return False
        return not any(j.fingerprint in will_run for j in walk_jobs(n.job for n in r.requested.values()))

    return [{"combo": r.combo.name, "job_file": str(r.combo.source), "complete": complete(r),
             "requests": {lab: n.relpath for lab, n in r.requested.items()}} for r in jobset.runs]


def _print_status(jobset: Any, plan: Any, as_json: bool, limit: int | None) -> None:
    """``necroflow status``: reasons from :mod:`necroflow.why` plus the state of each combo."""
    from .why import render_status, status_report

    report = status_report(jobset.dag, plan)
    combos = _combo_rows(jobset, plan)
    if as_json:
        report["combos"] = combos
        typer.echo(json.dumps(report, indent=1))
        return
    done = sum(c["complete"] for c in combos)
    typer.echo(render_status(report, limit))
    typer.echo(f"Combos: {done} of {len(combos)} complete (all requested outputs up to date).")


def _run(jobset: Any, settings: Any, as_json: bool) -> int:
    """Execute, link the combos that completed, and map the outcome to an exit code."""
    from .execute import Interrupted, JobFailed
    from .jobs import link_combos
    from .store import OutdirLocked

    caps: dict[str, Any] = {"threads": _thread_cap(settings), **settings.constraints}
    errors: list[JobFailed] = []
    report = None
    reporter = _reporter(settings)
    try:
        with _guard(os_error_code=EXIT_FAILED):
            try:
                report = jobset.dag.execute(resource_caps=caps, keep_going=settings.keep_going,
                                            autoclean=settings.autoclean, backend=_backend(settings),
                                            progress=reporter)
            finally:
                close = getattr(reporter, "close", None)  # a live display shows the cursor again
                if close is not None:
                    close()
    except OutdirLocked as e:
        raise fail(str(e), EXIT_LOCKED) from None
    except JobFailed as e:
        errors = [e]
    except ExceptionGroup as eg:
        errors = [x for x in eg.exceptions if isinstance(x, JobFailed)]
        if len(errors) != len(eg.exceptions):
            raise
    except Interrupted as e:
        typer.echo(f"necroflow: {e}; running jobs were stopped and will rerun next time", err=True)
        raise typer.Exit(128 + e.signum) from None
    failed = {err.job.key for err in errors}
    # Every combo whose requested outputs are all up to date gets its links, failures
    # elsewhere or not (with --keep-going that is every combo the failures did not reach).
    with _guard(os_error_code=EXIT_FAILED):
        status = link_combos(jobset, failed)
    for name, st in status.items():
        if st not in ("linked", "incomplete"):
            typer.echo(f"necroflow: warning: combo {name}: {st}", err=True)
    incomplete = [n for n, st in status.items() if st == "incomplete"]
    if incomplete and not settings.quiet:
        typer.echo(f"necroflow: {len(incomplete)} combo(s) not linked because an output failed or was not "
                   f"built: {', '.join(incomplete)}", err=True)
    for err in errors:
        typer.echo(f"necroflow: {err}", err=True)
    if as_json:
        doc: dict[str, Any] = {"ok": not errors, "failed": sorted(failed), "combos": status}
        if report is not None:
            doc.update(ran=report.ran, up_to_date=report.up_to_date, cleaned=report.cleaned,
                       elapsed=round(report.elapsed, 3))
        typer.echo(json.dumps(doc, indent=1))
    return EXIT_FAILED if errors else EXIT_OK


def _reporter(settings: Any) -> Any:
    """Progress on stderr: a live block on a terminal, plain lines otherwise (see progress.py)."""
    from .progress import make_reporter

    return make_reporter(sys.stderr, quiet=settings.quiet, verbose=2 if settings.verbose else 0)


def _thread_cap(settings: Any) -> int:
    """Local runs default to all CPUs; on a cluster the scheduler places jobs, so unless
    ``--cores`` (or NECROFLOW_CORES) says otherwise, necroflow keeps no thread cap of its own."""
    if settings.backend != "local" and "cores" not in settings.model_fields_set:
        from .execute import CLUSTER_THREADS

        return CLUSTER_THREADS
    return int(settings.thread_cap())


def _backend(settings: Any) -> Any:
    if settings.backend == "slurm":
        import shlex

        from .backends.slurm import SlurmBackend

        extra = tuple(shlex.split(settings.slurm_extra_args)) if settings.slurm_extra_args else ()
        return SlurmBackend(partition=settings.slurm_partition, account=settings.slurm_account,
                            poll_interval=settings.slurm_poll_interval, submit_rate=settings.slurm_submit_rate,
                            extra_args=extra)
    if settings.backend == "dask":
        from .backends.dask import DaskBackend

        return DaskBackend(scheduler_address=settings.dask_scheduler)
    return None


@app.command(epilog=EXIT_CODES)
def validate(
    jobs: JobFiles,
    outdir: Annotated[Path | None, typer.Option(
        "--outdir", show_default=False,
        help="Also check the combo folders against what earlier runs left in this output "
             "directory (env NECROFLOW_OUTDIR).")] = None,
) -> None:
    """Check job files without running anything: schema, grids, factories, pipelines.

    Reads each JOB.toml, expands its grids, imports each factory and builds every combo's
    pipeline, exactly as 'run' would, then prints each combo with its number of jobs and
    the number of distinct jobs they share.  Exit 0 when everything is valid, 2 otherwise
    (each problem names the file and key).
    """
    directory = _outdir_or_none(outdir)
    jobset = _load(jobs, directory if directory is not None else Path("necroflow-validate-outdir"))
    from .plan import required_jobs

    for r in jobset.runs:
        typer.echo(f"{r.combo.name}: {len(r.pipeline.jobs)} jobs, requests {', '.join(r.requested)}"
                   f"  ({r.combo.source})")
    typer.echo(f"OK: {len(jobset.runs)} combo(s) from {len(jobs)} file(s), "
               f"{len(required_jobs(jobset.dag))} distinct jobs.")


@app.command(epilog=EXIT_CODES)
def schema(
    pipeline: Annotated[str | None, typer.Option(
        "--pipeline", metavar="FACTORY.py:FUNCTION",
        help="Also describe this factory's own parameters (its config must be annotated with a "
             "Pydantic model), including their __grid forms.")] = None,
    kind: Annotated[str, typer.Option("--kind", metavar="job|manifest",
                                      help="Which file to describe.")] = "job",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.",
                                                show_default=False)] = None,
) -> None:
    """Print the JSON Schema of job TOMLs (or of manifest.toml), for editor completion.

    Editors with a TOML language server (Taplo / Even Better TOML, tombi) find the schema
    through a first line '#:schema path/to/job.schema.json' in the job file.  Example:

    \b
        necroflow schema --pipeline factory.py:rna -o rna.schema.json
    """
    from . import schemas

    with _guard():
        if kind == "manifest":
            doc = schemas.manifest_schema()
        elif kind != "job":
            raise fail(f"--kind must be 'job' or 'manifest', not {kind!r}")
        elif pipeline:
            from .jobs import load_factory

            if ":" not in pipeline:
                raise fail(f"--pipeline {pipeline!r}: write FACTORY.py:FUNCTION")
            factory, _ = load_factory(pipeline, job_file=Path("--pipeline"))
            model = schemas.config_model_of(factory)
            if model is None:
                raise fail(f"--pipeline {pipeline}: the factory's config parameter is not annotated with a "
                           "Pydantic model, so there are no typed keys to describe; annotate it "
                           "(def f(config: MyConfig, R)) or use plain 'necroflow schema'")
            doc = schemas.pipeline_job_schema(model)
        else:
            doc = schemas.job_schema()
        text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
        if output:
            output.write_text(text)
        else:
            typer.echo(text, nl=False)


@app.command(epilog=EXIT_CODES)
def status(
    jobs: JobFiles,
    outdir: OutdirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full status as JSON on stdout.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="List at most this many jobs that would run.")] = 50,
) -> None:
    """Show what is up to date and what would run, and why, without running anything.

    For each job that would run it names the cause a person can act on (a param or
    command that changed since the earlier run in OUTDIR, an input that will be rebuilt,
    a previous run that was interrupted or failed), groups jobs by root cause, counts the
    rest per state and rule, and says how many combos have all their requested outputs.
    Read-only: takes no lock and writes nothing.
    """
    directory = _outdir(outdir)
    jobset = _load(jobs, directory)
    with _guard():
        plan = jobset.dag.plan(scan_orphans=True)
        _print_status(jobset, plan, as_json, limit)


@app.command(epilog=EXIT_CODES)
def graph(
    jobs: JobFiles,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="dot|mermaid",
                                     help="Graphviz DOT (pipe to 'dot -Tsvg') or Mermaid (renders in "
                                          "GitHub Markdown).")] = "dot",
    rules: Annotated[bool, typer.Option("--rules", help="One node per rule instead of one per job.")] = False,
    outdir: Annotated[Path | None, typer.Option(
        "--outdir", show_default=False,
        help="Colour nodes by their state in this output directory (env NECROFLOW_OUTDIR).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", show_default=False,
                                                help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the job graph of JOB.toml files as Graphviz DOT or Mermaid text.

    Jobs shared by several combos appear once.  With --outdir (or NECROFLOW_OUTDIR) each
    node is coloured by its state there (up to date, missing, stale, failed...).  Example:

    \b
        necroflow graph job.toml --rules | dot -Tsvg > rules.svg
    """
    from .graphviz import states_from_plan, to_dot, to_mermaid
    from .plan import required_jobs

    if fmt not in ("dot", "mermaid"):
        raise fail(f"--format must be 'dot' or 'mermaid', not {fmt!r}")
    directory = _outdir_or_none(outdir)
    jobset = _load(jobs, directory if directory is not None else Path("necroflow-graph-outdir"))
    with _guard():
        states = None
        if directory is not None:
            plan = jobset.dag.plan()
            selected = plan.required
            states = states_from_plan(plan)
        else:
            selected = required_jobs(jobset.dag)
        text = (to_dot(selected, states, collapse_rules=rules) if fmt == "dot"
                else to_mermaid(selected, states, collapse_rules=rules))
        if output:
            output.write_text(text)
        else:
            typer.echo(text, nl=False)


@app.command(epilog=EXIT_CODES)
def report(
    jobs: Annotated[list[Path] | None, typer.Argument(
        help="Job TOML file(s): show exactly their jobs, in their current states (default: every "
             "node folder in OUTDIR).", show_default=False, metavar="[JOB.toml]")] = None,
    outdir: OutdirOpt = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path("report.html"),
    title: Annotated[str | None, typer.Option("--title", help="Page title (default: the outdir's name).",
                                              show_default=False)] = None,
) -> None:
    """Write a self-contained HTML report of what ran in OUTDIR.

    One file, no network needed to view it: the job graph coloured by state, a timeline of
    when each job ran on which slot, and tables per job and per rule (wall time, CPU, peak
    memory, links to each job's log).  Reads only what runs recorded; runs nothing.

    \b
        necroflow report --outdir results -o report.html
    """
    from .report import write_report

    directory = _outdir(outdir)
    dag = _load(jobs, directory).dag if jobs else None
    with _guard():
        try:
            path = write_report(directory, output, dag=dag, title=title)
        except FileNotFoundError as e:
            raise fail(str(e)) from None
    typer.echo(f"wrote {path}")


@app.command(epilog=EXIT_CODES)
def clean(
    jobs: Annotated[list[Path] | None, typer.Argument(
        help="Job TOML file(s) whose jobs are kept (needed with --orphans).", show_default=False,
        metavar="[JOB.toml]")] = None,
    outdir: OutdirOpt = None,
    orphans: Annotated[bool, typer.Option(
        "--orphans", help="Remove node folders that no job of the given JOB.toml files needs.")] = False,
    older_than: Annotated[str | None, typer.Option(
        "--older-than", metavar="AGE",
        help="Remove node folders last run longer ago than AGE (90s, 15m, 12h, 30d, 2w). "
             "With --orphans, a folder must be both.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", "-n", help="List what would be removed and the space it holds; delete nothing.")] = False,
) -> None:
    """Delete node folders that are no longer needed, to reclaim disk space.

    Every change of a param, command or upstream job gives a new OUTDIR/RULE/HASH folder
    and leaves the old one behind.  --orphans removes the folders no job of the given job
    files needs (so list every job file that shares OUTDIR!), --older-than removes folders
    by age; run with --dry-run first to see the list.  Only OUTDIR/RULE/HASH folders are
    removed, never through a symlink, and the outdir lock is held while deleting.

    \b
        necroflow clean --outdir results --orphans --dry-run exp1.toml exp2.toml
    """
    from .clean import UnsafePath, find_garbage, parse_age, remove, render_garbage
    from .plan import required_jobs
    from .store import OutdirLocked

    directory = _outdir(outdir)
    if not orphans and older_than is None:
        raise fail("say what to remove: --orphans (with the job files to keep) and/or --older-than AGE")
    if orphans and not jobs:
        raise fail("--orphans needs the job file(s) whose outputs to keep: "
                   "necroflow clean --outdir DIR --orphans JOB.toml ...")
    if jobs and not orphans:
        raise fail("job files are only used with --orphans; add --orphans, or drop the job files")
    age = None
    if older_than is not None:
        try:
            age = parse_age(older_than)
        except ValueError as e:
            raise fail(f"--older-than: {e}") from None
    keep = None
    if orphans:
        jobset = _load(jobs or [], directory)
        keep = {j.key for j in required_jobs(jobset.dag)}
    with _guard():
        garbage = find_garbage(directory, keep=keep, older_than=age)
        if dry_run or not garbage:
            typer.echo(render_garbage(garbage, dry_run=True))
            return
        try:
            remove(garbage)
        except OutdirLocked as e:
            raise fail(str(e), EXIT_LOCKED) from None
        except UnsafePath as e:
            raise fail(str(e), EXIT_FAILED) from None
        typer.echo(render_garbage(garbage, dry_run=False))


_COMMANDS = {"run", "validate", "schema", "status", "graph", "report", "clean"}


def main(argv: list[str] | None = None) -> None:
    """Entry point.  ``necroflow --outdir results job.toml`` (no command) means ``run``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        from . import __version__

        typer.echo(f"necroflow {__version__}")
        return
    if args and args[0] not in _COMMANDS and args[0] not in ("-h", "--help"):
        args.insert(0, "run")
    if _in_main_thread():
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `necroflow schema | head` ends quietly
    app(args=args, prog_name="necroflow")


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    main()
