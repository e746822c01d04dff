"""SLURM job arrays and job groups on the real one-node cluster (see conftest.slurm_cluster).

Whole DAGs run through ``dag.execute(backend=SlurmBackend(...))`` (and ``necroflow run
--backend slurm`` for the CLI flags).  What is checked is what SLURM and the node folders
show: ``SlurmBackend.sbatch_calls``, the ids in each job's ``.rip/metrics.json`` (``123_4``
for an array task, ``g<tag>+4`` for a group member) against ``squeue -r``, ``scontrol show
job`` (``ArrayTaskThrottle``; finished jobs stay for ``MinJobAge`` = 600 s on the test
cluster), the allocation each command saw (``$SLURM_JOB_ID``, ``$SLURM_CPUS_PER_TASK``,
logged into its own ``job.log``) and the start/end times in the metrics (how many ran at once).

Batching window: the submitter takes the first job handed over, then everything else handed
over within ``BATCH_WAIT`` (50 ms).  The run loop hands over a ready set of a dozen jobs in a
few milliseconds, so it is one batch in practice, but a loaded machine may split it in two:
counts of sbatch calls are bounds with one take of slack, not exact numbers.
"""

from __future__ import annotations

import json
import math
import os
import queue
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import log_has, wait_until

from necroflow import DAG, JobFailed, NodeType, Pipeline, Reporter, Rules, RunReport
from necroflow.backends.base import TaskResult
from necroflow.backends.slurm import SlurmBackend
from necroflow.store import read_state

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_cli import finish, ok, start  # noqa: E402

pytestmark = pytest.mark.usefixtures("slurm_cluster")


class Out(NodeType):
    """What one job wrote."""

    filename = "out.txt"


r = Rules()

# Every command says which job it is and which allocation it ran in, into its own job.log.
WHO = "echo job {n} alloc=$SLURM_JOB_ID cpus=$SLURM_CPUS_PER_TASK; "
WRITE = "printf 'item %s\\n' {n} > {out}"


@r.command(WHO + WRITE)
def item(n: int) -> Out[out]:  # noqa: F821
    """A trivial job."""


@r.command(WHO + "sleep 0.5; " + WRITE)
def nap(n: int) -> Out[out]:  # noqa: F821
    """Long enough that jobs running at once overlap in their metrics."""


@r.command(WHO + "[ {n} != {bad} ] || exit 7; " + WRITE)
def item_or_fail(n: int, bad: int) -> Out[out]:  # noqa: F821
    """Fails (exit 7) for n == bad."""


@r.command(WHO + WRITE, group="pack")
def packed(n: int) -> Out[out]:  # noqa: F821
    """A rule whose jobs share allocations (the group= constraint)."""


@r.command(WHO + "[ {n} != {bad} ] || exit 5; " + WRITE, group="pack")
def packed_or_fail(n: int, bad: int) -> Out[out]:  # noqa: F821
    """A grouped rule that fails (exit 5) for n == bad."""


def _slurm(**kw: Any) -> SlurmBackend:
    return SlurmBackend(poll_interval=0.2, submit_rate=100, lost_grace=2.0, **kw)


def _dag(outdir: Path, rule: str, count: int, **params: Any) -> DAG:
    dag = DAG(str(outdir))
    for n in range(count):
        P = Pipeline()
        P.out = getattr(r, rule)(n=n, **params)
        dag.add(P)
    return dag


def _run(outdir: Path, rule: str, count: int, backend: Any, quiet: Reporter, **params: Any) -> RunReport:
    report = _dag(outdir, rule, count, **params).execute(backend=backend, progress=quiet)
    assert len(report.ran) == count and not report.failed, report
    return report


def _nodes(outdir: Path, rule: str) -> dict[int, Path]:
    """n -> node folder, read from the job's own log (its first word after 'job')."""
    nodes = {}
    for node in (outdir / rule).iterdir():
        words = (node / ".rip" / "job.log").read_text().split()
        nodes[int(words[words.index("job") + 1])] = node
    return nodes


def _metrics(node: Path) -> dict[str, Any]:
    return dict(json.loads((node / ".rip" / "metrics.json").read_text()))


def _log(node: Path) -> dict[str, str]:
    """The 'key=value' words the command logged (alloc, cpus)."""
    return dict(w.split("=", 1) for w in (node / ".rip" / "job.log").read_text().split() if "=" in w)


def _assert_own_records(nodes: dict[int, Path], ok_ns: set[int] | None = None) -> None:
    """Each job has its own state, record, metrics, log and SLURM output in its .rip/."""
    ids = set()
    for n, node in nodes.items():
        rip = node / ".rip"
        good = ok_ns is None or n in ok_ns
        assert read_state(node) == ("up_to_date" if good else "failed"), node
        if good:
            assert (node / "out.txt").read_text() == f"item {n}\n"
            assert json.loads((rip / "record.json").read_text())["job"] == f"{node.parent.name}/{node.name}"
        m = _metrics(node)
        assert m["backend"] == "slurm" and (m["exit_code"] == 0) == good, m
        assert (rip / "job.log").read_text().startswith(f"job {n} alloc="), node
        assert (rip / f"slurm-{m['job_id']}.out").exists(), sorted(p.name for p in rip.iterdir())
        ids.add(m["job_id"])
    assert len(ids) == len(nodes), ids  # no two jobs share a record id


def _by_prefix(ids: list[str], sep: str) -> dict[str, list[int]]:
    """'123_4' -> {'123': [4]} (sep '_'), 'gab12+3' -> {'gab12': [3]} (sep '+')."""
    out: dict[str, list[int]] = defaultdict(list)
    for i in ids:
        head, _, tail = i.partition(sep)
        out[head].append(int(tail) if tail else -1)
    return {k: sorted(v) for k, v in out.items()}


def _most_at_once(nodes: list[Path]) -> int:
    """How many of these jobs ran at the same time, from their recorded start and end."""
    edges = sorted(e for node in nodes for e in ((_metrics(node)["start"], 1), (_metrics(node)["end"], -1)))
    now = most = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        now += step
        most = max(most, now)
    return most


def _squeue_ids() -> set[str]:
    out = subprocess.run(["squeue", "-h", "-r", "--states=all", "-o", "%i"], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def _scontrol(job_id: str) -> dict[str, str]:
    """The first record ``scontrol show job -o`` gives for ``job_id`` (one task of an array)."""
    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=True)
    return dict(w.split("=", 1) for w in out.stdout.splitlines()[0].split() if "=" in w)


def _tree(outdir: Path) -> dict[str, bytes]:
    """Every file of the rule folders outside .rip/ -> its bytes."""
    out = {}
    for rule in ("item", "nap", "packed", "packed_or_fail"):
        for p in (outdir / rule).glob("*/*") if (outdir / rule).exists() else []:
            if p.name != ".rip":
                out[str(p.relative_to(outdir))] = p.read_bytes()
    return out


# --- arrays ---------------------------------------------------------------------------------


def test_ready_jobs_of_one_rule_go_out_as_one_array(tmp_path: Path, quiet: Reporter) -> None:
    backend = _slurm()
    _run(tmp_path, "item", 12, backend, quiet)
    assert backend.sbatch_calls <= 2, backend.sbatch_calls  # one array; 2 if the ready set was split
    nodes = _nodes(tmp_path, "item")
    assert sorted(nodes) == list(range(12))
    _assert_own_records(nodes)
    ids = [_metrics(node)["job_id"] for node in nodes.values()]
    arrays = _by_prefix(ids, "_")
    assert len(arrays) == backend.sbatch_calls, arrays
    for tasks in arrays.values():  # tasks 0..k-1 of one array each ([-1]: an array of one is a plain job)
        assert tasks in ([-1], list(range(len(tasks)))), arrays
    assert set(ids) <= _squeue_ids()  # the ids SLURM itself shows (squeue -r)


def test_arrays_are_chunked_and_throttled(tmp_path: Path, quiet: Reporter) -> None:
    backend = _slurm(array_size=5, array_throttle=2)
    _run(tmp_path, "nap", 12, backend, quiet)
    assert 3 <= backend.sbatch_calls <= 5, backend.sbatch_calls  # 5+5+2; one split take adds at most 2
    nodes = _nodes(tmp_path, "nap")
    _assert_own_records(nodes)
    by_id = {_metrics(node)["job_id"]: node for node in nodes.values()}
    arrays = _by_prefix(list(by_id), "_")
    assert len(arrays) == backend.sbatch_calls and all(len(t) <= 5 for t in arrays.values()), arrays
    for array_id, tasks in arrays.items():
        if tasks == [-1]:
            continue  # an array of one is submitted as a plain job
        assert _scontrol(f"{array_id}_{tasks[0]}")["ArrayTaskThrottle"] == "2"
        members = [by_id[f"{array_id}_{t}"] for t in tasks]
        assert _most_at_once(members) <= 2, [(_metrics(m)["start"], _metrics(m)["end"]) for m in members]


def test_array_size_0_submits_one_sbatch_per_job(tmp_path: Path, quiet: Reporter) -> None:
    backend = _slurm(array_size=0)
    _run(tmp_path, "item", 5, backend, quiet)
    assert backend.sbatch_calls == 5
    nodes = _nodes(tmp_path, "item")
    _assert_own_records(nodes)
    assert all(_metrics(node)["job_id"].isdigit() for node in nodes.values())
    assert not list(tmp_path.glob("item/*/.rip/slurm-array-*"))


def test_a_failing_array_task_fails_only_its_job(tmp_path: Path, quiet: Reporter) -> None:
    backend = _slurm()
    with pytest.raises(ExceptionGroup) as info:
        _dag(tmp_path, "item_or_fail", 6, bad=4).execute(backend=backend, progress=quiet, keep_going=True)
    (failure,) = info.value.exceptions
    assert isinstance(failure, JobFailed)
    assert backend.sbatch_calls <= 2
    nodes = _nodes(tmp_path, "item_or_fail")
    assert failure.job.dir == nodes[4]
    _assert_own_records(nodes, ok_ns={0, 1, 2, 3, 5})
    bad = _metrics(nodes[4])
    assert bad["exit_code"] == 7 and "_" in bad["job_id"], bad  # it ran as a task of the array
    assert "exit code 7" in str(failure) and f"SLURM job {bad['job_id']}" in str(failure), str(failure)
    assert not (nodes[4] / "out.txt").exists()


# --- groups ---------------------------------------------------------------------------------


def test_group_size_packs_jobs_side_by_side_with_local_outputs(tmp_path: Path, quiet: Reporter) -> None:
    backend = _slurm(group_size=4, group_cpus=4)
    _run(tmp_path / "slurm", "nap", 8, backend, quiet)
    assert backend.sbatch_calls <= math.ceil(8 / 4) + 1, backend.sbatch_calls  # +1: a split ready set
    nodes = _nodes(tmp_path / "slurm", "nap")
    _assert_own_records(nodes)
    groups = _by_prefix([_metrics(node)["job_id"] for node in nodes.values()], "+")
    assert len(groups) == backend.sbatch_calls and all(len(m) <= 4 for m in groups.values()), groups
    for tag in groups:
        folders = [node for node in nodes.values() if _metrics(node)["job_id"].startswith(f"{tag}+")]
        seen = [_log(node) for node in folders]
        assert len({s["alloc"] for s in seen}) == 1, seen  # one allocation for the whole group
        assert {s["cpus"] for s in seen} == {"4"}, seen  # group_cpus reached it
        assert seen[0]["alloc"] in _squeue_ids()  # a real SLURM job (the members' record ids are not)
        if len(folders) > 1:
            assert _most_at_once(folders) >= 2, "members of a 4-CPU group ran one at a time"
    local = tmp_path / "local"
    _run(local, "nap", 8, "local", quiet)
    assert _tree(local) == _tree(tmp_path / "slurm") and len(_tree(local)) == 8


def test_group_constraint_packs_a_rules_jobs_into_one_allocation(tmp_path: Path, quiet: Reporter) -> None:
    backend = _slurm()  # group="pack" on the rule; no group settings on the backend
    _run(tmp_path / "slurm", "packed", 6, backend, quiet)
    assert backend.sbatch_calls <= 2, backend.sbatch_calls
    nodes = _nodes(tmp_path / "slurm", "packed")
    _assert_own_records(nodes)
    groups = _by_prefix([_metrics(node)["job_id"] for node in nodes.values()], "+")
    assert len(groups) == backend.sbatch_calls, groups
    assert len({_log(node)["alloc"] for node in nodes.values()}) == len(groups)
    assert _most_at_once(list(nodes.values())) <= len(groups)  # one member at a time on one member's CPUs
    local = tmp_path / "local"
    _run(local, "packed", 6, "local", quiet)
    assert _tree(local) == _tree(tmp_path / "slurm") and len(_tree(local)) == 6


def test_a_failing_group_member_fails_only_its_job(tmp_path: Path, quiet: Reporter) -> None:
    backend = _slurm()
    with pytest.raises(ExceptionGroup) as info:
        _dag(tmp_path, "packed_or_fail", 5, bad=2).execute(backend=backend, progress=quiet, keep_going=True)
    (failure,) = info.value.exceptions
    assert isinstance(failure, JobFailed)
    nodes = _nodes(tmp_path, "packed_or_fail")
    assert backend.sbatch_calls <= 2 and len({_log(node)["alloc"] for node in nodes.values()}) <= 2
    _assert_own_records(nodes, ok_ns={0, 1, 3, 4})
    bad = _metrics(nodes[2])
    assert bad["exit_code"] == 5 and "+" in bad["job_id"], bad  # it ran as a member of the group
    key = f"packed_or_fail/{nodes[2].name}"
    assert failure.job.key == key and key in str(failure) and "exit code 5" in str(failure), str(failure)
    assert not (nodes[2] / "out.txt").exists()


def test_cancelled_group_starts_no_waiting_member(make_job) -> None:
    backend = _slurm(group_size=3)  # no group_cpus: the members run one after the other
    events: queue.Queue[TaskResult] = queue.Queue()
    backend.start(events)
    try:
        jobs = [make_job("first", "echo started; exec sleep 60"),
                *(make_job(f"waiting{i}", "echo ran > ran.txt") for i in range(2))]
        for job in jobs:
            backend.submit(job)
        wait_until(lambda: log_has(jobs[0].log_path, "started"), 30, "the first member to start")
        backend.cancel_all()
        results = {}
        while len(results) < 3:
            res = events.get(timeout=30)
            results[res.key] = res
    finally:
        backend.stop()
    assert not any(res.ok for res in results.values()), results
    assert not any((job.workdir / "ran.txt").exists() for job in jobs[1:])


# --- cancel ---------------------------------------------------------------------------------

INTERRUPTIBLE = """
from __future__ import annotations
import sys
from necroflow import DAG, NodeType, Pipeline, Rules
from necroflow.backends.slurm import SlurmBackend

class Out(NodeType):
    filename = "out.txt"

r = Rules()

@r.command("echo started; sleep 60; touch {out}")
def arrayed(n: int) -> Out[out]:
    "Tasks of one array."

@r.command("echo started; sleep 60; touch {out}", group="slow")
def grouped(n: int) -> Out[out]:
    "Members of one group, side by side on its 2 CPUs."

if __name__ == "__main__":
    dag = DAG(sys.argv[1])
    for n in range(2):
        P = Pipeline()
        P.a = r.arrayed(n=n)
        P.g = r.grouped(n=n)
        dag.add(P)
    dag.execute(backend=SlurmBackend(poll_interval=0.2, group_cpus=2))
"""


def _sleepers(outdir: Path) -> list[int]:
    """Pids of 'sleep 60' processes started in this outdir's node folders."""
    found = []
    for proc_dir in Path("/proc").iterdir():
        try:
            cmdline = (proc_dir / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc_dir / "cwd")
        except OSError:
            continue
        if cmdline[:2] == [b"sleep", b"60"] and cwd.startswith(str(outdir)):
            found.append(int(proc_dir.name))
    return found


def test_ctrl_c_cancels_array_tasks_and_whole_groups(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(INTERRUPTIBLE)
    outdir = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(script), str(outdir)], stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len(_sleepers(outdir)) == 4, 60, "the 2 array tasks and the 2 group members to start")
        logs = list(outdir.glob("*/*/.rip/job.log"))
        assert len(logs) == 4 and all(log_has(log, "started") for log in logs)
        outputs = [p.name for log in logs for p in log.parent.glob("slurm-*.out")]
        tasks = [n[6:-4] for n in outputs if "_" in n and not n.startswith("slurm-array-")]
        groups = [n.rsplit("-", 1)[1][:-4] for n in outputs if n.startswith("slurm-group-")]
        assert len(tasks) == 2 and len({t.split("_")[0] for t in tasks}) == 1, outputs  # one array
        assert len(groups) == 1, outputs  # one allocation for both members
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and ("KeyboardInterrupt" in err or "interrupt" in err.lower()), err
    for log in logs:
        assert read_state(log.parent.parent) == "interrupted", log
    for job_id in [*tasks, *groups]:

        def final(job_id: str = job_id) -> bool:
            argv = ["squeue", "-h", "--states=all", "-j", job_id, "-o", "%T"]
            state = subprocess.run(argv, capture_output=True, text=True).stdout.strip()
            assert state in ("CANCELLED", "COMPLETING", ""), f"SLURM job {job_id} is {state}"
            return state != "COMPLETING"

        wait_until(final, 15, f"SLURM job {job_id} to end")
    wait_until(lambda: not _sleepers(outdir), 10, "the jobs' sleep processes to end")


# --- the CLI flags --------------------------------------------------------------------------

FACTORY = """
from __future__ import annotations
from necroflow import NodeType, Pipeline, Rules

class Out(NodeType):
    filename = "out.txt"

R = Rules()

@R.command("echo job {n} alloc=$SLURM_JOB_ID cpus=$SLURM_CPUS_PER_TASK; sleep 0.3; echo {n} > {out}")
def step(n: int) -> Out[out]:  # noqa: F821
    "One small job per combo."

def flow(config):
    P = Pipeline()
    P.out = R.step(n=config["n"])
    return P
"""


def test_cli_slurm_array_and_group_flags_reach_the_backend(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(FACTORY)
    job = tmp_path / "job.toml"
    job.write_text(f'".pipeline" = "{tmp_path / "flow.py"}:flow"\nn__grid = [0, 1, 2, 3, 4, 5]\n')
    common = ["run", "--backend", "slurm", "--slurm-poll-interval", "0.2", str(job), "--outdir"]
    arrays = start([*common, tmp_path / "arrays", "--slurm-array-size", "3", "--slurm-array-throttle", "1"])
    groups = start([*common, tmp_path / "groups", "--slurm-group-size", "3", "--slurm-group-cpus", "2"])
    ok(finish(arrays, timeout=90))
    ok(finish(groups, timeout=90))

    def runs(outdir: Path) -> dict[str, Path]:
        nodes = list((outdir / "step").iterdir())
        assert len(nodes) == 6 and all(read_state(n) == "up_to_date" for n in nodes)
        return {_metrics(node)["job_id"]: node for node in nodes}

    by_task = runs(tmp_path / "arrays")
    chunks = _by_prefix(list(by_task), "_")
    assert len(chunks) >= 2 and all(t == list(range(len(t))) and len(t) <= 3 for t in chunks.values()), chunks
    for array_id, tasks in chunks.items():
        if tasks == [-1]:
            continue  # an array of one is submitted as a plain job
        assert _scontrol(f"{array_id}_0")["ArrayTaskThrottle"] == "1"  # --slurm-array-throttle 1
        assert _most_at_once([by_task[f"{array_id}_{t}"] for t in tasks]) == 1
    by_member = runs(tmp_path / "groups")
    packs = _by_prefix(list(by_member), "+")
    assert len(packs) >= 2 and all(m == list(range(len(m))) and len(m) <= 3 for m in packs.values()), packs
    assert {_log(node)["cpus"] for node in by_member.values()} == {"2"}  # --slurm-group-cpus 2
    assert len({_log(node)["alloc"] for node in by_member.values()}) == len(packs)  # one allocation per group
