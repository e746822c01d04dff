"""Calling SLURM's client commands, and the one check that the controller answers.

Every call goes through :func:`run_command`, which turns a command that is missing, cannot
be executed or hangs into a :class:`SlurmError` naming it.  :func:`check_controller` runs
before a run's first submission: with no reachable ``slurmctld`` every ``sbatch`` would
retry for about ten seconds per attempt and every job would fail on its own, so a dead
controller took most of a minute per job to show up, as a hint about the job's
constraints and an empty log.  One ``squeue`` tells it in seconds, with SLURM's own words.
"""

from __future__ import annotations

import os
import subprocess
import threading

from necroflow.backends.base import BackendUnavailable, Task
from necroflow.backends.slurm_script import JOB_SCRIPT, TRANSIENT

#: Seconds the controller check waits for ``squeue``.  A controller that is down makes
#: ``squeue`` give up by itself after about MessageTimeout (10 s by default); this bound
#: only matters when the connection hangs (a firewall that drops packets).
CHECK_TIMEOUT = 30.0


class SlurmError(RuntimeError):
    """A SLURM command failed in a way the user has to fix (bad option, no controller)."""


class SlurmUnavailable(SlurmError, BackendUnavailable):
    """SLURM cannot be used from here: no controller answers, or its commands are missing.

    Raised by :meth:`SlurmBackend.submit` on a run's first submission, before anything is
    submitted.  It is a :class:`ConnectionError` (an :class:`OSError`) as well as a
    :class:`SlurmError`.
    """


def run_command(argv: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run one SLURM command; its exit code is the caller's to judge."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise SlurmError(
            f"{argv[0]!r} not found: install the SLURM client tools (Debian: slurm-client) "
            "or pass its path to SlurmBackend"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise SlurmError(f"{argv[0]} did not answer within {timeout:g} s; is slurmctld up?") from exc
    except OSError as exc:  # not executable, a directory, ...
        raise SlurmError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc


def one_line(text: str) -> str:
    """A command's (possibly multi-line) message as one line."""
    return " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def check_controller(squeue: str, user: str, timeout: float = CHECK_TIMEOUT) -> None:
    """Ask ``squeue`` for ``user``'s job ids once; raise :class:`SlurmUnavailable` if it cannot answer."""
    argv = [squeue, "--noheader", f"--user={user}", "--format=%i"]
    shown = " ".join(argv)
    try:
        proc = run_command(argv, timeout)
    except SlurmError as exc:
        raise SlurmUnavailable(f"the SLURM backend cannot start: {exc}; nothing was submitted") from exc
    if proc.returncode != 0:
        said = one_line(proc.stderr or proc.stdout) or f"exit code {proc.returncode} and no message"
        raise SlurmUnavailable(
            f"the SLURM controller did not answer `{shown}`: {said}; nothing was submitted "
            "(is slurmctld up and reachable from this host?)"
        )


def sbatch(argv: list[str], job: Task, halt: threading.Event) -> str:
    """sbatch's output for ``job``; errors that may pass (controller busy or away) are retried 3 times."""
    delay, tries = 0.5, 0
    while True:
        tries += 1
        proc = run_command(argv)
        if proc.returncode == 0:
            return proc.stdout
        err = one_line(proc.stderr or proc.stdout) or f"exit code {proc.returncode}"
        if not any(t in err.lower() for t in TRANSIENT):
            raise SlurmError(
                f"sbatch rejected job {job.key} (rule {job.rule}): {err}; "
                f"check its constraints {dict(job.constraints)!r} and the backend's partition/account/"
                f"extra_args; the job script is {job.rip / JOB_SCRIPT}"
            )
        if tries == 4 or halt.wait(delay):
            break
        delay *= 2
    # not the job's fault: the controller stopped answering during the run
    raise SlurmError(f"sbatch could not reach the SLURM controller for job {job.key} ({tries} tries): "
                     f"{err}; is slurmctld up?")


def note_in_log(job: Task, message: str) -> None:
    """A job SLURM never ran gets the reason in its log, which would otherwise be empty."""
    try:
        fd = os.open(job.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError:
        return  # a planted symlink is never written through; a vanished folder has no log
    with os.fdopen(fd, "a") as f:
        f.write(f"necroflow: {message}\n")
