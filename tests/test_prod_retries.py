"""Retries on the local backend (README "Retries, with resources that grow").

A job with ``retries=N`` is rerun after a failure up to N more times, each attempt keeping its
own log and metrics in ``.rip/attempts/<n>/``; ``dag.execute(retries=)`` / ``--retries`` is the
default of rules that say nothing; constraints may be functions of the attempt number and never
enter the fingerprint; Ctrl-C is not retried, a time-out is.  Every job counts its attempts in
a file outside the outdir, so what ran is read from the job itself, not from necroflow.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from procs import group_alive

from necroflow import (
    DAG,
    Constraints,
    Inputs,
    JobFailed,
    NodeType,
    Outputs,
    Pipeline,
    Reporter,
    Rules,
)
from necroflow.constraints import ConstraintError

REPO = Path(__file__).resolve().parent.parent


class Out(NodeType):
    """What a job wrote."""

    filename = "out.txt"


# Counts its attempt in {counter} (a file outside the outdir), says so in its log, and exits
# with the attempt number until the attempt {ok_at} writes its output.
COUNT = "n=$(($(cat {counter} 2>/dev/null || echo 0) + 1)); echo $n > {counter}; "
FLAKY = COUNT + "echo \"attempt $n\"; [ $n -ge {ok_at} ] || exit $n; echo \"made by attempt $n\" > {out}"
# The same, also showing the constraint values it was given.
SHOWS = COUNT + "echo \"attempt $n ram={ram} threads={threads}\"; [ $n -ge {ok_at} ] || exit $n; echo ok > {out}"
NEVER = 99  # an ok_at no attempt reaches

r = Rules()


@r.command(FLAKY, retries=2)
def flaky(counter: str, ok_at: int) -> Out[out]:  # noqa: F821
    """Fails until attempt ok_at; two retries (the decorator form)."""


r.register("flaky_reg", Inputs(counter=str, ok_at=int), Outputs(out=Out), FLAKY, Constraints(retries=2))


@r.command(FLAKY)
def plain(counter: str, ok_at: int) -> Out[out]:  # noqa: F821
    """No retries of its own: takes the run's."""


@r.command(FLAKY, retries=3)
def own3(counter: str, ok_at: int) -> Out[out]:  # noqa: F821
    """Three retries of its own."""


@r.command(FLAKY, retries=0)
def own0(counter: str, ok_at: int) -> Out[out]:  # noqa: F821
    """Explicitly no retries, whatever the run says."""


ram_calls: list[int] = []


def growing_ram(attempt: int) -> str:
    ram_calls.append(attempt)
    return f"{4 * attempt}Gi"


@r.command(SHOWS, retries=2, ram=growing_ram, threads=lambda attempt: attempt)
def grows(counter: str, ok_at: int) -> Out[out]:  # noqa: F821
    """Asks for more memory and threads on every attempt."""


@r.command(COUNT + "echo \"attempt $n\"; [ $n -ge 2 ] || sleep 30; echo \"made by attempt $n\" > {out}",
           retries=1, time="1s")
def slow_once(counter: str) -> Out[out]:  # noqa: F821
    """Hangs on its first attempt (stopped at 1 s), is quick on the second."""


def quiet() -> Reporter:
    return Reporter(stream=io.StringIO())


def node_of(outdir: Path, rule: str) -> Path:
    (node,) = (outdir / rule).iterdir()
    return node


def attempts(node: Path) -> dict[int, tuple[str, dict[str, Any]]]:
    """Attempt number -> (its job.log, its metrics.json), from ``.rip/attempts/``."""
    root = node / ".rip" / "attempts"
    return {int(p.name): ((p / "job.log").read_text(), json.loads((p / "metrics.json").read_text()))
            for p in root.iterdir()}


def run_one(outdir: Path, make: Callable[[], Any], **options: Any) -> tuple[Any, Reporter]:
    dag = DAG(str(outdir))
    P = Pipeline()
    P.out = make()
    dag.add(P)
    rep = quiet()
    return dag.execute(progress=rep, **options), rep


@pytest.mark.parametrize("rule", ["flaky", "flaky_reg"], ids=["decorator", "register-Constraints"])
def test_fails_twice_then_succeeds_with_two_retries(rule: str, tmp_path: Path) -> None:
    counter, outdir = tmp_path / "counter", tmp_path / "out"
    report, rep = run_one(outdir, lambda: getattr(r, rule)(counter=str(counter), ok_at=3))
    node = node_of(outdir, rule)
    assert report.ran == [f"{rule}/{node.name}"] and not report.failed
    assert counter.read_text() == "3\n"  # three attempts ran, no more
    assert (node / "out.txt").read_text() == "made by attempt 3\n"
    assert (node / ".rip" / "state").read_text() == "up_to_date"
    kept = attempts(node)
    assert sorted(kept) == [1, 2, 3]
    for n, (log, metrics) in kept.items():
        assert f"attempt {n}\n" in log and log.count("attempt ") == 1, (n, log)  # its own log only
        assert metrics["exit_code"] == (0 if n == 3 else n), (n, metrics)
    assert len({m["job_id"] for _, m in kept.values()}) == 3  # three processes
    assert kept[1][1]["start"] < kept[2][1]["start"] < kept[3][1]["start"]
    # the node's own records are those of the last attempt
    assert json.loads((node / ".rip" / "metrics.json").read_text()) == kept[3][1]
    assert (node / ".rip" / "job.log").read_text() == kept[3][0]
    said = rep.stream.getvalue()  # type: ignore[attr-defined]
    assert "failed (exit code 1); attempt 2 of 3" in said and "failed (exit code 2); attempt 3 of 3" in said, said
    # the next run trusts the result
    again, _ = run_one(outdir, lambda: getattr(r, rule)(counter=str(counter), ok_at=3))
    assert again.ran == [] and counter.read_text() == "3\n"


def test_every_attempt_failing_lists_every_exit(tmp_path: Path) -> None:
    counter, outdir = tmp_path / "counter", tmp_path / "out"
    with pytest.raises(JobFailed) as info:
        run_one(outdir, lambda: r.flaky(counter=str(counter), ok_at=NEVER))
    text = str(info.value)
    assert "failed after 3 attempts: attempt 1: exit code 1; attempt 2: exit code 2; attempt 3: exit code 3" in text
    node = node_of(outdir, "flaky")
    assert counter.read_text() == "3\n"
    assert (node / ".rip" / "state").read_text() == "failed"
    assert {n: m["exit_code"] for n, (_, m) in attempts(node).items()} == {1: 1, 2: 2, 3: 3}
    assert not (node / "out.txt").exists()


def test_a_rerun_keeps_only_its_own_attempts(tmp_path: Path) -> None:
    """Run 1 fails all three attempts; run 2 (same job) succeeds at once.  ``.rip/attempts/``
    must then describe run 2, whose last attempt succeeded, not mix in run 1's failures."""
    counter, outdir = tmp_path / "counter", tmp_path / "out"
    with pytest.raises(JobFailed):
        run_one(outdir, lambda: r.flaky(counter=str(counter), ok_at=4))
    report, _ = run_one(outdir, lambda: r.flaky(counter=str(counter), ok_at=4))
    node = node_of(outdir, "flaky")
    assert report.ran == [f"flaky/{node.name}"] and counter.read_text() == "4\n"
    kept = attempts(node)
    runs = {n: m["run_id"] for n, (_, m) in kept.items()}
    assert set(runs.values()) == {report.run_id}, f"attempts of an earlier run kept beside this run's: {runs}"
    last = max(kept)
    assert kept[last][1]["exit_code"] == 0, f"the last kept attempt ({last}) failed, the job is up to date"


def test_run_wide_retries_are_the_default_and_a_rules_own_win(tmp_path: Path) -> None:
    counters = {name: tmp_path / f"{name}.count" for name in ("plain", "own3", "own0")}
    dag = DAG(str(tmp_path / "out"))
    P = Pipeline()
    P.plain = r.plain(counter=str(counters["plain"]), ok_at=NEVER)  # run-wide: 1 retry
    P.own3 = r.own3(counter=str(counters["own3"]), ok_at=4)  # its own 3 beat the run's 1
    P.own0 = r.own0(counter=str(counters["own0"]), ok_at=NEVER)  # its own 0 beats the run's 1
    dag.add(P)
    with pytest.raises(ExceptionGroup) as info:
        dag.execute(retries=1, keep_going=True, progress=quiet())
    failures = {e.job.rule.name: str(e) for e in info.value.exceptions}
    assert sorted(failures) == ["own0", "plain"]
    assert "failed after 2 attempts: attempt 1: exit code 1; attempt 2: exit code 2" in failures["plain"]
    assert "failed after" not in failures["own0"] and "exit code 1" in failures["own0"]
    assert {k: int(p.read_text()) for k, p in counters.items()} == {"plain": 2, "own3": 4, "own0": 1}
    assert P.own3.path.read_text() == "made by attempt 4\n"


def test_callable_constraints_are_evaluated_per_attempt(tmp_path: Path) -> None:
    ram_calls.clear()
    outdir = tmp_path / "out"
    run_one(outdir, lambda: r.grows(counter=str(tmp_path / "counter"), ok_at=3), resource_caps={"threads": 4})
    kept = attempts(node_of(outdir, "grows"))
    for n in (1, 2, 3):
        log, metrics = kept[n]
        assert f"attempt {n} ram={4 * n * 1024**3} threads={n}\n" in log, (n, log)
        assert metrics["threads"] == n
    assert sorted(set(ram_calls)) == [1, 2, 3]


def test_constraints_never_enter_the_fingerprint(tmp_path: Path) -> None:
    """The same rule with no constraints, constant ones, or per-attempt ones: one folder."""
    variants: list[dict[str, Any]] = [
        {},
        {"ram": "4Gi", "threads": 2, "retries": 1, "time": "1h"},
        {"ram": lambda a: f"{4 * a}Gi", "threads": lambda a: a, "time": lambda a: 60 * a, "retries": 3},
    ]
    keys, ran = [], []
    for constraints in variants:
        rules = Rules()
        rules.register("same", Inputs(word=str), Outputs(out=Out), "echo {word} > {out}", Constraints(**constraints))
        dag = DAG(str(tmp_path / "out"))
        P = Pipeline()
        P.out = rules.same(word="hello")
        dag.add(P)
        keys.append(P.out.job.key)
        ran.append(dag.execute(progress=quiet()).ran)
    assert keys[0] == keys[1] == keys[2]
    assert ran == [[keys[0]], [], []]  # written once, then up to date for every variant


DRIVER = """
from __future__ import annotations

import sys
from necroflow import DAG, NodeType, Pipeline, Rules

class Out(NodeType):
    filename = "out.txt"

r = Rules()

@r.command("n=$(($(cat {counter} 2>/dev/null || echo 0) + 1)); echo $n > {counter}; echo $$ > {counter}.pid; "
           "echo started; sleep 60; echo done > {out}", retries=2)
def hangs(counter: str) -> Out[out]:
    "Hangs until stopped; would be retried twice after a failure."

dag = DAG(sys.argv[1])
P = Pipeline()
P.out = r.hangs(counter=sys.argv[2])
dag.add(P)
dag.execute()
"""


def test_ctrl_c_is_not_retried(tmp_path: Path, script: Callable[..., Path],
                               spawn_python: Callable[..., subprocess.Popen[str]]) -> None:
    outdir, counter = tmp_path / "out", tmp_path / "counter"
    proc = spawn_python(script(DRIVER), outdir, counter)
    log = None
    deadline = time.monotonic() + 30
    while log is None or "started" not in log.read_text():
        assert time.monotonic() < deadline, "the job did not start"
        assert proc.poll() is None, proc.communicate()
        found = list(outdir.glob("hangs/*/.rip/job.log"))
        log = found[0] if found else None
        time.sleep(0.02)
    node = log.parent.parent
    pgid = int((tmp_path / "counter.pid").read_text())  # the job's shell: its process group
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err, (proc.returncode, err)
    assert counter.read_text() == "1\n", "a second attempt started after Ctrl-C"
    assert "attempt 2" not in err, err
    assert not (node / ".rip" / "attempts" / "2").exists()
    assert (node / ".rip" / "state").read_text() == "interrupted"
    assert not (node / "out.txt").exists()
    assert not group_alive(pgid)


def test_a_timed_out_job_is_retried(tmp_path: Path) -> None:
    outdir, counter = tmp_path / "out", tmp_path / "counter"
    t0 = time.monotonic()
    report, rep = run_one(outdir, lambda: r.slow_once(counter=str(counter)))
    took = time.monotonic() - t0
    node = node_of(outdir, "slow_once")
    assert report.ran == [f"slow_once/{node.name}"]
    assert (node / "out.txt").read_text() == "made by attempt 2\n"
    assert took < 10, f"took {took:.1f}s: the 1 s limit did not stop the first attempt"
    kept = attempts(node)
    assert sorted(kept) == [1, 2]
    log1, m1 = kept[1]
    assert m1.get("timed_out") is True and m1.get("time_limit") == 1, m1
    assert "ran out of time after 1s" in log1, log1
    assert "timed_out" not in kept[2][1] and kept[2][1]["exit_code"] == 0
    assert "failed (ran out of time after 1s); attempt 2 of 2" in rep.stream.getvalue()  # type: ignore[attr-defined]


# --- bad values -------------------------------------------------------------------------------


def test_bad_run_values_are_clear_errors_before_anything_runs(tmp_path: Path) -> None:
    outdir = tmp_path / "out"

    def execute(**options: Any) -> None:
        run_one(outdir, lambda: r.plain(counter=str(tmp_path / "counter"), ok_at=1), **options)

    with pytest.raises(ValueError, match=r"retries=-1: give a non-negative number of retries"):
        execute(retries=-1)
    with pytest.raises(ValueError, match=r"retries=True"):
        execute(retries=True)
    with pytest.raises(ValueError, match=r"'soon'") as info:
        execute(time_limit="soon")
    assert "2h" in str(info.value) or "seconds" in str(info.value), info.value  # says what would do
    assert not outdir.exists() and not (tmp_path / "counter").exists()


def test_bad_constraint_values_name_the_rule(tmp_path: Path) -> None:
    rules = Rules()
    with pytest.raises(ConstraintError, match=r"rule 'part'.*partition cannot depend on the attempt"):
        rules.register("part", Inputs(), Outputs(out=Out), "true > {out}", Constraints("part", partition=lambda a: "x"))
    with pytest.raises(ConstraintError, match=r"rule 'dec'.*partition"):
        @rules.command("true > {out}", partition=lambda a: "long")
        def dec() -> Out[out]:  # noqa: F821
            """A partition per attempt: refused."""
    with pytest.raises(ConstraintError, match=r"rule 'neg'.*retries=-1 must be a non-negative integer"):
        @rules.command("true > {out}", retries=-1)
        def neg() -> Out[out]:  # noqa: F821
            """Negative retries: refused."""
    with pytest.raises(ConstraintError, match=r"retries cannot depend on the attempt"):
        @rules.command("true > {out}", retries=lambda a: a)
        def fn() -> Out[out]:  # noqa: F821
            """Retries per attempt: refused."""


def test_a_per_attempt_value_that_is_not_an_amount_names_rule_and_attempt(tmp_path: Path) -> None:
    rules = Rules()

    @rules.command("echo ran > {out}", ram=lambda a: "lots" if a == 1 else "1Gi")
    def greedy() -> Out[out]:  # noqa: F821
        """Its first attempt's ram is no amount."""

    outdir = tmp_path / "out"
    dag = DAG(str(outdir))
    P = Pipeline()
    P.out = rules.greedy()
    dag.add(P)
    with pytest.raises(ConstraintError, match=r"rule 'greedy'.*attempt 1.*ram='lots' is not an amount"):
        dag.execute(progress=quiet())
    assert not list(outdir.glob("greedy/*/out.txt"))
    states = [p.read_text() for p in outdir.glob("greedy/*/.rip/state")]
    assert "running" not in states, states


# --- the command line -------------------------------------------------------------------------

FACTORY = '''
from __future__ import annotations

from necroflow import NodeType, Pipeline, Rules


class Out(NodeType):
    """What a job wrote."""

    filename = "out.txt"


R = Rules()


@R.command("n=$(($(cat {counter} 2>/dev/null || echo 0) + 1)); echo $n > {counter}; echo attempt $n; "
           "[ $n -ge 3 ] || exit $n; echo ok > {out}")
def flaky(counter: str) -> Out[out]:
    """Fails twice; no retries of its own."""


@R.command("sleep 60; echo done > {out}", time="1h")
def hangs(tag: str) -> Out[out]:
    """Hangs; its own limit is an hour."""


def flaky_pipeline(config, R):
    P = Pipeline()
    P.out = R.flaky(counter=config["counter"])
    return P


def hang_pipeline(config, R):
    P = Pipeline()
    P.out = R.hangs(tag=config["tag"])
    return P
'''


def necroflow_cli() -> list[str]:
    script = Path(sys.executable).with_name("necroflow")
    if script.exists():
        return [str(script)]
    found = shutil.which("necroflow")
    return [found] if found else [sys.executable, "-m", "necroflow.cli"]


def test_cli_retries_and_time_limit(tmp_path: Path) -> None:
    (tmp_path / "factory.py").write_text(FACTORY)
    counter = tmp_path / "counter"
    (tmp_path / "flaky_job.toml").write_text(f'".pipeline" = "factory.py:flaky_pipeline"\ncounter = "{counter}"\n')
    (tmp_path / "hang_job.toml").write_text('".pipeline" = "factory.py:hang_pipeline"\ntag = "x"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("NECROFLOW_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    calls = {
        "retries": ["--outdir", "o1", "--retries", "2", "flaky_job.toml"],
        "time": ["--outdir", "o2", "--time-limit", "2s", "hang_job.toml"],
        "bad_retries": ["--outdir", "o3", "--retries", "-1", "flaky_job.toml"],
        "bad_time": ["--outdir", "o4", "--time-limit", "soon", "hang_job.toml"],
    }
    t0 = time.monotonic()
    procs = {name: subprocess.Popen([*necroflow_cli(), "run", "-q", *args], cwd=tmp_path, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
             for name, args in calls.items()}
    done = {}
    for name, p in procs.items():
        out, err = p.communicate(timeout=60)
        done[name] = (p.returncode, out + err, time.monotonic() - t0)
    code, text, _ = done["retries"]
    assert code == 0, text
    node = node_of(tmp_path / "o1", "flaky")
    assert sorted(attempts(node)) == [1, 2, 3] and counter.read_text() == "3\n"
    assert (node / "out.txt").read_text() == "ok\n"
    code, text, took = done["time"]
    assert code == 1 and "ran out of time after 2s" in text, text
    assert took < 15, f"--time-limit 2s stopped the job after {took:.1f}s"
    assert json.loads((node_of(tmp_path / "o2", "hangs") / ".rip" / "metrics.json").read_text())["timed_out"] is True
    code, text, _ = done["bad_retries"]
    assert code == 2 and "--retries" in text and "Traceback" not in text, text
    code, text, _ = done["bad_time"]
    assert code == 2 and "soon" in text and "Traceback" not in text, text
    assert not (tmp_path / "o3" / "flaky").exists() and not (tmp_path / "o4" / "hangs").exists()
