"""``necroflow status``, ``graph``, ``report``, ``clean`` and ``schema``: commands that look, not run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import (
    EXIT_CODES,
    EXIT_FAILED,
    EXIT_LOCKED,
    JobFiles,
    OutdirOpt,
    _guard,
    _load,
    _outdir,
    _outdir_or_none,
    app,
    fail,
)
from .completion import complete_job_files


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
    from .. import schemas

    with _guard():
        if kind == "manifest":
            doc = schemas.manifest_schema()
        elif kind != "job":
            raise fail(f"--kind must be 'job' or 'manifest', not {kind!r}")
        elif pipeline:
            from ..jobs import load_factory

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
    from ..graphviz import states_from_plan, to_dot, to_mermaid
    from ..plan import required_jobs

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
             "node folder in OUTDIR).", show_default=False, metavar="[JOB.toml]",
        autocompletion=complete_job_files)] = None,
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
    from ..report import write_report

    directory = _outdir(outdir)
    jobset = _load(jobs, directory) if jobs else None  # the job files' own combos label the jobs
    with _guard():
        try:
            path = write_report(directory, output, jobset=jobset, title=title)
        except FileNotFoundError as e:
            raise fail(str(e)) from None
    typer.echo(f"wrote {path}")


@app.command(epilog=EXIT_CODES)
def clean(
    jobs: Annotated[list[Path] | None, typer.Argument(
        help="Job TOML file(s) whose jobs are kept (needed with --orphans).", show_default=False,
        metavar="[JOB.toml]", autocompletion=complete_job_files)] = None,
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
    from ..clean import UnsafePath, find_garbage, parse_age, remove, render_garbage
    from ..plan import required_jobs
    from ..store import OutdirLocked

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




def _print_status(jobset: Any, plan: Any, as_json: bool, limit: int | None) -> None:
    """``necroflow status``: reasons from :mod:`necroflow.why` plus the state of each combo."""
    from ..links import combo_rows
    from ..why import render_status, status_report

    report = status_report(jobset.dag, plan)
    combos = combo_rows(jobset, plan)
    if as_json:
        report["combos"] = combos
        typer.echo(json.dumps(report, indent=1))
        return
    done = sum(c["complete"] for c in combos)
    typer.echo(render_status(report, limit))
    typer.echo(f"Combos: {done} of {len(combos)} complete (all requested outputs up to date).")


