"""Trivial jobs, or the chain workload, through a chosen backend, as a user would run them.

Run as a whole process by ``bench/run.py``'s *dask* and *slurm* scenarios.  The *trivial*
workload is N independent jobs ``echo I > out.txt`` (N pipelines of one job each); *chain*
is ``bench/necroflow_chain.py``'s DAG.  Caps follow ``necroflow run``: the local backend gets
``--threads`` slots, a cluster backend (dask, slurm) none, so it places jobs itself.

With ``--stats FILE`` a JSON object is written when the run ends: jobs run, the run's own
elapsed time and, for SLURM, the number of ``sbatch`` calls (``SlurmBackend.sbatch_calls``)
and the submission time: from the first job handed to the backend to the end of the last
``sbatch`` call, read from a log the ``sbatch`` wrapper this script installs writes (the
backend's documented ``sbatch=`` option; bash's ``$EPOCHREALTIME``, no extra process).

Usage: python bench/necroflow_backends.py --jobs N --outdir DIR [--workload trivial|chain]
       [--backend local|dask|slurm] [--slurm-array-size K] [--slurm-group-size G] [--slurm-group-cpus C]
       [--stats FILE] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import time
from pathlib import Path
from typing import Any

from necroflow import DAG, NodeType, Pipeline, Rules
from necroflow.backends import Backend, Task


class Out(NodeType):
    """A trivial job's one output."""

    filename = "out.txt"


r = Rules()


@r.command("echo {i} > {out}")
def trivial(i: str) -> Out[out]:  # noqa: F821
    """Write the job's number."""


SBATCH_WRAPPER = """#!/bin/bash
# Times each sbatch call for bench/necroflow_backends.py: start, end, exit code.
t0=$EPOCHREALTIME
{sbatch} "$@"
rc=$?
echo "$t0 $EPOCHREALTIME $rc" >> {log}
exit $rc
"""


def slurm_backend(args: argparse.Namespace, sbatch_log: Path) -> Backend:
    """A SlurmBackend that notes when the first job reached it, its sbatch calls timed."""
    from necroflow.backends.slurm import SlurmBackend

    class Timed(SlurmBackend):
        first_submit: float | None = None

        def submit(self, job: Task) -> None:
            if self.first_submit is None:
                self.first_submit = time.time()
            super().submit(job)

    real = shutil.which("sbatch") or "sbatch"
    wrapper = sbatch_log.with_suffix(".sh")
    wrapper.write_text(
        SBATCH_WRAPPER.format(sbatch=shlex.quote(real), log=shlex.quote(str(sbatch_log)))
    )
    wrapper.chmod(0o755)
    sbatch_log.unlink(missing_ok=True)
    return Timed(
        sbatch=str(wrapper),
        array_size=args.slurm_array_size,
        group_size=args.slurm_group_size,
        group_cpus=args.slurm_group_cpus or None,
    )


def build(args: argparse.Namespace) -> DAG:
    dag = DAG(args.outdir)
    if args.workload == "chain":
        from necroflow_chain import chain_pipeline, sample_names
        from necroflow_chain import r as chain_rules

        for sample in sample_names(args.jobs):
            dag.add(chain_pipeline(sample, chain_rules))
        return dag
    for i in range(args.jobs):
        P = Pipeline()
        P.out = r.trivial(i=str(i))
        dag.add(P)
    return dag


def slurm_stats(backend: Any, sbatch_log: Path) -> dict[str, Any]:
    calls = [line.split() for line in sbatch_log.read_text().splitlines()] if sbatch_log.exists() else []
    ends = [float(c[1]) for c in calls]
    first = backend.first_submit
    return {
        "sbatch_calls": backend.sbatch_calls,
        "sbatch_logged": len(calls),
        "sbatch_busy": sum(float(c[1]) - float(c[0]) for c in calls),
        "submit_span": (max(ends) - first) if ends and first is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, required=True, help="jobs (trivial) or samples (chain)")
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--workload", choices=["trivial", "chain"], default="trivial")
    parser.add_argument("--backend", choices=["local", "dask", "slurm"], default="local")
    parser.add_argument("--threads", type=int, default=2, help="the local backend's slots")
    parser.add_argument("--slurm-array-size", type=int, default=1000)
    parser.add_argument("--slurm-group-size", type=int, default=0)
    parser.add_argument("--slurm-group-cpus", type=int, default=0, help="0: the backend's default")
    parser.add_argument("--stats", type=Path, default=None)
    args = parser.parse_args()

    dag = build(args)
    backend: Backend | str = args.backend
    sbatch_log = (args.stats or Path(args.outdir + ".stats")).with_suffix(".sbatch.log")
    if args.backend == "slurm":
        backend = slurm_backend(args, sbatch_log)
    caps = {"threads": args.threads} if args.backend == "local" else None
    report = dag.execute(resource_caps=caps, backend=backend)
    if args.stats is not None:
        stats: dict[str, Any] = {"ran": len(report.ran), "elapsed": report.elapsed}
        if not isinstance(backend, str):
            stats.update(slurm_stats(backend, sbatch_log))
        args.stats.write_text(json.dumps(stats))


if __name__ == "__main__":
    main()
