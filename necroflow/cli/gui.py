"""``necroflow gui``: serve the local browser GUI for the given job files."""

from __future__ import annotations

import ipaddress
import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from .common import EXIT_CODES, JobFiles, OutdirOpt, _guard, _load, _settings, app, fail


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command(epilog=EXIT_CODES)
def gui(
    jobs: JobFiles,
    outdir: OutdirOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback unless given).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port; 0 picks a free one.")] = 8765,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in a browser.")] = False,
) -> None:
    """Watch pipelines run live in a browser, and launch them: the DAG of the job files,
    every job's state, reason, command, metrics, outputs and log, updating as runs go
    (from here or from a `necroflow run` in a terminal on the same outdir).

    It prints one line with the URL (it carries a random token: keep it to yourself) and
    serves until Ctrl-C.

    \\b
        necroflow gui --outdir results examples/necroalchemy_grid.toml
    """
    from ..gui import build, serve

    settings = _settings(outdir=outdir)
    if settings.outdir is None:
        raise fail("no output directory: pass --outdir DIR (or set NECROFLOW_OUTDIR)")
    jobset = _load(jobs, settings.outdir)
    if not _loopback(host):
        typer.echo(f"necroflow: warning: serving on {host}, not loopback: anyone who can reach it and has "
                   "the token can run these job files' commands", err=True)

    def ready(url: str) -> None:
        typer.echo(f"necroflow gui: {url}")
        if open_browser:
            webbrowser.open(url)

    with _guard():
        try:
            serve(build(jobset, settings), host, port, ready)
        except OSError as e:
            raise fail(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
        except KeyboardInterrupt:
            pass


__all__ = ["Path", "gui"]
