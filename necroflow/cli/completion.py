"""Shell completion (bash, zsh, fish): Typer's own machinery, plus job files completing to ``*.toml``.

Typer answers the shell's completion requests (``_NECROFLOW_COMPLETE=complete_bash`` and
friends, set by the script ``necroflow --show-completion`` prints) with the commands and
options of the app; job-file arguments complete through :func:`complete_job_files`.
"""

from __future__ import annotations

import os

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_NECROFLOW_COMPLETE"


def complete_job_files(incomplete: str) -> list[str]:
    """Job TOML files and folders (``dir/``) whose path starts with ``incomplete``.

    Hidden entries only when ``incomplete`` names a hidden prefix, as shells do; an
    unreadable folder completes to nothing (the shell then offers its own file names).
    """
    head = incomplete[: incomplete.rfind("/") + 1]  # up to and including the last '/'
    prefix = incomplete[len(head):]
    try:
        entries = sorted(os.scandir(os.path.expanduser(head or ".")), key=lambda e: e.name)
    except OSError:
        return []
    found = []
    for entry in entries:
        if not entry.name.startswith(prefix) or entry.name == "__pycache__" or (
                entry.name.startswith(".") and not prefix.startswith(".")):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        if is_dir:
            found.append(f"{head}{entry.name}/")
        elif entry.name.endswith(".toml"):
            found.append(f"{head}{entry.name}")
    return found


def completion_script(args: list[str]) -> tuple[str, str] | None:
    """``--show-completion SHELL`` / ``--install-completion SHELL`` with the shell named.

    Returns ``(action, shell)``; None when the shell is not named, so Typer's own options
    detect the running shell.  (Typer's flags take no value and would ignore the name.)
    """
    if len(args) == 2 and args[0] in ("--show-completion", "--install-completion") and args[1] in SHELLS:
        return args[0].removeprefix("--").removesuffix("-completion"), args[1]
    return None


def do_completion(action: str, shell: str) -> None:
    """Print the completion script for ``shell``, or install it where that shell reads it."""
    import typer
    from typer.completion import get_completion_script, install

    if action == "show":
        typer.echo(get_completion_script(prog_name="necroflow", complete_var=COMPLETE_VAR, shell=shell))
        return
    _, path = install(shell=shell, prog_name="necroflow", complete_var=COMPLETE_VAR)
    typer.echo(f"{shell} completion installed in {path}")
    typer.echo("Completion will take effect once you restart the terminal")
