"""Where things are and the constants every scenario shares."""

from __future__ import annotations

from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
REPO = BENCH.parent
DEFAULT_VENV = BENCH / ".venv-snakemake"
SNAKEMAKE_PIN = "9.27.1"  # the release the issues' reference figures were measured with
GIB = 1 << 30
MIB = 1 << 20
THREADS = 2  # the issues' figures are for 2 cores; every tool gets the same cap

#: Scenarios run when --scenarios is not given; the others are opt-in (they take long or
#: need a SLURM cluster).
DEFAULT_SCENARIOS = ("plan", "run", "noop", "big", "dask")
ALL_SCENARIOS = (*DEFAULT_SCENARIOS, "scale", "slurm")
SLURM_MODES = ("per-job", "array", "group", "floor")
