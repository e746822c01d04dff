"""What every scenario shares: the arguments, the environments, the runner, the tools' argv."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import BENCH, REPO, THREADS
from .measure import Case, CaseResult, Runner


@dataclass
class Row:
    """One line of the results: a scenario at one size, with each tool's (or mode's) cases.

    ``extra`` holds the figures a scenario derives from its cases (ms per job beyond the
    local backend, sbatch calls, ...), for its own table and the JSON.
    """

    scenario: str
    size: str
    jobs: int
    cases: dict[str, CaseResult]
    target: str = ""
    verdict: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Bench:
    """The state scenarios build their cases from; collects directories to delete at the end."""

    def __init__(self, args: argparse.Namespace, snakemake: Path | None) -> None:
        self.args = args
        self.work: Path = args.workdir
        self.snakemake = snakemake
        self.runner = Runner(args.reps, args.budget, args.timeout)
        self.py_env = dict(os.environ)
        self.py_env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
        )
        self.env = dict(os.environ)
        # A user's interpreter caches bytecode; a sandbox that sets PYTHONDONTWRITEBYTECODE
        # would make every run recompile necroflow (and Snakemake) from source.
        for env in (self.py_env, self.env):
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.cleanup: list[Path] = []  # deleted after all measurements (see DirSeries)

    def go(
        self, label: str, cases: list[Case], skipped: dict[str, str] | None = None
    ) -> dict[str, CaseResult]:
        """Run the cases --tools selects; the others become "skipped" cells with a reason."""
        out = {tool: CaseResult(tool=tool, skipped=why) for tool, why in (skipped or {}).items()}
        chosen = []
        for case in cases:
            if case.tool in self.args.tool_list:
                chosen.append(case)
            else:
                out[case.tool] = CaseResult(tool=case.tool, skipped="not in --tools")
        out.update(self.runner.run(label, chosen))
        return out

    def necroflow_chain(self, n: int, outdir: Path, dry_run: bool) -> list[str]:
        argv = [sys.executable, str(BENCH / "necroflow_chain.py"), "--samples", str(n)]
        argv += ["--outdir", str(outdir), "--threads", str(THREADS)]
        return argv + (["--dry-run"] if dry_run else [])

    def necroflow_backend(
        self, n: int, outdir: Path, backend: str, *extra: str, workload: str = "trivial"
    ) -> list[str]:
        """bench/necroflow_backends.py: N trivial jobs (or chain samples) on one backend."""
        argv = [sys.executable, str(BENCH / "necroflow_backends.py"), "--jobs", str(n)]
        argv += ["--outdir", str(outdir), "--backend", backend, "--workload", workload]
        return argv + ["--threads", str(THREADS), *extra]

    def snakemake_argv(self, snakefile: str, config: str, *extra: str) -> list[str]:
        assert self.snakemake is not None
        return [
            str(self.snakemake),
            "--cores",
            str(THREADS),
            "--snakefile",
            str(BENCH / snakefile),
            "--config",
            config,
            *extra,
        ]

    def snakemake_missing(self) -> dict[str, str]:
        """{"snakemake": reason} when there is no Snakemake to compare with, else {}."""
        if self.snakemake is not None:
            return {}
        if self.args.no_snakemake:
            return {"snakemake": "--quick" if self.args.quick else "--no-snakemake"}
        return {"snakemake": "no Snakemake (python bench/run.py --setup-snakemake)"}
