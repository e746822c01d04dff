"""Submitting to SLURM: one thread takes the jobs the run loop hands over, batches those that
arrive together (arrays, groups: see :mod:`necroflow.backends.slurm_batch`), writes their job
scripts and calls ``sbatch`` at a limited rate.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from necroflow.backends.base import Task, TaskResult
from necroflow.backends.shell import fresh_log
from necroflow.backends.slurm_batch import (
    ARRAY_TASKS,
    GROUP_TASKS,
    Batch,
    array_script,
    batches,
    group_lines,
    group_options,
    group_script,
)
from necroflow.backends.slurm_commands import SlurmError, note_in_log, sbatch
from necroflow.backends.slurm_script import (
    EXIT_RECORD,
    JOB_SCRIPT,
    SCHEDULER_OUTPUT,
    job_script,
    sbatch_options,
)

if TYPE_CHECKING:
    from necroflow.backends.slurm import SlurmBackend

log = logging.getLogger("necroflow.backends.slurm")

#: (task, id its exit record names, id squeue shows, SLURM's output file) of a submitted job.
Submitted = tuple[Task, str, str, Path]
BATCH_WAIT = 0.05  # after the first job, how long to wait for others handed over at the same time


class Submitter:
    def __init__(self, backend: SlurmBackend, track: Callable[[list[Submitted]], None],
                 events: Callable[[TaskResult], None]) -> None:
        self.b = backend  # the SlurmBackend: its settings (sbatch path, options, rate)
        self.track = track
        self.report = events
        self.outbox: queue.Queue[Task | None] = queue.Queue()
        self.halt = threading.Event()
        self.cancelling = False
        self.sbatch_calls = 0

    # -- the loop ----------------------------------------------------------------------
    def drain(self, message: str) -> None:
        while True:
            try:
                job = self.outbox.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                self.report(TaskResult(job.key, None, message=message))

    def _take(self) -> list[Task]:
        """The next jobs: one (waiting for it), then every other one already handed over."""
        first = self.outbox.get()
        if first is None:
            return []
        jobs = [first]
        batching = self.b.array_size > 1 or self.b.group_size > 1
        deadline = time.monotonic() + (BATCH_WAIT if batching else 0.0)
        while True:
            try:
                job = self.outbox.get(timeout=max(0.0, deadline - time.monotonic())) if batching \
                    else self.outbox.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                jobs.append(job)
        return jobs

    def loop(self) -> None:
        gap = 1.0 / self.b.submit_rate
        next_at = 0.0
        while not self.halt.is_set():
            jobs = self._take()
            if not jobs:
                continue
            planned = [(j, self._options(j)) for j in jobs]
            for batch in batches(planned, self.b.array_size, self.b.group_size):
                if self.cancelling:
                    for j in batch.tasks:
                        self.report(TaskResult(j.key, None, message="cancelled before it was submitted to SLURM"))
                    continue
                delay = next_at - time.monotonic()
                if delay > 0 and self.halt.wait(delay):
                    for j in batch.tasks:
                        self.report(TaskResult(j.key, None, message="backend stopped before submission"))
                    continue
                next_at = time.monotonic() + gap
                self._submit(batch)

    def _submit(self, batch: Batch) -> None:
        try:
            submit = {"single": self._single, "array": self._array, "group": self._group}[batch.kind]
            self.track(submit(batch))
        except Exception as exc:  # one bad batch must not stop the others
            log.debug("submission of %d job(s) failed", len(batch.tasks), exc_info=True)
            for job in batch.tasks:
                message = f"SLURM submission failed: {exc}"
                note_in_log(job, message)
                self.report(TaskResult(job.key, None, message=message))

    # -- one submission ----------------------------------------------------------------
    def _options(self, job: Task) -> list[str]:
        b = self.b
        return sbatch_options(job.constraints, partition=b.partition, account=b.account,
                              extra_args=b.extra_args)

    def _script(self, job: Task, options: list[str]) -> Path:
        """Write a job's own script into its record folder (an old exit record is removed)."""
        rip = Path(job.rip)
        rip.mkdir(parents=True, exist_ok=True)
        (rip / EXIT_RECORD).unlink(missing_ok=True)  # a record from an earlier run must not count
        fresh_log(str(job.log_path))  # the log holds this attempt only, as on the local backend
        script = rip / JOB_SCRIPT
        tmp = rip / f".{JOB_SCRIPT}.tmp"
        tmp.write_text(job_script(job, options, self.b.python))
        tmp.chmod(0o755)
        os.replace(tmp, script)
        return script

    def _sbatch(self, argv: list[str], job: Task) -> str:
        self.sbatch_calls += 1
        out = sbatch([self.b.sbatch, "--parsable", *argv], job, self.halt)
        job_id = out.strip().split(";")[0]  # --parsable prints "id" or "id;cluster"
        if not job_id.isdigit():
            raise SlurmError(f"sbatch printed {out.strip()!r}, expected a job id")
        return job_id

    def _single(self, batch: Batch) -> list[Submitted]:
        job = batch.tasks[0]
        rip = Path(job.rip)
        output = str(rip).replace("%", "%%") + "/" + SCHEDULER_OUTPUT  # sbatch expands % patterns
        options = [f"--job-name=nf-{job.key.replace('/', '-')}", f"--chdir={job.workdir}", f"--output={output}",
                   *batch.options]
        job_id = self._sbatch([*options, str(self._script(job, options))], job)
        return [(job, job_id, job_id, rip / SCHEDULER_OUTPUT.replace("%j", job_id))]

    def _array(self, batch: Batch) -> list[Submitted]:
        first = batch.tasks[0]
        home = Path(first.rip)  # the array's own files live with its first job's records
        name = f"slurm-array-{uuid.uuid4().hex[:8]}"
        options = [f"--job-name=nf-{first.rule}-array", f"--chdir={first.workdir}",
                   f"--output={str(home).replace('%', '%%')}/{name}-%A_%a.out", *batch.options]
        scripts = [self._script(t, options) for t in batch.tasks]
        task_file = home / f"{name}.{ARRAY_TASKS}"
        task_file.write_text("".join(f"{s}\n" for s in scripts))
        runner = home / f"{name}.sh"
        runner.write_text(array_script(task_file))
        throttle = self.b.array_throttle
        spec = f"0-{len(scripts) - 1}" + (f"%{throttle}" if throttle else "")
        array_id = self._sbatch([f"--array={spec}", *options, str(runner)], first)
        return [(t, f"{array_id}_{i}", f"{array_id}_{i}", Path(t.rip) / f"slurm-{array_id}_{i}.out")
                for i, t in enumerate(batch.tasks)]

    def _group(self, batch: Batch) -> list[Submitted]:
        first = batch.tasks[0]
        home = Path(first.rip)
        name = f"slurm-group-{uuid.uuid4().hex[:8]}"
        options = [f"--job-name=nf-{batch.group}-group", f"--chdir={first.workdir}",
                   f"--output={str(home).replace('%', '%%')}/{name}-%j.out",
                   *group_options(batch, self.b.group_cpus)]
        scripts = [self._script(t, options) for t in batch.tasks]
        task_file = home / f"{name}.{GROUP_TASKS}"
        runner = home / f"{name}.sh"
        runner.write_text(group_script(task_file, self.b.python))
        tag = name.rsplit("-", 1)[1]  # the members' record ids: unique before SLURM gives one
        task_file.write_text(group_lines(batch.tasks, scripts, f"g{tag}"))
        group_id = self._sbatch([*options, str(runner)], first)
        return [(t, f"g{tag}+{i}", group_id, Path(t.rip) / f"slurm-g{tag}+{i}.out")
                for i, t in enumerate(batch.tasks)]
