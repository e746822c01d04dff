"""The options of ``necroflow run``: each reads the run setting of the same name (see RunSettings)."""

from __future__ import annotations

from typing import Annotated

import typer

CoresOpt = Annotated[str | None, typer.Option(
        "--cores", "-c", metavar="N|all",
        help="Thread cap: a positive integer or 'all' CPUs (the default); -c8 and -call work too. "
             "(env NECROFLOW_CORES)")]

ConstraintOpt = Annotated[list[str] | None, typer.Option(
        "--constraint", metavar="KEY=VALUE",
        help="Extra resource cap, e.g. ram=64Gi (SI K M G T P or binary Ki Mi Gi Ti Pi suffixes); "
             "repeatable. (env NECROFLOW_CONSTRAINTS='ram=64Gi,gpu=2')")]

KeepGoingOpt = Annotated[bool | None, typer.Option(
        "--keep-going/--no-keep-going", "-k",
        help="Continue independent branches past failures; combos that succeeded still get "
             "links. (env NECROFLOW_KEEP_GOING)")]

AutocleanOpt = Annotated[bool | None, typer.Option(
        "--autoclean/--no-autoclean",
        help="Delete orphan outputs, and intermediates once their consumers are up to date. "
             "(env NECROFLOW_AUTOCLEAN)")]

DryRunOpt = Annotated[bool | None, typer.Option(
        "--dry-run/--no-dry-run", "-n",
        help="Print what would run and why, with counts; run nothing. (env NECROFLOW_DRY_RUN)")]

AsJsonOpt = Annotated[bool, typer.Option(
        "--json", help="Print the plan (with --dry-run) or the run's result as JSON on stdout.")]

BackendOpt = Annotated[str | None, typer.Option(
        "--backend", metavar="local|slurm|dask",
        help="Where jobs run (default local). (env NECROFLOW_BACKEND)")]

QuietOpt = Annotated[bool | None, typer.Option(
        "--quiet/--no-quiet", "-q", help="Only errors and the final summary. (env NECROFLOW_QUIET)")]

VerboseOpt = Annotated[bool | None, typer.Option(
        "--verbose/--no-verbose", "-v", help="Also print each job as it starts. (env NECROFLOW_VERBOSE)")]

SlurmPartitionOpt = Annotated[str | None, typer.Option(
        help="SLURM partition for sbatch. (env NECROFLOW_SLURM_PARTITION)")]

SlurmAccountOpt = Annotated[str | None, typer.Option(
        help="SLURM account for sbatch. (env NECROFLOW_SLURM_ACCOUNT)")]

SlurmPollIntervalOpt = Annotated[float | None, typer.Option(
        help="Seconds between SLURM state polls (default 1). (env NECROFLOW_SLURM_POLL_INTERVAL)")]

SlurmExtraArgsOpt = Annotated[str | None, typer.Option(
        help="Extra sbatch arguments for every job, e.g. '--qos=short'. (env NECROFLOW_SLURM_EXTRA_ARGS)")]

DaskSchedulerOpt = Annotated[str | None, typer.Option(
        help="Dask scheduler address (tcp://host:8786); none starts a local cluster. "
             "(env NECROFLOW_DASK_SCHEDULER)")]

RetriesOpt = Annotated[int | None, typer.Option(
        "--retries", min=0, metavar="N",
        help="Retry a failed job up to N times (a rule's own retries= wins). (env NECROFLOW_RETRIES)")]

TimeLimitOpt = Annotated[str | None, typer.Option(
        "--time-limit", metavar="TIME",
        help="Stop any job running longer than TIME (seconds, 2h, 90m, 1:30:00) and fail it. "
             "(env NECROFLOW_TIME_LIMIT)")]

ContainerOpt = Annotated[str | None, typer.Option(
        "--container", metavar="IMAGE",
        help="Run rules that name no container in IMAGE (a job file's .container wins). "
             "(env NECROFLOW_CONTAINER)")]

ContainerRuntimeOpt = Annotated[str | None, typer.Option(
        "--container-runtime", metavar="podman|docker|apptainer|singularity",
        help="The container runtime (or its path); default: the first found on PATH. "
             "(env NECROFLOW_CONTAINER_RUNTIME)")]

SlurmArraySizeOpt = Annotated[int | None, typer.Option(
        "--slurm-array-size", min=0, metavar="N",
        help="Submit ready jobs of a rule as SLURM job arrays of up to N (default 1000; 0: one sbatch per job). "
             "(env NECROFLOW_SLURM_ARRAY_SIZE)")]

SlurmArrayThrottleOpt = Annotated[int | None, typer.Option(
        "--slurm-array-throttle", min=0, metavar="N",
        help="Most tasks of one array running at once (sbatch --array=...%N). (env NECROFLOW_SLURM_ARRAY_THROTTLE)")]

SlurmGroupSizeOpt = Annotated[int | None, typer.Option(
        "--slurm-group-size", min=0, metavar="N",
        help="Pack up to N ready short jobs into one SLURM allocation that runs them side by side "
             "(default 0: only rules with group=). (env NECROFLOW_SLURM_GROUP_SIZE)")]

SlurmGroupCpusOpt = Annotated[int | None, typer.Option(
        "--slurm-group-cpus", min=1, metavar="N",
        help="CPUs of a group's allocation (default: one member's threads). (env NECROFLOW_SLURM_GROUP_CPUS)")]
