"""The ``necroflow`` command: a thin Typer layer that parses, calls the Python API, prints and
maps exit codes.

Every command turns bad input into one readable line per problem and exit code 2, never
a traceback; the work itself is done by functions the Python API has too (``run_jobs``,
``load_jobs``, ``status_report``, ``write_report``, ``find_garbage``).  Exit codes: 0 ok, 1 a job failed, 2 invalid input,
3 outdir locked, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import signal
import sys

import typer

# The commands register themselves on ``app`` when their modules are imported.
from . import inspect as _inspect  # noqa: E402,F401,I001
from . import run as _run  # noqa: E402,F401
from .common import app

__all__ = ["app", "main"]


_COMMANDS = {"run", "validate", "schema", "status", "graph", "report", "clean"}


def main(argv: list[str] | None = None) -> None:
    """Entry point.  ``necroflow --outdir results job.toml`` (no command) means ``run``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        from .. import __version__

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
