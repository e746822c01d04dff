"""The workloads' files: the floor's shell commands, what correct outputs look like, mtimes."""

from __future__ import annotations

import json
import os
import shlex
import shutil
from collections.abc import Iterable
from pathlib import Path

from .config import GIB, MIB, THREADS
from .measure import SetupError


def sample_names(n: int) -> list[str]:
    """The same names as bench/Snakefile and bench/necroflow_chain.py."""
    return [f"s{i:06d}" for i in range(n)]


def expected_count(sample: str) -> str:
    """What counts.txt holds: bytes of "SAMPLE\\n" plus "reference hg38\\n"."""
    return str(len(sample) + 1 + len("reference hg38\n"))


def chain_waves(base: Path, n: int) -> list[list[str]]:
    """The 3N+1 chain commands in Snakemake's layout under base, as dependency waves.

    Each wave only reads what earlier waves wrote, so running the waves one after another
    with any parallelism inside a wave is a correct (and near-minimal) schedule.
    """
    ref = base / "ref.idx"
    q = shlex.quote
    waves: list[list[str]] = [[f"printf 'reference %s\\n' hg38 > {q(str(ref))}"], [], [], []]
    for s in sample_names(n):
        raw, aligned, counts = (base / d / f"{s}.txt" for d in ("raw", "aligned", "counts"))
        waves[1].append(f"printf '%s\\n' {q(s)} > {q(str(raw))}")
        waves[2].append(f"cat {q(str(raw))} {q(str(ref))} > {q(str(aligned))}")
        waves[3].append(f"wc -c < {q(str(aligned))} > {q(str(counts))}")
    return waves


def write_floor_script(base: Path, n: int) -> list[str]:
    """Write the wave files and return argv running them through ``xargs -P2 sh -c``."""
    base.mkdir(parents=True, exist_ok=True)
    for d in ("raw", "aligned", "counts"):
        (base / d).mkdir(exist_ok=True)
    steps = []
    for i, wave in enumerate(chain_waves(base, n)):
        path = base / f"wave{i}.txt"
        path.write_text("\n".join(wave) + "\n")
        steps.append(f"xargs -P{THREADS} -d '\\n' -n1 sh -c < {shlex.quote(str(path))}")
    return ["sh", "-c", " && ".join(steps)]


def check_counts(files: list[Path], n: int) -> str | None:
    """The run produced exactly N counts files with the right content."""
    if len(files) != n:
        return f"expected {n} counts.txt files, found {len(files)}"
    wanted = {expected_count(s) for s in sample_names(min(n, 1))}
    for f in files:
        got = f.read_text().strip()
        if got not in wanted:
            return f"{f} holds {got!r}, expected {sorted(wanted)}"
    return None


def check_trivial(outdir: Path, n: int) -> str | None:
    """bench/necroflow_backends.py's trivial workload wrote N out.txt files, each its number."""
    files = list(outdir.glob("trivial/*/out.txt"))
    if len(files) != n:
        return f"expected {n} out.txt files, found {len(files)}"
    got = sorted(int(f.read_text()) for f in files)
    if got != list(range(n)):
        return "the out.txt files do not hold the numbers 0..N-1"
    return None


def mtimes(paths: Iterable[Path]) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in paths}


def necroflow_outputs(outdir: Path) -> list[Path]:
    """Every file necroflow produced under outdir/{rule}/{hash16}/, bookkeeping excluded."""
    return [p for p in outdir.glob("*/*/*") if p.is_file() and ".rip" not in p.parts]


def snakemake_outputs(workdir: Path) -> list[Path]:
    files = [workdir / "ref.idx", workdir / "big.bin", workdir / "size.txt"]
    for d in ("raw", "aligned", "counts"):
        files.extend((workdir / d).glob("*.txt"))
    return [p for p in files if p.exists()]


def fresh_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def size_label(nbytes: int) -> str:
    """1073741824 -> "1 GiB"."""
    return next(
        f"{nbytes / unit:g} {name}"
        for unit, name in ((GIB, "GiB"), (MIB, "MiB"), (1024, "KiB"), (1, "bytes"))
        if nbytes >= unit or unit == 1
    )


#: What one chain job leaves in its node folder (output, .rip/ and six records), measured
#: on ext4 with 4 KiB blocks: 9 inodes and about 34 KiB.
INODES_PER_JOB = 10
BYTES_PER_JOB = 40 * 1024


def need_room(where: Path, jobs: int, what: str) -> None:
    """Raise SetupError when the file system cannot hold a full run of `jobs` chain jobs."""
    st = os.statvfs(where)
    free_inodes, free_bytes = st.f_favail, st.f_bavail * st.f_frsize
    inodes, nbytes = INODES_PER_JOB * jobs, BYTES_PER_JOB * jobs
    if free_inodes < inodes or free_bytes < nbytes:
        raise SetupError(
            f"{what} needs about {inodes:,} inodes and {nbytes / GIB:.1f} GiB under {where}; "
            f"free: {free_inodes:,} inodes, {free_bytes / GIB:.1f} GiB"
        )


class DirSeries:
    """Never-used directories base/TOOL-1, base/TOOL-2, ...: one per repetition.

    Nothing is deleted until the whole benchmark is over: on ext4 without a journal (this
    project's VM), creating files within ~30 s of deleting many others makes the inode
    allocator step over the recently deleted ones (find_inode_bit -> recently_deleted), which
    tripled necroflow's system time from one repetition to the next when each one started
    with `rm -rf outdir`.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self.count: dict[str, int] = {}
        self.current: dict[str, Path] = {}

    def next(self, tool: str) -> Path:
        self.count[tool] = self.count.get(tool, 0) + 1
        self.current[tool] = self.base / f"{tool}-{self.count[tool]}"
        return self.current[tool]


def read_json(path: Path) -> dict[str, object]:
    """A workload's --stats file; {} when it wrote none."""
    loaded: dict[str, object] = json.loads(path.read_text()) if path.exists() else {}
    return loaded


def same_outputs(a: Path, b: Path) -> tuple[bool, str]:
    """Whether two necroflow outdirs hold the same output files, byte for byte."""
    fa = {p.relative_to(a): p for p in necroflow_outputs(a)}
    fb = {p.relative_to(b): p for p in necroflow_outputs(b)}
    if fa.keys() != fb.keys():
        return False, f"{len(fa.keys() ^ fb.keys())} output file(s) on one side only"
    diff = sorted(k for k in fa if fa[k].read_bytes() != fb[k].read_bytes())
    if diff:
        return False, f"{len(diff)} of {len(fa)} output files differ, e.g. {diff[0]}"
    return True, f"all {len(fa)} output files byte-identical"
