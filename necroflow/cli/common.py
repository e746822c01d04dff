"""What every command shares: the Typer app, exit codes, error display, loading job files."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from .completion import complete_job_files

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
    "Run 'necroflow COMMAND --help' for each command.  Tab completion (commands, options, "
    "job files) for bash, zsh and fish: 'necroflow --install-completion SHELL', or print the "
    "script with 'necroflow --show-completion SHELL' (without SHELL: the shell running now).",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    pretty_exceptions_enable=False,
)

JobFiles = Annotated[
    list[Path],
    typer.Argument(help="Job TOML file(s); several share one DAG, so common work runs once.",
                   show_default=False, metavar="JOB.toml", autocompletion=complete_job_files),
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
    from ..schemas import ConfigError

    try:
        yield
    except ConfigError as e:
        raise fail(str(e)) from None
    except KeyboardInterrupt:
        typer.echo("necroflow: interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except OSError as e:  # unreadable factory, unwritable outdir, a file where a folder should be
        from ..store import UnsafeOutdir

        where = f": {e.filename}" if e.filename else ""
        code = EXIT_INVALID if isinstance(e, UnsafeOutdir) else os_error_code  # the user's to fix
        raise fail(f"{e.strerror or e}{where}", code) from None


def _settings(**flags: Any) -> Any:
    from ..schemas import load_settings

    with _guard():
        return load_settings(**flags)


def _load(jobs: list[Path], outdir: Path, missing_files_ok: bool = False, container: str | None = None,
          container_runtime: str | None = None) -> Any:
    """Load job files; the container settings (flags, else NECROFLOW_CONTAINER and
    NECROFLOW_CONTAINER_RUNTIME) matter to every command, since images enter the hashes."""
    from ..jobs import load_jobs

    container = container or os.environ.get("NECROFLOW_CONTAINER", "").strip() or None
    container_runtime = container_runtime or os.environ.get("NECROFLOW_CONTAINER_RUNTIME", "").strip() or None
    with _guard():
        return load_jobs(jobs, outdir, missing_files_ok=missing_files_ok, container=container,
                         container_runtime=container_runtime)


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
