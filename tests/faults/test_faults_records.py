"""Records that a power cut or a person left wrong: torn, empty, of the wrong shape.

A record of the wrong shape means "unknown: rerun" and a bad index is ignored; nothing of it
is a traceback, ``--dry-run`` included.  And a run orders its writes so that a power cut at
any moment can only leave such records, never a state that vouches for records (or outputs)
that did not reach the disk: checked on the real system calls with strace.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from faultlib import JOB, WORKLOAD, run

from necroflow import DAG, NodeType, Pipeline, Reporter, Rules
from necroflow.plan import State


class A(NodeType):
    filename = "a.txt"


class B(NodeType):
    filename = "b.txt"


R = Rules()
R.register("first", {"i": int}, {"out": A}, "echo {i} > {out}")
R.register("second", {"x": A}, {"out": B}, "cat {x} > {out}")


def pipeline() -> Pipeline:
    P = Pipeline()
    P.a = R.first(i=1)
    P.b = R.second(P.a)
    return P


def done(outdir: Path) -> Pipeline:
    P = pipeline()
    dag = DAG(outdir)
    dag.add(P)
    dag.execute(progress=Reporter(stream=io.StringIO()))
    return P


def states(outdir: Path) -> dict[str, State]:
    P = pipeline()
    dag = DAG(outdir)
    dag.add(P)
    plan = dag.plan()
    return {"a": plan.entries[P.a.fingerprint].state, "b": plan.entries[P.b.fingerprint].state}


BAD_RECORDS = {
    "empty": "",
    "torn": '{"job": "first/x", "outp',
    "list": "[1, 2, 3]",
    "string outputs": '{"outputs": "a.txt", "inputs": {}}',
    "string entry": '{"outputs": {"a.txt": "sha"}, "inputs": {}}',
    "wrong types": '{"outputs": {"a.txt": {"sha256": 1, "size": "2", "mtime_ns": null}}, "inputs": {}}',
    "deep": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("text", BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
def test_a_bad_record_means_rerun(tmp_path: Path, text: str) -> None:
    out = tmp_path / "out"
    P = done(out)
    (out / P.a.job.key / ".rip" / "record.json").write_text(text)
    (out / ".rip" / "index.json").unlink()
    assert states(out) == {"a": State.INTERRUPTED, "b": State.STALE}
    assert done(out) and states(out) == {"a": State.UP_TO_DATE, "b": State.UP_TO_DATE}


@pytest.mark.parametrize("text", [*BAD_RECORDS.values(), '{"version": 1, "nodes": {"first/x": "up_to_date"}}',
                                  '{"version": 1, "nodes": [1]}'])
def test_a_bad_index_is_ignored(tmp_path: Path, text: str) -> None:
    out = tmp_path / "out"
    done(out)
    (out / ".rip" / "index.json").write_text(text)
    assert states(out) == {"a": State.UP_TO_DATE, "b": State.UP_TO_DATE}


def test_an_index_entry_of_the_wrong_shape_for_a_real_node_is_ignored(tmp_path: Path) -> None:
    out = tmp_path / "out"
    P = done(out)
    doc = json.loads((out / ".rip" / "index.json").read_text())
    doc["nodes"][P.a.job.key][3] = {"outputs": ["a.txt"], "inputs": {}}
    (out / ".rip" / "index.json").write_text(json.dumps(doc))
    assert states(out) == {"a": State.UP_TO_DATE, "b": State.UP_TO_DATE}


def test_the_cli_dry_run_on_bad_records_is_not_a_traceback(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = run(["--outdir", out, JOB], cwd=WORKLOAD, log=tmp_path / "jobs.log")
    assert res.returncode == 0, res.stderr
    for rec in out.glob("*/*/.rip/record.json"):
        rec.write_text(BAD_RECORDS["deep"])
    (out / ".rip" / "index.json").write_text(BAD_RECORDS["list"])
    for args in (["--dry-run"], []):
        res = run(["--outdir", out, *args, JOB], cwd=WORKLOAD, log=tmp_path / "jobs.log")
        assert "Traceback" not in res.stderr, res.stderr
        assert res.returncode == 0, res.stderr


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_states_are_written_only_after_their_records_are_durable(tmp_path: Path) -> None:
    flow = tmp_path / "flow.py"
    flow.write_text(
        "import io, sys\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from test_faults_records import R, Pipeline, DAG, Reporter\n"
        "P = Pipeline()\n"
        "for i in range(12):\n"
        "    setattr(P, f'b{i}', R.second(R.first(i=i)))\n"
        "d = DAG(sys.argv[1]); d.add(P); d.execute(progress=Reporter(stream=io.StringIO()))\n")
    trace = tmp_path / "trace.txt"
    subprocess.run(["strace", "-f", "-qq", "-e", "trace=syncfs,rename", "-o", str(trace), sys.executable,
                    str(flow), str(tmp_path / "out"), str(Path(__file__).parent)], check=True, timeout=60)
    events: list[tuple[str, str]] = []  # ("sync", "") or (file kind, node)
    for line in trace.read_text().splitlines():
        finished = ("syncfs(" in line and "unfinished" not in line) or "<... syncfs resumed>" in line
        if finished and line.rstrip().endswith("= 0"):  # a barrier counts once it has returned
            events.append(("sync", ""))
        m = re.search(r'rename\("[^"]*", "(.*)/\.rip/(state|record\.json)"', line)  # done or <unfinished
        if m:
            events.append((m.group(2), m.group(1)))
    nodes = {n for kind, n in events if kind == "record.json"}
    assert len(nodes) == 24
    for node in nodes:
        record_at = max(i for i, (k, n) in enumerate(events) if k == "record.json" and n == node)
        state_at = max(i for i, (k, n) in enumerate(events) if k == "state" and n == node)
        assert any(events[i][0] == "sync" for i in range(record_at, state_at)), f"{node}: state before a barrier"
    assert events[-1] == ("sync", ""), "the run's last states must be made durable before it ends"
    assert sum(1 for k, _ in events if k == "sync") <= len(nodes), "one barrier per batch, not per file"
