"""The SLURM backend's pure parts: constraint mapping, squeue parsing, the job script.

These need no cluster: the job script is run with plain ``sh`` and a fake SLURM_JOB_ID.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from necroflow.backends.base import Task
from necroflow.backends.slurm_script import (
    EXIT_RECORD,
    format_slurm_time,
    job_script,
    mem_megabytes,
    parse_squeue,
    sbatch_options,
)


def test_threads_and_ram_map_to_cpus_and_megabytes_rounded_up() -> None:
    opts = sbatch_options({"threads": 4, "ram": 8 * 1024**3})
    assert "--cpus-per-task=4" in opts and "--mem=8192M" in opts
    assert mem_megabytes(1) == 1
    assert mem_megabytes(1024**2) == 1
    assert mem_megabytes(1024**2 + 1) == 2
    assert mem_megabytes("1G") == 954  # 10^9 bytes is 953.67 MiB: never ask for less
    assert mem_megabytes("2Gi") == 2048


def test_zero_or_missing_ram_sends_no_mem() -> None:
    # sbatch --mem=0 would mean "all the memory of the node"
    assert not any(o.startswith("--mem") for o in sbatch_options({"threads": 1, "ram": 0}))
    assert not any(o.startswith("--mem") for o in sbatch_options({}))


def test_time_partition_account_and_extra_args() -> None:
    opts = sbatch_options(
        {"time": 90, "partition": "long", "qos": "high", "gpus": 1, "sbatch_args": "--exclusive --comment='a b'"},
        partition="short",
        account="lab",
        extra_args=["--nice=10"],
    )
    assert "--time=0-00:01:30" in opts
    assert "--partition=long" in opts and "--partition=short" not in opts  # the rule wins
    assert "--account=lab" in opts and "--qos=high" in opts and "--gpus=1" in opts
    assert opts[-3:] == ["--nice=10", "--exclusive", "--comment=a b"]  # rule args after site args


def test_slurm_time_formats() -> None:
    assert format_slurm_time(1) == "0-00:00:01"
    assert format_slurm_time(90061) == "1-01:01:01"
    assert format_slurm_time("1:00:00") == "1:00:00"
    assert format_slurm_time("2-00:00:00") == "2-00:00:00"
    for bad in ("soon", 0, -5, True, "1h"):
        with pytest.raises(ValueError, match="time constraint"):
            format_slurm_time(bad)


def test_bad_threads_is_an_error_that_names_the_key() -> None:
    with pytest.raises(ValueError, match="threads"):
        sbatch_options({"threads": 0})


def test_parse_squeue() -> None:
    text = "12|RUNNING|None\n13|PENDING|Resources\n\n14|TIMEOUT|TimeLimit\n"
    assert parse_squeue(text) == {
        "12": ("RUNNING", "None"),
        "13": ("PENDING", "Resources"),
        "14": ("TIMEOUT", "TimeLimit"),
    }


@pytest.mark.parametrize("python", [sys.executable, None], ids=["python-runner", "sh-runner"])
def test_job_script_runs_the_command_verbatim_and_writes_the_record(tmp_path: Path, python: str | None) -> None:
    workdir = tmp_path / "node dir with 'quotes' and $dollars"
    rip = workdir / ".rip"
    rip.mkdir(parents=True)
    command = "printf '%s\\n' \"it's $((1+2))\" > out.txt; echo logged; exit 5"
    job = Task("r/x", "r", command, workdir, rip, rip / "job.log", {})
    script = rip / "slurm-job.sh"
    script.write_text(job_script(job, ["--nodes=1"], python))
    proc = subprocess.run(
        ["sh", str(script)], cwd=tmp_path, env={**os.environ, "SLURM_JOB_ID": "4242"}, capture_output=True, text=True
    )
    assert proc.returncode == 5, proc.stderr
    assert (workdir / "out.txt").read_text() == "it's 3\n"
    assert (rip / "job.log").read_text() == "logged\n"
    record = json.loads((rip / EXIT_RECORD).read_text())
    assert record["returncode"] == 5 and record["job_id"] == "4242"
    assert record["end"] >= record["start"] and record["host"]
    assert sorted(p.name for p in rip.iterdir()) == ["job.log", "slurm-exit.json", "slurm-job.sh"]


def test_job_script_reports_a_signal(tmp_path: Path) -> None:
    rip = tmp_path / ".rip"
    rip.mkdir()
    job = Task("r/x", "r", "kill -9 $$", tmp_path, rip, rip / "job.log", {})
    script = rip / "slurm-job.sh"
    script.write_text(job_script(job, [], sys.executable))
    proc = subprocess.run(["sh", str(script)], env={**os.environ, "SLURM_JOB_ID": "7"}, capture_output=True)
    assert proc.returncode == 128 + 9
    record = json.loads((rip / EXIT_RECORD).read_text())
    assert record["returncode"] is None and record["signal"] == 9
