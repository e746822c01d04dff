"""Issue 2, "Execution": parallelism, caps, schedulers, failures, autoclean, shell safety, placeholders."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
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
    fifo_scheduler,
    parse_resource,
    resolve_command,
    store,
)
from necroflow.backends.local import LocalBackend
from necroflow.runs import normalise_caps


class Stamp(NodeType):
    """Start and end times of a job (seconds since the epoch)."""

    filename = "stamp.txt"


class Out(NodeType):
    filename = "out.txt"


class Mid(NodeType):
    filename = "mid.txt"


STAMP = "date +%s.%N > {stamp}; sleep {t}; date +%s.%N >> {stamp}"


def stamp_rule(R: Rules, name: str, **constraints: Any) -> None:
    R.register(name, Inputs(tag=str, t=float), Outputs(stamp=Stamp), STAMP, Constraints(**constraints))


def interval(node: Any) -> tuple[float, float]:
    a, b = node.path.read_text().split()
    return float(a), float(b)


def overlap(x: tuple[float, float], y: tuple[float, float]) -> bool:
    return x[0] < y[1] and y[0] < x[1]


def execute(*pipelines: Pipeline, outdir: Path, **kw: Any) -> Any:
    dag = DAG(outdir)
    for p in pipelines:
        dag.add(p)
    kw.setdefault("progress", Reporter(stream=open(os.devnull, "w")))  # noqa: SIM115
    return dag.execute(**kw)


def wait_dead(pgid: int, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return True
        time.sleep(0.02)
    return False


# -- parallelism and caps ---------------------------------------------------------------------

def test_independent_jobs_run_in_parallel(outdir: Path) -> None:
    R = Rules()
    stamp_rule(R, "nap")
    P = Pipeline()
    P.a, P.b = R.nap(tag="a", t=0.3), R.nap(tag="b", t=0.3)
    t0 = time.monotonic()
    execute(P, outdir=outdir, resource_caps={"threads": 2})
    assert time.monotonic() - t0 < 0.55
    assert overlap(interval(P.a), interval(P.b))


def test_threads_cap_one_serialises(outdir: Path) -> None:
    R = Rules()
    stamp_rule(R, "nap")
    P = Pipeline()
    P.a, P.b, P.c = (R.nap(tag=x, t=0.1) for x in "abc")
    execute(P, outdir=outdir, resource_caps={"threads": 1})
    ivs = [interval(n) for n in (P.a, P.b, P.c)]
    assert not any(overlap(x, y) for i, x in enumerate(ivs) for y in ivs[i + 1:])


def test_thread_demands_add_up_against_the_cap(outdir: Path) -> None:
    R = Rules()
    stamp_rule(R, "two", threads=2)
    P = Pipeline()
    P.a, P.b = R.two(tag="a", t=0.2), R.two(tag="b", t=0.2)
    execute(P, outdir=outdir, resource_caps={"threads": 3})
    assert not overlap(interval(P.a), interval(P.b))


def test_ram_and_user_key_caps_are_respected(outdir: Path) -> None:
    R = Rules()
    stamp_rule(R, "big_ram", ram="600M")
    stamp_rule(R, "gpu", gpus=1)
    P = Pipeline()
    P.r1, P.r2 = R.big_ram(tag="1", t=0.2), R.big_ram(tag="2", t=0.2)
    P.g1, P.g2 = R.gpu(tag="1", t=0.2), R.gpu(tag="2", t=0.2)
    execute(P, outdir=outdir, resource_caps={"threads": 4, "ram": parse_resource("1G"), "gpus": 1})
    assert not overlap(interval(P.r1), interval(P.r2))
    assert not overlap(interval(P.g1), interval(P.g2))


def test_keys_without_a_cap_are_unlimited(outdir: Path) -> None:
    R = Rules()
    stamp_rule(R, "gpu", gpus=8, ram="1Pi")
    P = Pipeline()
    P.a, P.b = R.gpu(tag="1", t=0.3), R.gpu(tag="2", t=0.3)
    execute(P, outdir=outdir, resource_caps={"threads": 2})
    assert overlap(interval(P.a), interval(P.b))


def test_default_thread_cap_is_all_cpus() -> None:
    local = LocalBackend().capacity()
    assert local == {"threads": len(os.sched_getaffinity(0))}
    assert normalise_caps(None, local) == local
    assert normalise_caps({"threads": "all"}, local) == local
    assert normalise_caps({"threads": "all"}, None) == {}  # a cluster: no cap unless given
    assert normalise_caps({"threads": 3, "ram": "64Gi"}) == {"threads": 3, "ram": 64 * 1024**3}
    with pytest.raises(ValueError, match="resource cap ram='lots'"):
        normalise_caps({"ram": "lots"})
    with pytest.raises(ValueError, match="resource cap threads=0"):
        normalise_caps({"threads": 0})


def test_oversize_job_runs_alone(outdir: Path) -> None:
    R = Rules()
    stamp_rule(R, "small")
    stamp_rule(R, "huge", threads=8)
    P = Pipeline()
    P.s1, P.big, P.s2, P.s3 = R.small(tag="1", t=0.2), R.huge(tag="h", t=0.2), R.small(tag="2", t=0.2), R.small(tag="3", t=0.2)
    execute(P, outdir=outdir, resource_caps={"threads": 2}, scheduler=fifo_scheduler)
    big = interval(P.big)
    for n in (P.s1, P.s2, P.s3):
        assert not overlap(big, interval(n))
    # not starved: it started before the small jobs queued behind it
    assert big[0] < interval(P.s2)[0] and big[0] < interval(P.s3)[0]


# -- schedulers -------------------------------------------------------------------------------

def test_custom_scheduler_from_the_seed(outdir: Path) -> None:
    def my_scheduler(ready: Sequence[Any], remaining: Any) -> list[Any]:
        return sorted(ready, key=lambda n: n.rule.constraints.get("threads", 1), reverse=True)

    R = Rules()
    stamp_rule(R, "thin")
    stamp_rule(R, "wide", threads=4)

    def pipeline() -> Pipeline:
        P = Pipeline()
        P.a, P.b, P.wide = R.thin(tag="a", t=0.15), R.thin(tag="b", t=0.15), R.wide(tag="w", t=0.15)
        return P

    P = pipeline()
    execute(P, outdir=outdir / "custom", resource_caps={"threads": 4}, scheduler=my_scheduler)
    assert interval(P.wide)[1] <= min(interval(P.a)[0], interval(P.b)[0])
    Q = pipeline()
    execute(Q, outdir=outdir / "fifo", resource_caps={"threads": 4}, scheduler=fifo_scheduler)
    assert overlap(interval(Q.a), interval(Q.b))
    assert interval(Q.wide)[0] >= max(interval(Q.a)[1], interval(Q.b)[1])


def _two_samples(R: Rules, log: Path) -> Pipeline:
    """Two samples (first -> second) wired in one pipeline, attributes interleaved."""
    R.register("first", Inputs(s=str, log=str), Outputs(mid=Mid), "echo first-{s} >> {log}; touch {mid}")
    R.register("second", Inputs(mid=Mid, s=str, log=str), Outputs(out=Out), "echo second-{s} >> {log}; touch {out}")
    P = Pipeline()
    P.a1, P.a2 = R.first(s="1", log=str(log)), R.first(s="2", log=str(log))
    P.b1, P.b2 = R.second(P.a1, s="1", log=str(log)), R.second(P.a2, s="2", log=str(log))
    return P


def test_fifo_is_topological_insertion_order(outdir: Path, tmp_path: Path) -> None:
    log = tmp_path / "order.log"
    execute(_two_samples(Rules(), log), outdir=outdir, resource_caps={"threads": 1}, scheduler=fifo_scheduler)
    assert log.read_text().split() == ["first-1", "first-2", "second-1", "second-2"]


def test_default_scheduler_finishes_a_component_before_starting_the_next(outdir: Path, tmp_path: Path) -> None:
    log = tmp_path / "order.log"
    execute(_two_samples(Rules(), log), outdir=outdir, resource_caps={"threads": 1})
    assert log.read_text().split() == ["first-1", "second-1", "first-2", "second-2"]


def test_scheduler_gets_a_live_view_of_remaining_work(outdir: Path) -> None:
    seen: list[tuple[int, int, bool]] = []

    def spy(ready: Sequence[Any], remaining: Any) -> list[Any]:
        seen.append((id(remaining), len(remaining), all(j in remaining for j in ready)))
        return list(reversed(ready))

    R = Rules()
    stamp_rule(R, "nap")
    R.register("join", Inputs(a=Stamp, b=Stamp, c=Stamp), Outputs(out=Out), "cat {a} {b} {c} > {out}")
    P = Pipeline()
    xs = [R.nap(tag=str(i), t=0.0) for i in range(6)]
    P.j1 = R.join(*xs[:3])
    P.j2 = R.join(*xs[3:])
    execute(P, outdir=outdir, resource_caps={"threads": 1}, scheduler=spy)
    assert len(seen) >= 3
    assert len({i for i, _, _ in seen}) == 1  # the same object every call, not a fresh copy
    assert all(ok for _, _, ok in seen)
    sizes = [n for _, n, _ in seen]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == 8 and sizes[-1] < 8


def test_a_scheduler_that_returns_nothing_is_an_error_not_a_hang(outdir: Path) -> None:
    R = Rules()
    stamp_rule(R, "nap")
    P = Pipeline()
    P.a, P.b = R.nap(tag="a", t=0.0), R.nap(tag="b", t=0.0)
    t0 = time.monotonic()
    with pytest.raises(TypeError, match="scheduler returned none of the 2 ready jobs"):
        execute(P, outdir=outdir, scheduler=lambda ready, remaining: [])
    assert time.monotonic() - t0 < 5


def test_no_scheduler_state_survives_between_runs(outdir: Path, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    R = Rules()
    R.register("gate", Inputs(flag=str), Outputs(out=Out), "test -e {flag} && touch {out}", Constraints(threads=64))
    R.register("free", Inputs(i=int), Outputs(mid=Mid), "touch {mid}")
    P = Pipeline()
    P.gate = R.gate(flag=str(flag))  # oversize and failing: the run ends while it is "solo"
    P.f = R.free(i=1)
    dag = DAG(outdir)
    dag.add(P)
    quiet = Reporter(stream=open(os.devnull, "w"))  # noqa: SIM115
    with pytest.raises(JobFailed):
        dag.execute(resource_caps={"threads": 2}, scheduler=fifo_scheduler, progress=quiet)
    flag.touch()
    report = dag.execute(resource_caps={"threads": 2}, scheduler=fifo_scheduler, progress=quiet)
    assert {k.split("/")[0] for k in report.ran} >= {"gate"}
    assert dag.execute(progress=quiet).ran == []


# -- failures ---------------------------------------------------------------------------------

def test_exit_zero_without_output_is_a_failure_and_the_log_is_shown(outdir: Path, quiet: Reporter) -> None:
    R = Rules()
    R.register("liar", Inputs(), Outputs(out=Out), "echo 'pretending to work'; echo oops >&2")
    P = Pipeline()
    P.out = R.liar()
    with pytest.raises(JobFailed, match=r"liar.*did not write declared output\(s\): out.txt") as e:
        execute(P, outdir=outdir, progress=quiet)
    assert e.value.log_path == P.out.path.parent / ".rip" / "job.log"
    assert store.read_state(P.out.path.parent) == "failed"
    shown = quiet.stream.getvalue()
    assert "FAILED liar/" in shown and "pretending to work" in shown and "oops" in shown


def test_nonzero_exit_fails_and_a_later_run_retries(outdir: Path, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    R = Rules()
    R.register("flaky", Inputs(flag=str), Outputs(out=Out), "test -e {flag} || exit 3; touch {out}")
    P = Pipeline()
    P.out = R.flaky(flag=str(flag))
    with pytest.raises(JobFailed, match="exit code 3"):
        execute(P, outdir=outdir)
    flag.touch()
    assert [k.split("/")[0] for k in execute(P, outdir=outdir).ran] == ["flaky"]


def test_first_failure_raises_at_once_and_stops_running_siblings(outdir: Path, tmp_path: Path) -> None:
    pidfile = tmp_path / "sibling.pid"
    R = Rules()
    R.register("slow", Inputs(pidfile=str), Outputs(out=Out), "echo $$ > {pidfile}; sleep 30; touch {out}")
    R.register("bad", Inputs(), Outputs(mid=Mid), "sleep 0.3; exit 1")
    R.register("after", Inputs(mid=Mid), Outputs(out=Out), "touch {out}")
    R.register("queued", Inputs(i=int), Outputs(out=Out), "touch {out}")
    P = Pipeline()
    P.slow = R.slow(pidfile=str(pidfile))
    P.bad = R.bad()
    P.after = R.after(P.bad)
    P.queued = R.queued(i=1)  # waits for a free thread, which never comes before the failure
    t0 = time.monotonic()
    with pytest.raises(JobFailed, match="exit code 1"):
        execute(P, outdir=outdir, resource_caps={"threads": 2}, scheduler=fifo_scheduler)
    assert time.monotonic() - t0 < 5
    assert store.read_state(P.slow.path.parent) == "interrupted"
    assert store.read_state(P.bad.path.parent) == "failed"
    pgid = int(pidfile.read_text())
    assert wait_dead(pgid), "the sibling's process group still runs"
    assert not P.after.path.parent.exists() and not P.queued.path.parent.exists()
    # the lock was released: the next run can start and redoes the interrupted sibling
    plan = DAG(outdir).add(P).plan()
    assert plan.entries[P.slow.fingerprint].state.value == "INTERRUPTED"


def test_keep_going_collects_failures_and_skips_dependants(outdir: Path) -> None:
    R = Rules()
    R.register("bad", Inputs(i=int), Outputs(mid=Mid), "echo failing {i}; exit 2")
    R.register("after", Inputs(mid=Mid), Outputs(out=Out), "touch {out}")
    R.register("good", Inputs(i=int), Outputs(mid=Mid), "sleep 0.2; echo {i} > {mid}")
    P = Pipeline()
    P.b1, P.b2 = R.bad(i=1), R.bad(i=2)
    P.a1, P.a2 = R.after(P.b1), R.after(P.b2)
    P.g = R.good(i=3)
    P.g_after = R.after(P.g)
    with pytest.raises(ExceptionGroup) as e:
        execute(P, outdir=outdir, keep_going=True, resource_caps={"threads": 2})
    fails = e.value.exceptions
    assert len(fails) == 2 and all(isinstance(x, JobFailed) for x in fails)
    assert {x.job.fingerprint for x in fails} == {P.b1.fingerprint, P.b2.fingerprint}  # type: ignore[attr-defined]
    assert P.g_after.path.exists()
    assert not P.a1.path.parent.exists() and not P.a2.path.parent.exists()


# -- autoclean --------------------------------------------------------------------------------

def _chain(R: Rules, word: str) -> Pipeline:
    P = Pipeline()
    P.first = R.first(word=word)
    P.last = R.last(R.middle(P.first))
    return P


@pytest.fixture
def chain_rules() -> Rules:
    R = Rules()
    R.register("first", Inputs(word=str), Outputs(mid=Mid), "echo {word} > {mid}")
    R.register("middle", Inputs(mid=Mid), Outputs(stamp=Stamp), "tr a-z A-Z < {mid} > {stamp}")
    R.register("last", Inputs(stamp=Stamp), Outputs(out=Out), "cat {stamp} {stamp} > {out}")
    return R


def test_autoclean_removes_orphans_and_intermediates_and_keeps_records(outdir: Path, chain_rules: Rules) -> None:
    old = _chain(chain_rules, "old")
    execute(old, outdir=outdir)
    P = _chain(chain_rules, "new")
    report = execute(P, outdir=outdir, autoclean=True)
    for orphan in (old.first, old.last):
        assert not orphan.path.parent.exists()
    middle = P.last.parents[0]
    for inter in (P.first, middle):
        assert not inter.path.exists()
        assert store.read_state(inter.path.parent) == "cleaned"
        assert (inter.path.parent / ".rip" / f"{inter.filename}.hash").exists()
    assert P.last.path.read_text() == "NEW\nNEW\n"
    assert str(P.first.path) in report.cleaned
    # the same request again: cleaned intermediates count as satisfied
    assert execute(_chain(chain_rules, "new"), outdir=outdir).ran == []
    assert execute(_chain(chain_rules, "new"), outdir=outdir, autoclean=True).ran == []


def test_cleaned_intermediates_are_rebuilt_when_a_consumer_must_rerun(outdir: Path, chain_rules: Rules) -> None:
    P = _chain(chain_rules, "word")
    execute(P, outdir=outdir, autoclean=True)
    P.last.path.unlink()
    ran = [k.split("/")[0] for k in execute(_chain(chain_rules, "word"), outdir=outdir).ran]
    assert ran == ["first", "middle", "last"]
    assert P.last.path.read_text() == "WORD\nWORD\n" and P.first.path.exists()


def test_requested_outputs_are_never_cleaned(outdir: Path, chain_rules: Rules) -> None:
    P = _chain(chain_rules, "keep")
    dag = DAG(outdir)
    dag.add(P, requests=["first", "last"])
    dag.execute(autoclean=True, progress=Reporter(stream=open(os.devnull, "w")))  # noqa: SIM115
    assert P.first.path.exists() and P.last.path.exists()
    assert not P.last.parents[0].path.exists()  # the unrequested middle is gone
    # now ask for the cleaned middle: it is rebuilt
    dag2 = DAG(outdir)
    P2 = _chain(chain_rules, "keep")
    P2.middle = P2.last.parents[0]
    dag2.add(P2, requests=["middle"])
    assert [k.split("/")[0] for k in dag2.execute(progress=Reporter(stream=open(os.devnull, "w"))).ran] == ["middle"]  # noqa: SIM115


def test_without_autoclean_orphans_stay(outdir: Path, chain_rules: Rules) -> None:
    old = _chain(chain_rules, "old")
    execute(old, outdir=outdir)
    report = execute(_chain(chain_rules, "new"), outdir=outdir, dry_run=True, autoclean=True)
    assert len(report.plan.orphans) == 3
    execute(_chain(chain_rules, "new"), outdir=outdir)
    assert old.last.path.exists()


# -- commands: environment, quoting, placeholders ---------------------------------------------

def test_jobs_run_in_the_node_folder_with_the_callers_environment(outdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NECROFLOW_TEST_VALUE", "inherited")
    R = Rules()
    R.register("env", Inputs(), Outputs(out=Out), 'printf "%s %s" "$NECROFLOW_TEST_VALUE" "$(pwd)" > {out}')
    P = Pipeline()
    P.out = R.env()
    execute(P, outdir=outdir)
    value, cwd = P.out.path.read_text().split(" ", 1)
    assert value == "inherited" and Path(cwd) == P.out.path.parent


HOSTILE = ["x; touch pwned", "$(touch pwned2)", "`touch pwned3`", "it's \"quoted\"", "two\nlines", "*", "~",
           "a\\b", "-n", "", "  spaced  ", "${HOME}", "|| touch pwned4 &"]


def test_params_and_paths_are_shell_quoted(tmp_path: Path) -> None:
    outdir = tmp_path / "out dir; touch pwned5"
    R = Rules()
    R.register("echo", Inputs(v=str), Outputs(out=Out), "printf '%s' {v} > {out}")
    R.register("many", Inputs(vs=list, opts=dict), Outputs(out=Out), "printf '%s\\n' {vs} {opts} > {out}")
    P = Pipeline()
    for i, v in enumerate(HOSTILE):
        setattr(P, f"v{i}", R.echo(v=v))
    P.many = R.many(vs=["a b", "$(touch pwned6)", 3], opts={"k": "v; touch pwned7"})
    execute(P, outdir=outdir)
    for i, v in enumerate(HOSTILE):
        assert getattr(P, f"v{i}").path.read_text() == v
    assert P.many.path.read_text().splitlines() == ["a b", "$(touch pwned6)", "3", '{"k": "v; touch pwned7"}']
    found = [p for p in tmp_path.rglob("pwned*")] + [p for p in Path.cwd().glob("pwned*")]
    assert found == []


def test_threads_placeholder_resolves_to_the_constraint_and_stays_out_of_the_hash(outdir: Path) -> None:
    def rule(threads: int) -> Any:
        R = Rules()
        R.register("mt", Inputs(), Outputs(out=Out), "echo -t {threads} {ram} > {out}",
                   Constraints(threads=threads, ram="2Ki"))
        return R.mt()

    two, four = rule(2), rule(4)
    assert two.fingerprint == four.fingerprint
    P = Pipeline()
    P.out = four
    execute(P, outdir=outdir, resource_caps={"threads": 4})
    assert resolve_command(four).startswith("echo -t 4 2048 > ")
    assert four.path.read_text() == "-t 4 2048\n"
    R = Rules()
    R.register("t1", Inputs(), Outputs(out=Out), "echo {threads} > {out}")
    assert resolve_command(DAG(outdir).add(_single(R.t1())).jobs[R.t1().fingerprint]).startswith("echo 1 > ")


def _single(node: Any) -> Pipeline:
    P = Pipeline()
    P.x = node
    return P


def test_raw_opt_out_passes_shell_syntax_through(outdir: Path) -> None:
    R = Rules()
    R.register("raw", Inputs(filt=str), Outputs(out=Out), "echo hello world | {filt:raw} > {out}")
    R.register("quoted", Inputs(filt=str), Outputs(out=Out), "echo {filt} > {out}")
    P = Pipeline()
    P.raw = R.raw(filt="tr a-z A-Z | rev")
    P.quoted = R.quoted(filt="tr a-z A-Z | rev")
    execute(P, outdir=outdir)
    assert P.raw.path.read_text() == "DLROW OLLEH\n"
    assert P.quoted.path.read_text() == "tr a-z A-Z | rev\n"
    from necroflow.rules import RuleError

    with pytest.raises(RuleError, match="only allowed on literal params"):
        Rules().register("bad", Inputs(x=Out), Outputs(m=Mid), "cat {x:raw} > {m}")


def test_parse_resource_si_and_binary_suffixes() -> None:
    assert parse_resource("8Gi") == 8 * 1024**3
    assert parse_resource("8G") == 8 * 1000**3
    assert parse_resource("1.5Ti") == 3 * 1024**4 // 2
    assert parse_resource("512") == parse_resource(512) == 512
    assert [parse_resource(f"1{u}") for u in "KMGTP"] == [1000**n for n in range(1, 6)]
    assert [parse_resource(f"1{u}i") for u in "KMGTP"] == [1024**n for n in range(1, 6)]
    for bad in ("lots", "-1", "1.5", "8 Gix", True, None):
        with pytest.raises(ValueError, match="invalid resource value"):
            parse_resource(bad)  # type: ignore[arg-type]


def test_a_deep_chain_executes_and_provenance_stays_bounded(outdir: Path) -> None:
    import tomllib

    R = Rules()
    R.register("start", Inputs(), Outputs(mid=Mid), "echo 0 > {mid}")
    R.register("inc", Inputs(mid=Mid), Outputs(out=Out), "echo $(( $(cat {mid}) + 1 )) > {out}")
    R.register("back", Inputs(out=Out), Outputs(mid=Mid), "cp {out} {mid}")
    node = R.start()
    for _ in range(105):
        node = R.back(R.inc(node))
    P = Pipeline()
    P.end = node
    report = execute(P, outdir=outdir)
    assert len(report.ran) == 211
    assert node.path.read_text() == "105\n"
    deps = tomllib.loads((node.path.parent / ".rip" / "dependencies.toml").read_text())
    assert deps["upstream_truncated"] is True and len(deps["upstream"]) == 200
    assert execute(P, outdir=outdir).ran == []


def test_autoclean_keeps_what_a_failed_consumer_still_needs(outdir: Path) -> None:
    R = Rules()
    R.register("first", Inputs(word=str), Outputs(mid=Mid), "echo {word} > {mid}")
    R.register("last", Inputs(mid=Mid), Outputs(out=Out), "grep -v fail {mid} > {out}")
    P = Pipeline()
    P.ok = R.last(R.first(word="fine"))
    P.bad = R.last(R.first(word="fail"))
    with pytest.raises(ExceptionGroup):
        execute(P, outdir=outdir, keep_going=True, autoclean=True)
    ok_mid, bad_mid = P.ok.parents[0], P.bad.parents[0]
    assert store.read_state(ok_mid.path.parent) == "cleaned" and not ok_mid.path.exists()
    assert store.read_state(bad_mid.path.parent) == "up_to_date" and bad_mid.path.exists()
