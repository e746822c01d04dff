"""Helpers shared by the fault tests: start ``necroflow run`` for real, freeze it, kill it, look.

Everything here drives the real CLI in child processes and reads the real filesystem;
nothing in the engine knows it is being tested.  Process inspection goes through
``/proc`` (Linux), which the fault tests need anyway for process groups.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
WORKLOAD = Path(__file__).resolve().parent / "workload"
JOB = "workload.toml"  # relative: necroflow resolves ".pipeline" from its working directory
N_JOBS = 14  # jobs in the workload
RUN_ARGS = ["run", "-q", "-c3"]


@dataclass
class Reference:
    """An undisturbed run of the workload: what every disturbed run must end up with."""

    outputs: dict[str, bytes]
    links: dict[str, str | bytes]
    seconds: float


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a child interpreter that imports this checkout of necroflow."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NECROFLOW_OUTDIR", None)
    env.update(extra)
    return env


def necroflow_argv(*args: str | os.PathLike[str]) -> list[str]:
    return [sys.executable, "-m", "necroflow.cli", *map(str, args)]


def start(args: list[str | os.PathLike[str]], *, cwd: Path, log: Path | None = None,
          out: Path, **env: str) -> subprocess.Popen[bytes]:
    """Start ``necroflow ARGS`` in its own session; stdout+stderr go to ``out`` (no pipe to fill)."""
    extra = dict(env)
    if log is not None:
        extra["NF_FAULT_LOG"] = str(log)
    with open(out, "wb") as fh:
        return subprocess.Popen(necroflow_argv(*args), cwd=cwd, stdin=subprocess.DEVNULL, stdout=fh,
                                stderr=subprocess.STDOUT, env=child_env(**extra), start_new_session=True)


def run(args: list[str | os.PathLike[str]], *, cwd: Path, log: Path | None = None, timeout: float = 60,
        **env: str) -> subprocess.CompletedProcess[str]:
    extra = dict(env)
    if log is not None:
        extra["NF_FAULT_LOG"] = str(log)
    return subprocess.run(necroflow_argv(*args), cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout, env=child_env(**extra))


# -- the per-job side-effect log ------------------------------------------------------------------

@dataclass
class JobLog:
    """``start DIR`` / ``end DIR`` lines appended by every workload command."""

    starts: Counter[str] = field(default_factory=Counter)
    ends: Counter[str] = field(default_factory=Counter)

    @classmethod
    def read(cls, path: Path) -> JobLog:
        log = cls()
        try:
            text = path.read_text()
        except FileNotFoundError:
            return log
        for line in text.splitlines():
            kind, _, where = line.partition(" ")
            key = "/".join(Path(where).parts[-2:])  # rule/hash16
            if kind == "start":
                log.starts[key] += 1
            elif kind == "end":
                log.ends[key] += 1
        return log

    @property
    def cut_short(self) -> set[str]:
        return {k for k in self.starts if self.ends[k] < self.starts[k]}


def count_ends(path: Path) -> int:
    """How many jobs have written their ``end`` line so far (cheap enough to poll)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return 0
    return sum(1 for line in data.split(b"\n") if line.startswith(b"end "))


# -- processes ------------------------------------------------------------------------------------

def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state letter, ppid, pgid) of a live process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    rest = data[data.rfind(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[2])


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def children_of(pid: int) -> list[int]:
    out = []
    for p in all_pids():
        st = proc_stat(p)
        if st is not None and st[1] == pid:
            out.append(p)
    return out


def live_in_group(pgid: int) -> list[int]:
    """Members of a process group that are not zombies (a zombie has stopped doing anything)."""
    out = []
    for p in all_pids():
        st = proc_stat(p)
        if st is not None and st[2] == pgid and st[0] not in ("Z", "X"):
            out.append(p)
    return out


def freeze(pid: int, timeout: float = 5.0) -> bool:
    """SIGSTOP ``pid`` and wait until the kernel reports it stopped; False if it already exited."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = proc_stat(pid)
        if st is None or st[0] in ("Z", "X"):
            return False
        if st[0] in ("T", "t"):
            return True
        time.sleep(0.0005)
    raise AssertionError(f"process {pid} did not stop within {timeout}s")


def wait_groups_gone(pgids: list[int], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(live_in_group(g) for g in pgids):
            return
        time.sleep(0.02)
    raise AssertionError(f"job process groups {pgids} still alive after {timeout}s")


def lock_is_free(outdir: Path) -> bool:
    """Try the same flock necroflow takes; True when nobody holds it."""
    path = outdir / ".rip" / "necroflow.lock"
    if not path.exists():
        return True
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


# -- the outdir -----------------------------------------------------------------------------------

def node_dirs(outdir: Path) -> list[Path]:
    """Every ``rule/hash16`` folder that has a ``.rip`` (combo link folders have none)."""
    out = []
    if not outdir.is_dir():
        return out
    for rd in sorted(outdir.iterdir()):
        if rd.name.startswith(".") or not rd.is_dir() or rd.is_symlink():
            continue
        for hd in sorted(rd.iterdir()):
            if hd.is_dir() and (hd / ".rip").is_dir():
                out.append(hd)
    return out


def read_state(node: Path) -> str | None:
    try:
        return (node / ".rip" / "state").read_text().strip()
    except FileNotFoundError:
        return None


def outputs(outdir: Path) -> dict[str, bytes]:
    """Every declared output's bytes, keyed ``rule/hash16/filename`` (records and links excluded)."""
    out: dict[str, bytes] = {}
    for node in node_dirs(outdir):
        for f in sorted(node.iterdir()):
            if f.name != ".rip" and f.is_file():
                out[f"{node.parent.name}/{node.name}/{f.name}"] = f.read_bytes()
    return out


def links(outdir: Path) -> dict[str, str | bytes]:
    """Combo folders: each symlink's target text and each manifest's bytes."""
    out: dict[str, str | bytes] = {}
    for folder in sorted(outdir.iterdir()):
        if folder.is_dir() and (folder / "manifest.toml").is_file():
            for dirpath, _dirs, files in os.walk(folder):
                for name in files:
                    p = Path(dirpath) / name
                    rel = str(p.relative_to(outdir))
                    out[rel] = os.readlink(p) if p.is_symlink() else p.read_bytes()
    return out


def plan_states(outdir: Path, job: Path = WORKLOAD / JOB, base: Path = WORKLOAD) -> dict[str, str]:
    """The engine's own verdict (``make_plan``, read-only): job key -> state."""
    from necroflow.jobs import load_jobs
    from necroflow.plan import make_plan

    jobset = load_jobs([job], outdir, base=base)
    plan = make_plan(jobset.dag)
    return {j.key: plan.entries[j.fingerprint].state.value for j in plan.required}


def metrics_start(node: Path) -> float | None:
    try:
        data: Any = json.loads((node / ".rip" / "metrics.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return float(data["start"]) if isinstance(data, dict) and "start" in data else None
