"""Benchmark necroflow against Snakemake, shell "floors" and its own backends (issue 15).

One command builds the workloads under ``bench/work/``, runs every scenario as a whole
fresh process several times, and prints medians with min-max wall time and peak memory,
plus the ratios the project's targets are stated in.  A markdown report with the machine
it came from is written to ``bench/results.md``.  The code is in ``bench/nfbench/``.

    python bench/run.py --setup-snakemake       # once: Snakemake in bench/.venv-snakemake
    python bench/run.py                         # plan, run, noop, big, dask (~15 min on 2 cores)
    python bench/run.py --scenarios plan,noop --reps 5
    python bench/run.py --quick                 # smoke test of the default scenarios, no Snakemake
    python bench/run.py --scenarios scale       # opt-in: plan up to 1M jobs, no-op rerun at 1M
    python bench/run.py --scenarios slurm       # opt-in: the one-node SLURM test cluster

Why whole processes: what a user waits for includes interpreter start-up and imports, so
each measurement is ``fork+exec`` to exit.  Peak memory is GNU time's ``%M`` of that
process when GNU time is installed, else ``ru_maxrss`` from ``os.wait4``: the largest
resident set of any single process in its tree (the engine's own process, in practice),
not the sum over the tree.  Repetitions of the tools are interleaved, so a burst of load
from elsewhere slows them alike.

Why a floor: a ratio against Snakemake shows progress, a ratio against the cheapest honest
way to do the same work (``xargs -P2 sh -c`` over the same commands; ``openssl dgst`` over
the same 1 GiB; one bare ``sbatch --array=1-N`` on SLURM) shows how much overhead
is left.

The scenarios (``nfbench/scenarios_core.py`` and the ``scenario_*.py`` next to it):

* *plan*, *run*, *noop*, *big*: the chain workload (``necroflow_chain.py`` and
  ``Snakefile``: one shared reference job, then raw -> align -> count per sample, 3N+1 jobs)
  and the big-file workload, against Snakemake and the floors.  necroflow runs with its
  defaults: *run* includes its durable records (one ``syncfs`` per batch of finished jobs).
* *dask*: N trivial jobs (``necroflow_backends.py``) on ``backend="dask"`` (a LocalCluster,
  as ``necroflow run --backend dask`` builds it) against the local backend; one-job runs of
  each give the cluster's fixed cost, which is taken out of the per-job overhead.  At
  N=10,000 one repetition takes about 2 minutes (Dask ~80 s, local ~25 s), 3 about 6-7
  (the dask cases get a budget of at least 300 s so that 3 repetitions fit).
* *scale* (opt-in): the chain's plan from N=1,000 to 333,333 (1,000,000 jobs): wall, µs and
  bytes per job, marginal cost per added job; then a no-op rerun at ``--scale-noop-size``
  (default: the largest N) after one untimed full run.  The plans take 2-4 minutes with one
  repetition; the full run costs 2-9 ms per job (quiet or busy machine), so at 1M jobs
  0.5-2.5 hours, and about 10 inodes and 40 KiB of disk per job (checked before it starts;
  ``--keep-scale`` keeps the outdir and starts from it next time).
* *slurm* (opt-in): trivial jobs on the one-node test cluster (``scripts/slurm-up.sh``; a
  cluster that is already up is used as found), per-job, arrays, grouped and the
  bare-array floor, with ``sbatch`` calls and submission time, and a check that grouped
  outputs are byte-identical to the local backend's.  On the tests' 8-CPU configuration
  each mode took 21-27 s at N=200 (the whole scenario 2 minutes) and 43-111 s at N=1,000
  (6.5 minutes); on 2 CPUs (slurm-up.sh's default) SLURM starts about one job per 1.4 s,
  so each non-grouped mode takes about 5 minutes at N=200 and 25 at N=1,000.

Snakemake is never a dependency of necroflow: it lives in its own virtualenv, created on
request, and is used only when that venv (or ``--snakemake-bin``) exists.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nfbench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
