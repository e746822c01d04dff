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
from pathlib import Path

import typer

# The commands register themselves on ``app`` when their modules are imported.
from . import gui as _gui  # noqa: E402,F401,I001
from . import inspect as _inspect  # noqa: E402,F401
from . import run as _run  # noqa: E402,F401
from .common import EXIT_INVALID, app

__all__ = ["app", "main"]


_ROOT_OPTIONS = ("-h", "--help", "--show-completion", "--install-completion")


def commands() -> list[str]:
    """The names of the subcommands, as registered on the app."""
    return [c.name or c.callback.__name__ for c in app.registered_commands if c.callback is not None]


def main(argv: list[str] | None = None) -> None:
    """Entry point.  ``necroflow --outdir results job.toml`` (no command) means ``run``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        from .. import __version__

        typer.echo(f"necroflow {__version__}")
        return
    from .completion import completion_script, do_completion

    named_shell = completion_script(args)
    if named_shell is not None:
        do_completion(*named_shell)
        return
    args = _route(args)
    if _in_main_thread():
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `necroflow schema | head` ends quietly
    app(args=args, prog_name="necroflow")


def _route(args: list[str]) -> list[str]:
    """Put ``run`` before a first word that is an option or a job file; refuse a mistyped command.

    A word that is no command, no option, no existing file and does not end in ``.toml``
    is most likely a typo (``stauts``): exit 2 with the closest command, instead of
    reading it as a job file that is not there.
    """
    if not args:
        return args
    first, names = args[0], commands()
    if first in names or first in _ROOT_OPTIONS:
        return args
    if first.startswith("-") or first.endswith(".toml") or Path(first).exists():
        return ["run", *args]
    import difflib

    close = difflib.get_close_matches(first, names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"the commands are {', '.join(sorted(names))}."
    typer.echo(f"necroflow: error: no such command {first!r} (and no such job file); {hint} "
               "See 'necroflow --help'.", err=True)
    raise SystemExit(EXIT_INVALID)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    main()
