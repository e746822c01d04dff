"""The big scenario: touch a large output (content unchanged) and rerun; nothing may rerun."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .bench import Bench, Row
from .config import BENCH, GIB, MIB, REPO, THREADS
from .measure import Case, SetupError, checked, progress
from .workloads import fresh_dir, mtimes, necroflow_outputs, size_label, snakemake_outputs


@dataclass
class _Big:
    """The big scenario's places and the outputs' mtimes taken after each touch."""

    b: Bench
    nbytes: int
    base: Path
    snap: dict[str, dict[Path, int]] = field(default_factory=dict)

    @property
    def floor_file(self) -> Path:
        return self.base / "floor" / "big.bin"

    @property
    def out(self) -> Path:
        return self.base / "necroflow"

    @property
    def sm(self) -> Path:
        return self.base / "snakemake"

    def necro_argv(self) -> list[str]:
        return [sys.executable, str(BENCH / "necroflow_big.py"), "--bytes", str(self.nbytes),
                "--outdir", str(self.out), "--threads", str(THREADS)]

    def files(self, tool: str) -> list[Path]:
        return necroflow_outputs(self.out) if tool == "necroflow" else snakemake_outputs(self.sm)

    def big_file(self, tool: str) -> Path:
        found = (
            list(self.out.glob("make_big/*/big.bin")) if tool == "necroflow" else [self.sm / "big.bin"]
        )
        if len(found) != 1 or not found[0].exists():
            raise SetupError(f"{tool}: big.bin not found after the first run")
        return found[0]

    def touch_and_snapshot(self, tool: str) -> None:
        os.utime(self.big_file(tool))  # mtime = now, content unchanged
        self.snap[tool] = mtimes(self.files(tool))

    def reran(self, tool: str) -> Callable[[], bool]:
        return lambda: mtimes(self.files(tool)) != self.snap[tool]

    def floor_setup(self) -> None:
        fresh_dir(self.floor_file.parent)
        argv = ["sh", "-c", f"head -c {self.nbytes} /dev/zero > {shlex.quote(str(self.floor_file))}"]
        what = "writing the floor's big file"
        checked(argv, self.base, self.base / "floor-setup.log", self.b.env, what, self.b.args.timeout)

    def necro_setup(self) -> None:
        shutil.rmtree(self.out, ignore_errors=True)
        log = self.base / "necroflow-setup.log"
        what = "necroflow's first big run"
        checked(self.necro_argv(), REPO, log, self.b.py_env, what, self.b.args.timeout)
        self.big_file("necroflow")

    def sm_setup(self) -> None:
        fresh_dir(self.sm)
        argv = self.b.snakemake_argv("Snakefile_big", f"nbytes={self.nbytes}")
        log = self.base / "snakemake-setup.log"
        checked(argv, self.sm, log, self.b.env, "Snakemake's first big run", self.b.args.timeout)


def big(b: Bench, nbytes: int) -> Row:
    """Touch the big file (mtime now, same content) and rerun; floor = ``openssl dgst``."""
    size = size_label(nbytes)
    label = f"big {size}"
    progress(f"{label}: touch the big file, rerun (content unchanged: nothing should rerun)")
    need = 3 * nbytes + 64 * MIB
    free = shutil.disk_usage(b.work).free
    if free < need:
        raise SystemExit(
            f"big: needs {need / GIB:.1f} GiB free under {b.work}, has {free / GIB:.1f}; "
            "pass --big-bytes smaller or free space"
        )
    s = _Big(b, nbytes, b.work / "big")
    cases = [
        Case(tool="floor", argv=["openssl", "dgst", "-sha256", str(s.floor_file)], cwd=s.base,
             log=s.base / "floor.log", env=b.env, setup=s.floor_setup),
        Case(tool="necroflow", argv=s.necro_argv(), cwd=REPO, log=s.base / "necroflow.log",
             env=b.py_env, setup=s.necro_setup, prepare=lambda: s.touch_and_snapshot("necroflow"),
             rerun_check=s.reran("necroflow")),
    ]
    skipped = b.snakemake_missing()
    if not skipped:
        cases.append(
            Case(tool="snakemake", argv=b.snakemake_argv("Snakefile_big", f"nbytes={nbytes}"),
                 cwd=s.sm, log=s.base / "snakemake.log", env=b.env, setup=s.sm_setup,
                 prepare=lambda: s.touch_and_snapshot("snakemake"), rerun_check=s.reran("snakemake"))
        )
    results = b.go(label, cases, skipped)
    if not b.args.keep_big:
        for d in (s.floor_file.parent, s.out, s.sm):
            shutil.rmtree(d, ignore_errors=True)  # 3 GiB is too much to leave lying around
    return Row("big", size, 2, results)
