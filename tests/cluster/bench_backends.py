"""Wall time of N trivial jobs through one backend, driven directly through the interface.

    python tests/cluster/bench_backends.py slurm [N] [--poll 1.0] [--rate 10]
    python tests/cluster/bench_backends.py dask [N] [--processes]
    python tests/cluster/bench_backends.py local [N]

Each job is ``echo i > out.txt`` in its own node folder under a temporary directory.  The
clock starts before the first submit and stops when the last result arrives; backend
startup (LocalCluster) is timed separately.  Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import argparse
import queue
import tempfile
import time
from pathlib import Path

from necroflow.backends.base import Backend, Task, TaskResult


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("backend", choices=["slurm", "dask", "local"])
    ap.add_argument("n", type=int, nargs="?", default=200)
    ap.add_argument("--poll", type=float, default=1.0, help="SLURM poll interval (s)")
    ap.add_argument("--rate", type=float, default=10.0, help="SLURM submissions per second")
    ap.add_argument("--processes", action="store_true", help="Dask worker processes instead of threads")
    args = ap.parse_args()

    t_setup = time.perf_counter()
    backend: Backend
    if args.backend == "slurm":
        from necroflow.backends.slurm import SlurmBackend

        backend = SlurmBackend(poll_interval=args.poll, submit_rate=args.rate)
    elif args.backend == "dask":
        from necroflow.backends.dask import DaskBackend

        backend = DaskBackend(processes=args.processes)
    else:
        from necroflow.backends.local import LocalBackend

        backend = LocalBackend()
    setup = time.perf_counter() - t_setup

    with tempfile.TemporaryDirectory(prefix="necroflow-bench-") as tmp:
        jobs = []
        for i in range(args.n):
            workdir = Path(tmp) / "trivial" / f"{i:016x}"
            (workdir / ".rip").mkdir(parents=True)
            jobs.append(
                Task(f"trivial/{i:016x}", "trivial", f"echo {i} > out.txt", workdir, workdir / ".rip",
                        workdir / ".rip" / "job.log", {"threads": 1})
            )
        events: queue.Queue[TaskResult] = queue.Queue()
        backend.start(events)
        t0 = time.perf_counter()
        for job in jobs:
            backend.submit(job)
        failed = 0
        for _ in jobs:
            failed += not events.get(timeout=3600).ok
        wall = time.perf_counter() - t0
        backend.stop()
    print(f"{args.backend}: {args.n} trivial jobs in {wall:.2f} s ({wall / args.n * 1000:.1f} ms/job), "
          f"{failed} failed; backend setup {setup:.2f} s")


if __name__ == "__main__":
    main()
