"""A job that writes part of its output and then fails: the output is never trusted.

Runs in-process through the Python API (the same ``execute`` the CLI calls), with the
real local backend: the job really writes half a file and really exits non-zero.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest
from faultlib import WORKLOAD, read_state

from necroflow import JobFailed, Reporter
from necroflow.jobs import JobSet, load_jobs
from necroflow.plan import make_plan


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    paths = {"log": tmp_path / "jobs.log", "flag": tmp_path / "fail-now", "out": tmp_path / "out"}
    monkeypatch.setenv("NF_FAULT_LOG", str(paths["log"]))
    monkeypatch.setenv("NF_FAULT_FAIL", str(paths["flag"]))
    return paths


def load(tmp: Path, text: str, lazy: bool = False) -> JobSet:
    job = tmp / "partialjob.toml"
    job.write_text(f'".pipeline" = "{WORKLOAD}/partial.py:partial"\ntext = "{text}"\nlazy = {str(lazy).lower()}\n')
    return load_jobs([job], tmp / "out", base=tmp)


def starts(log: Path) -> Counter[str]:
    if not log.exists():
        return Counter()
    return Counter(Path(line.split(" ", 1)[1]).parent.name for line in log.read_text().splitlines())


def states(js: JobSet) -> dict[str, str]:
    plan = make_plan(js.dag)
    return {j.rule.name: plan.entries[j.fingerprint].state.value for j in plan.required}


def execute(js: JobSet) -> None:
    js.dag.execute(progress=Reporter(io.StringIO()))


def step_dir(js: JobSet) -> Path:
    d = js.runs[0].pipeline.copy.job.dir
    assert d is not None
    return d


def test_partial_output_of_a_failed_first_run(tmp_path: Path, env: dict[str, Path]) -> None:
    js = load(tmp_path, "abcdefgh")
    env["flag"].touch()
    for attempt in (1, 2):
        with pytest.raises(JobFailed, match="exit code 7"):
            execute(js)
        d = step_dir(js)
        assert (d / "copy.txt").read_bytes() == b"abcd", "the test relies on a real partial write"
        assert read_state(d) == "failed"
        assert not (d / ".rip" / "copy.txt.hash").exists()
        assert states(js) == {"source": "UP_TO_DATE", "step": "FAILED", "final": "MISSING"}
        assert starts(env["log"]) == Counter({"source": 1, "step": attempt}), "final must never start"
    env["flag"].unlink()
    execute(js)
    assert (step_dir(js) / "copy.txt").read_bytes() == b"abcdefgh\n"
    final = js.runs[0].pipeline.final.path
    assert final is not None and final.read_bytes() == b"ABCDEFGH\n"
    assert set(states(js).values()) == {"UP_TO_DATE"}
    assert starts(env["log"]) == Counter({"source": 1, "step": 3, "final": 1})


def test_partial_overwrite_of_a_good_output(tmp_path: Path, env: dict[str, Path]) -> None:
    """A recorded output, its input changed, the rerun writes half and fails: nothing trusts it."""
    js = load(tmp_path, "version-one")
    execute(js)
    src = js.runs[0].pipeline.copy.job.inputs["src"].path
    final = js.runs[0].pipeline.final.path
    assert src is not None and final is not None
    src.write_text("version-two\n")  # a hand edit upstream: the step is now stale
    assert states(js) == {"source": "UP_TO_DATE", "step": "STALE", "final": "STALE"}
    env["flag"].touch()
    with pytest.raises(JobFailed):
        execute(js)
    assert (step_dir(js) / "copy.txt").read_bytes() == b"vers"
    assert read_state(step_dir(js)) == "failed"
    assert final.read_bytes() == b"VERSION-ONE\n", "the consumer must not have rerun on partial input"
    st = states(js)
    assert st["step"] == "FAILED" and st["final"] != "UP_TO_DATE", st
    assert starts(env["log"]) == Counter({"source": 1, "step": 2, "final": 1})
    env["flag"].unlink()
    execute(js)
    assert final.read_bytes() == b"VERSION-TWO\n"
    assert set(states(js).values()) == {"UP_TO_DATE"}


def test_exit_zero_without_declared_output_fails(tmp_path: Path, env: dict[str, Path]) -> None:
    js = load(tmp_path, "x", lazy=True)
    with pytest.raises(JobFailed, match="did not write declared output"):
        execute(js)
    lazy = js.runs[0].pipeline.empty.job.dir
    assert lazy is not None and read_state(lazy) == "failed"
    assert "did not write" in (lazy / ".rip" / "job.log").read_text()
    assert states(js)["lazy"] == "FAILED"
