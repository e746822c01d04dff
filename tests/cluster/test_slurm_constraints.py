"""Constraints reach SLURM as docs/cluster.md says: declared on a rule, run with ``dag.execute``.

Each rule's command asks SLURM about its own job while it runs (``scontrol show job -o
$SLURM_JOB_ID`` into its output); after the run the test asks again (``scontrol`` keeps
finished jobs for ``MinJobAge`` = 600 s on the test cluster; there is no ``sacct``: no
accounting storage) and reads the ``# submitted with: sbatch ...`` line of the node's
``.rip/slurm-job.sh``.

The ``--exclusive`` jobs need the whole node, so they wait for whatever else runs there (when
this file runs alone: the session's one-minute time-limit probe, see conftest, so about a
minute).  They are submitted with a site-wide ``--nice`` (the backend's ``extra_args``) so that,
while they wait, they do not hold back other jobs on the one shared test node: a pending
exclusive job of normal priority blocks every later job, another session's included.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import necroflow
from necroflow import DAG, Inputs, NodeType, Outputs, Pipeline, Reporter, Rules
from necroflow.constraints import Constraints

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "cluster.md"
README = REPO / "README.md"
FAST = {"slurm_poll_interval": 0.2, "slurm_submit_rate": 100}
NICE = "--nice=1000000"  # lowest priority: later jobs start ahead of a waiting exclusive one
TEST_CPUS = 8  # conftest.TEST_CPUS: what an --exclusive job gets on the one node

# The job reports what SLURM says about it while it runs.
SELF = "scontrol show job -o $SLURM_JOB_ID > {out}; echo {n} >> {out}"


class Out(NodeType):
    """SLURM's record of the job that made it."""

    filename = "out.txt"


r = Rules()


# --- the documented forms (docs/cluster.md, "Constraints -> sbatch options") ---------------


@r.command(SELF, time=3600)
def t_seconds(n: int) -> Out[out]:  # noqa: F821
    """time=3600, the decorator form."""


@r.command(SELF, time="1:00:00")
def t_hms_doc(n: int) -> Out[out]:  # noqa: F821
    """time="1:00:00", the second documented form."""


@r.command(SELF, sbatch_args="--exclusive")
def excl(n: int) -> Out[out]:  # noqa: F821
    """sbatch_args="--exclusive", the decorator form."""


# --- the same through Constraints(...) and register (README "two equivalent ways") ---------

r.register("c_seconds", Inputs(n=int), Outputs(out=Out), SELF, Constraints(time=3600))
r.register("c_hms", Inputs(n=int), Outputs(out=Out), SELF, Constraints(time="2:00:00"))
r.register("c_units", Inputs(n=int), Outputs(out=Out), SELF, necroflow.Constraints(time="90m"))
r.register("c_minutes", Inputs(n=int), Outputs(out=Out), SELF, Constraints(time="90"))  # SLURM: minutes
r.register("c_excl", Inputs(n=int), Outputs(out=Out), SELF, Constraints(sbatch_args="--exclusive"))

# rule -> (how it was declared, TimeLimit SLURM must show, the --time option in the job script)
TIMES: dict[str, tuple[str, str, str]] = {
    "t_seconds": ("@r.command(..., time=3600)", "01:00:00", "--time=0-01:00:00"),
    "c_seconds": ("Constraints(time=3600)", "01:00:00", "--time=0-01:00:00"),
    "t_hms_doc": ('@r.command(..., time="1:00:00")', "01:00:00", "--time=0-01:00:00"),
    "c_hms": ('Constraints(time="2:00:00")', "02:00:00", "--time=0-02:00:00"),
    "c_units": ('Constraints(time="90m")', "01:30:00", "--time=0-01:30:00"),
    "c_minutes": ('Constraints(time="90")', "01:30:00", "--time=0-01:30:00"),
}
EXCLUSIVE = ("excl", "c_excl")


def _run(outdir: Path, rules: tuple[str, ...], **options: Any) -> dict[str, Path]:
    """One node per rule, run through ``dag.execute(backend="slurm")``; rule -> node folder."""
    dag = DAG(str(outdir))
    for name in rules:
        P = Pipeline()
        P.out = getattr(r, name)(n=1)
        dag.add(P)
    report = dag.execute(backend="slurm", backend_options={**FAST, **options},
                         progress=Reporter(stream=io.StringIO()))
    assert len(report.ran) == len(rules) and not report.failed, report
    nodes = {}
    for name in rules:
        (node,) = (outdir / name).iterdir()
        nodes[name] = node
    return nodes


def _fields(record: str) -> dict[str, str]:
    """``scontrol show job -o`` (one line of Key=Value words) -> dict."""
    return dict(w.split("=", 1) for w in record.split() if "=" in w)


def _job_id(node: Path) -> str:
    """The id the run recorded: "123", or "123_4" for an array task (scontrol takes both)."""
    job_id = str(json.loads((node / ".rip" / "metrics.json").read_text())["job_id"])
    assert job_id.replace("_", "").isdigit(), job_id
    return job_id


def _is_job(fields: dict[str, str], job_id: str) -> bool:
    """Whether an ``scontrol`` record is the job (or array task) ``job_id``."""
    if "_" in job_id:
        return f"{fields.get('ArrayJobId')}_{fields.get('ArrayTaskId')}" == job_id
    return fields.get("JobId") == job_id


def _scontrol(job_id: str) -> dict[str, str]:
    """SLURM's record of a finished job, once it is past COMPLETING (the exit record, which
    ends the run, is written before slurmd has finished the job's epilogue)."""
    deadline = time.monotonic() + 30
    while True:
        proc = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True,
                              check=True)
        fields = _fields(proc.stdout)
        if fields.get("JobState") != "COMPLETING" or time.monotonic() > deadline:
            return fields
        time.sleep(0.1)


def _while_running(node: Path) -> dict[str, str]:
    """What the job read about itself from SLURM while it ran."""
    return _fields((node / "out.txt").read_text().splitlines()[0])


def _submitted_with(node: Path) -> list[str]:
    """The sbatch options recorded in the job script's header."""
    script = (node / ".rip" / "slurm-job.sh").read_text()
    line = next(ln for ln in script.splitlines() if ln.startswith("# submitted with: sbatch "))
    return line.removeprefix("# submitted with: sbatch ").split()[:-1]  # the last word: the script


@pytest.fixture(scope="module")
def time_nodes(slurm_cluster: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _run(tmp_path_factory.mktemp("times"), tuple(TIMES))


@pytest.fixture(scope="module")
def exclusive_nodes(slurm_cluster: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _run(tmp_path_factory.mktemp("exclusive"), EXCLUSIVE, slurm_extra_args=NICE)


def test_the_tested_forms_are_the_documented_ones() -> None:
    docs = DOCS.read_text()
    for form in ('`time=3600`', '`time="1:00:00"`', '`sbatch_args="--exclusive"`', "`--time=0-01:00:00`"):
        assert form in docs, f"docs/cluster.md no longer documents {form}"
    readme = README.read_text()
    assert "`time`, `partition`, `account`, `qos`, `gpus`, `sbatch_args` constraints pass" in readme
    assert "from necroflow import Constraints" in readme
    assert necroflow.Constraints is Constraints


@pytest.mark.parametrize("rule", list(TIMES))
def test_time_reaches_slurm(time_nodes: dict[str, Path], rule: str) -> None:
    declared, limit, option = TIMES[rule]
    node = time_nodes[rule]
    job_id = _job_id(node)
    running = _while_running(node)
    assert _is_job(running, job_id) and running["JobState"] == "RUNNING", running
    assert running["TimeLimit"] == limit, f"{declared}: SLURM saw TimeLimit={running['TimeLimit']} while running"
    after = _scontrol(job_id)
    assert after["JobState"] == "COMPLETED" and after["TimeLimit"] == limit, after
    opts = _submitted_with(node)
    assert option in opts, f"{declared}: job script says sbatch {' '.join(opts)}"
    assert sum(o.startswith("--time") for o in opts) == 1
    assert after["OverSubscribe"] == "OK"  # not exclusive: the contrast for the test below


@pytest.mark.parametrize("rule", EXCLUSIVE)
def test_sbatch_args_exclusive_reaches_slurm(exclusive_nodes: dict[str, Path], rule: str) -> None:
    node = exclusive_nodes[rule]
    job_id = _job_id(node)
    running = _while_running(node)
    assert _is_job(running, job_id) and running["JobState"] == "RUNNING", running
    assert running["OverSubscribe"] == "NO", running  # what --exclusive means to SLURM
    assert running["NumCPUs"] == str(TEST_CPUS), running  # the whole node, though it asked for one CPU
    after = _scontrol(job_id)
    assert after["OverSubscribe"] == "NO" and after["JobState"] == "COMPLETED", after
    opts = _submitted_with(node)
    assert opts[-2:] == [NICE, "--exclusive"], opts  # after the backend's extra_args: a rule overrides a site default


def _documented_time_options() -> dict[str, str]:
    """The docs table row ``| `time=3600` / `time="1:00:00"` | `--time=...` / `--time=...` |``
    -> {constraint form: documented sbatch option}."""
    row = next(ln for ln in DOCS.read_text().splitlines() if ln.startswith("| `time="))
    cells = [c.strip() for c in row.strip("|").split("|")]
    forms = re.findall(r"`([^`]+)`", cells[0])
    options = re.findall(r"`([^`]+)`", cells[1])
    assert len(forms) == len(options) == 2, row
    return dict(zip(forms, options, strict=True))


DOC_RULE = {"time=3600": "t_seconds", 'time="1:00:00"': "t_hms_doc"}


@pytest.mark.parametrize("form", list(DOC_RULE))
def test_the_job_script_shows_the_documented_time_option(time_nodes: dict[str, Path], form: str) -> None:
    """docs/cluster.md's row: both forms become seconds when the rule is declared and the job
    script says --time=0-01:00:00 (SLURM's limit itself: test_time_reaches_slurm)."""
    documented = _documented_time_options()
    assert form in documented, documented
    opts = _submitted_with(time_nodes[DOC_RULE[form]])
    assert documented[form] in opts, f"docs: {form} -> {documented[form]}; job script: sbatch {' '.join(opts)}"
