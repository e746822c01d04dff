"""Issue 2, "Fingerprints": what the 16-character hash covers, its stability and its refusals."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from necroflow import DAG, Constraints, Inputs, NodeType, Outputs, Pipeline, Rules
from necroflow.fingerprint import UnhashableParam, canonical
from necroflow.graph import Node


class A(NodeType):
    filename = "a.txt"


class B(NodeType):
    filename = "b.txt"


class B2(NodeType):  # same filename as B, different type name
    filename = "b.txt"


class BOther(NodeType):  # same type name idea, different filename
    filename = "other.txt"


# -- strategies -------------------------------------------------------------------------------

names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda n: n != "out")
scalars = st.one_of(
    st.text(max_size=12), st.integers(-(2**63), 2**63 - 1), st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False), st.dates(),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)), max_leaves=12)
param_maps = st.dictionaries(names, values, min_size=1, max_size=4)


def rule_with(params: dict[str, Any], name: str = "r", command: str | None = None,
              out: type[NodeType] = A, **constraints: Any) -> Any:
    cmd = command if command is not None else "cmd " + " ".join(f"{{{k}}}" for k in sorted(params)) + " > {out}"
    return Rules().register(name, Inputs(**{k: object for k in params}), Outputs(out=out), cmd,
                            Constraints(**constraints))


def fp(params: dict[str, Any], **kw: Any) -> str:
    return rule_with(params, **kw)(**params).fingerprint  # type: ignore[no-any-return]


def reorder(value: Any) -> Any:
    """The same value with every dict's insertion order reversed."""
    if isinstance(value, dict):
        return {k: reorder(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reorder(v) for v in value]
    return value


# -- properties -------------------------------------------------------------------------------

# No deadline: the machine running the suite may be busy; these are properties, not benchmarks.
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(param_maps)
def test_stable_across_dict_order(params: dict[str, Any]) -> None:
    r = rule_with(params)
    assert r(**params).fingerprint == r(**reorder(params)).fingerprint


@FAST
@given(param_maps, names, values)
def test_any_param_change_changes_the_hash(params: dict[str, Any], key: str, new: Any) -> None:
    changed = dict(params)
    changed[key] = new
    r = rule_with(changed)  # a rule that accepts both param sets
    base = {k: params.get(k, new) for k in changed}
    if canonical(base, "x") == canonical(changed, "x"):
        return  # not a change (e.g. the same value drawn twice)
    assert r(**base).fingerprint != r(**changed).fingerprint


@FAST
@given(param_maps, names, names)
def test_rule_name_and_command_are_covered(params: dict[str, Any], n1: str, n2: str) -> None:
    if n1 != n2:
        assert fp(params, name=n1) != fp(params, name=n2)
    base = "cmd " + " ".join(f"{{{k}}}" for k in sorted(params)) + " > {out}"
    assert fp(params, command=base) != fp(params, command=base + " ")
    assert fp(params, command=base) != fp(params, command=base.replace("cmd", "cmd2"))


@FAST
@given(param_maps, st.integers(1, 64), st.sampled_from(["1", "8Gi", "64G"]), st.integers(0, 8))
def test_constraints_never_change_the_hash(params: dict[str, Any], threads: int, ram: str, gpus: int) -> None:
    assert fp(params) == fp(params, threads=threads, ram=ram, gpus=gpus, partition="long")


@FAST
@given(st.lists(st.tuples(names, values), min_size=1, max_size=6), st.integers(0, 5), values)
def test_a_change_anywhere_upstream_changes_every_descendant(chain: list[tuple[str, Any]], at: int,
                                                             new: Any) -> None:
    """A chain of rule calls; changing one link's param changes that link and everything below."""
    R = Rules()
    R.register("src", Inputs(v=object), Outputs(a=A), "src {v} > {a}")
    R.register("step", Inputs(a=A, v=object), Outputs(b=B), "step {a} {v} > {b}")
    R.register("back", Inputs(b=B), Outputs(a=A), "cp {b} {a}")

    def build(links: list[Any]) -> list[str]:
        node = R.src(v=links[0])
        fps = [node.fingerprint]
        for v in links[1:]:
            node = R.back(R.step(node, v=v))
            fps.append(node.fingerprint)
        return fps

    links = [v for _, v in chain]
    at %= len(links)
    if canonical(links[at], "x") == canonical(new, "x"):
        return
    changed = [*links[:at], new, *links[at + 1:]]
    a, b = build(links), build(changed)
    assert a[:at] == b[:at]
    assert all(x != y for x, y in zip(a[at:], b[at:], strict=True))


def test_declared_types_are_covered() -> None:
    def one(out: type[NodeType], inp: type[NodeType] = A) -> str:
        R = Rules()
        R.register("src", Inputs(), Outputs(a=A), "src > {a}")
        R.register("src2", Inputs(), Outputs(a=B2), "src > {a}")
        R.register("r", Inputs(x=inp), Outputs(out=out), "r {x} > {out}")
        parent = R.src() if inp is A else R.src2()
        return R.r(parent).fingerprint  # type: ignore[no-any-return]

    assert len({one(B), one(B2), one(BOther)}) == 3  # output type name and filename both count
    # an input declared as a supertype vs the exact type: different rule, different hash
    Sub = type("Sub", (A,), {"filename": "sub.txt"})
    R1, R2 = Rules(), Rules()
    for R, decl in ((R1, A), (R2, Sub)):
        R.register("src", Inputs(), Outputs(s=Sub), "src > {s}")
        R.register("r", Inputs(x=decl), Outputs(out=B), "r {x} > {out}")
    assert R1.r(R1.src()).fingerprint != R2.r(R2.src()).fingerprint


def test_parent_identity_and_which_input_it_feeds_are_covered() -> None:
    R = Rules()
    R.register("src", Inputs(v=str), Outputs(a=A), "src {v} > {a}")
    R.register("pair", Inputs(x=A, y=A), Outputs(b=B), "pair {x} {y} > {b}")
    p, q = R.src(v="p"), R.src(v="q")
    assert R.pair(p, q).fingerprint != R.pair(q, p).fingerprint
    assert R.pair(p, p).fingerprint != R.pair(p, q).fingerprint
    R.register("multi", Inputs(), Outputs(a=A, b=B), "m > {a} {b}")
    a, b = R.multi()
    R.register("take", Inputs(x=NodeType), Outputs(b=B), "take {x} > {b}")
    assert R.take(a).fingerprint != R.take(b).fingerprint  # same job, different output


def test_types_of_equal_looking_values_are_kept_apart() -> None:
    fps = {fp({"v": v}) for v in (1, 1.0, True, "1", [1], {"1": 1}, "true", [], {}, "")}
    assert len(fps) == 10
    assert fp({"v": ["a", "b"]}) != fp({"v": ["ab"]}) != fp({"v": "a,b"})


def test_dates_hash_like_their_iso_text() -> None:
    assert fp({"d": dt.date(2024, 1, 31)}) == fp({"d": "2024-01-31"})
    stamp = dt.datetime(2024, 1, 31, 12, 30, 5)
    assert fp({"d": stamp}) == fp({"d": "2024-01-31T12:30:05"})
    assert fp({"d": dt.time(7, 5)}) == fp({"d": "07:05:00"})
    assert fp({"d": [dt.date(2024, 1, 31)]}) == fp({"d": ["2024-01-31"]})
    # tuples and lists are one TOML array
    assert fp({"d": (1, 2)}) == fp({"d": [1, 2]})


@pytest.mark.parametrize("bad, words", [
    ({1, 2}, "set"), (frozenset(), "frozenset"), (None, "None"), (object(), "object"),
    (float("nan"), "nan"), (float("inf"), "inf"), ({"k": {"deep": [None]}}, r"\.k\.deep\[0\]: None"),
    ({3: "x"}, "dict key 3"), (b"bytes", "bytes"), (1j, "complex"),
])
def test_values_without_a_stable_encoding_are_refused_clearly(bad: Any, words: str) -> None:
    R = Rules()
    R.register("r", Inputs(opts=object), Outputs(out=A), "r {opts} > {out}")
    with pytest.raises(TypeError, match=rf"rule 'r': param 'opts'.*{words}"):
        R.r(opts=bad)
    assert issubclass(UnhashableParam, TypeError)


@settings(deadline=None)
@given(values)
def test_everything_hashable_can_be_written_to_dependencies_toml(value: Any) -> None:
    """Whatever the encoder accepts must never fail later when the job's records are written."""
    data = canonical(value, "p")
    text = tomli_w.dumps({"params": {"p": data}})
    assert text


def test_lone_surrogates_are_refused_at_call_time_not_at_record_time() -> None:
    R = Rules()
    R.register("r", Inputs(s=str), Outputs(out=A), "r {s} > {out}")
    with pytest.raises(TypeError, match=r"rule 'r': param 's'"):
        R.r(s="bad \udcff text")


def test_hash16_is_a_prefix_of_a_sha256() -> None:
    node = rule_with({"v": 1})(v=1)
    assert len(node.fingerprint) == 64 and int(node.fingerprint, 16) >= 0
    assert node.hash16 == node.fingerprint[:16]
    assert node.relpath == f"r/{node.hash16}/a.txt"


# -- across interpreters ----------------------------------------------------------------------

FP_SCRIPT = """
import datetime, json, sys
sys.path.insert(0, sys.argv[1])
from test_core_fingerprint import chain_fingerprints
print(json.dumps(chain_fingerprints()))
"""


def chain_fingerprints() -> list[str]:
    """A small graph with every kind of param; imported by the subprocess test."""
    R = Rules()
    R.register("src", Inputs(opts=dict, tags=list, day=dt.date), Outputs(a=A), "src {opts} {tags} {day} > {a}")
    R.register("step", Inputs(a=A, f=float, n=int, on=bool, s=str), Outputs(b=B), "step {a} {f} {n} {on} {s} > {b}")
    opts = {f"k{i}": {"x": i, "y": [i, str(i)]} for i in range(20)}  # many keys: set/dict order would show
    a = R.src(opts=opts, tags=["b", "a", "ä", "🧬"], day=dt.date(2024, 2, 29))
    b = R.step(a, f=0.1, n=-7, on=True, s="x; y")
    return [a.fingerprint, b.fingerprint]


@pytest.mark.parametrize("seeds", [("0", "12345")])
def test_stable_across_interpreters_and_hash_seeds(seeds: tuple[str, str],
                                                   run_python: Callable[..., Any]) -> None:
    here = str(Path(__file__).parent)
    outs = []
    for seed in seeds:
        p = run_python("-c", FP_SCRIPT, here, PYTHONHASHSEED=seed)
        assert p.returncode == 0, p.stderr
        outs.append(json.loads(p.stdout))
    assert outs[0] == outs[1] == chain_fingerprints()


# -- scale ------------------------------------------------------------------------------------

def test_ten_thousand_node_chain_builds_renders_and_plans(tmp_path: Path) -> None:
    assert sys.getrecursionlimit() < 10_000
    R = Rules()
    R.register("src", Inputs(), Outputs(a=A), "echo 0 > {a}")
    R.register("inc", Inputs(a=A, i=int), Outputs(b=B), "cp {a} {b}")
    R.register("back", Inputs(b=B), Outputs(a=A), "cp {b} {a}")
    t0 = time.monotonic()
    node: Node = R.src()
    for i in range(5_000):
        node = R.back(R.inc(node, i=i))
    P = Pipeline()
    P.end = node
    assert len(P.nodes) == 10_001
    dag = DAG(tmp_path / "out")
    dag.add(P)
    text = str(dag)
    assert text.startswith("10001 jobs in 10001 layers")
    report = dag.execute(dry_run=True, progress=_Null())
    assert len(report.plan.to_run) == 10_001
    assert time.monotonic() - t0 < 20


class _Null:
    """A reporter that prints nothing (the plan of 10,001 jobs is long)."""

    def on_plan(self, plan: Any, dry_run: bool) -> None:
        self.lines = plan.explain(limit=5)


def test_canonical_rejects_unknown_json_like_objects_by_name() -> None:
    class Config:
        pass

    with pytest.raises(UnhashableParam, match="Config"):
        canonical({"c": Config()}, "where")
    assert json.loads(json.dumps(canonical({"b": [dt.date(2020, 1, 1)]}, "w"))) == {"b": ["2020-01-01"]}
