"""Threads that fit the run's cap, Log-type outputs shown on failure, and ``.requests`` globs
(Python API, job TOML and the ``necroflow`` command)."""

from __future__ import annotations  # the decorator style needs it: Out[out] stays a string

# ruff: noqa: F821  (output labels such as Out[out] name outputs, not variables)
import io
import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from test_cli import many, necroflow, ok

from necroflow import (
    DAG,
    JobFailed,
    Log,
    NodeType,
    Pipeline,
    Reporter,
    Rules,
    resolve_command,
    store,
)
from necroflow.backends.local import LocalBackend
from necroflow.slots import FITS, Slots

REPO = Path(__file__).resolve().parent.parent

FACTORY = '''
from __future__ import annotations
# ruff: noqa: F821
from necroflow import Log, NodeType, Pipeline, Rules


class Raw(NodeType):
    filename = "raw.txt"


class Sorted(NodeType):
    filename = "sorted.txt"


class Merged(NodeType):
    filename = "merged.txt"


class Wide(NodeType):
    filename = "wide.txt"


class Out(NodeType):
    filename = "out.txt"


class ToolLog(Log):
    filename = "tool.log"


R = Rules()


@R.command("echo raw-{sample} > {raw}")
def make_raw(sample: str) -> Raw[raw]:
    """Per-sample intermediate, not kept."""


@R.command("sort {raw} > {sorted}")
def sort_raw(raw: Raw) -> Sorted[sorted]:
    """Per-sample intermediate to keep."""


@R.command("cat {parts} > {merged}")
def merge(parts: list[Sorted]) -> Merged[merged]:
    """All samples."""


@R.command("echo bwa -t {threads} > {wide}", threads=8)
def wide(tag: str) -> Wide[wide]:
    """Asks for more threads than -c gives it."""


@R.command("(echo tool-starting; echo tool-error-{word} >&2; exit 1) > {out} 2> {log}")
def fails(word: str) -> tuple[Out[out], ToolLog[log]]:
    """Redirects its stderr into a declared log, then fails."""


def flow(config, R):
    P = Pipeline()
    for s in config["samples"]:
        setattr(P, f"raw_{s}", R.make_raw(sample=s))
        setattr(P, f"sorted_{s}", R.sort_raw(P[f"raw_{s}"]))
    P.merged = R.merge([P[f"sorted_{s}"] for s in config["samples"]])
    P.wide = R.wide(tag="t")
    if config.get("fail"):
        P.out, P.log = R.fails(word="boom")
    return P
'''


def run(dag: DAG, **kw: Any) -> Any:
    return dag.execute(progress=Reporter(stream=io.StringIO()), **kw)


def ran_rules(report: Any) -> list[str]:
    return sorted(k.split("/")[0] for k in report.ran)


class Out(NodeType):
    filename = "out.txt"


class Stamp(NodeType):
    filename = "stamp.txt"


class ToolLog(Log):
    """A subclass of Log with its own filename."""

    filename = "tool.log"


class Data(NodeType):
    """Not a log: never shown on failure."""

    filename = "data.txt"


def thread_rules() -> Rules:
    R = Rules()

    @R.command("echo bwa -t {threads} > {out}", threads=8)
    def wide(tag: str) -> Out[out]:
        """threads=8."""

    @R.command("date +%s.%N > {stamp}; sleep {t}; date +%s.%N >> {stamp}", threads=8)
    def big(tag: str, t: float) -> Stamp[stamp]:
        """Wants 8 threads; gets the cap."""

    @R.command("date +%s.%N > {stamp}; sleep {t}; date +%s.%N >> {stamp}", threads=1)
    def small(tag: str, t: float) -> Stamp[stamp]:
        """One thread."""

    @R.command("date +%s.%N > {stamp}; sleep {t}; date +%s.%N >> {stamp}", threads=2)
    def pair(tag: str, t: float) -> Stamp[stamp]:
        """Two threads."""

    return R


def interval(node: Any) -> tuple[float, float]:
    a, b = node.path.read_text().split()
    return float(a), float(b)


def overlap(x: tuple[float, float], y: tuple[float, float]) -> bool:
    return x[0] < y[1] and y[0] < x[1]


# -- threads ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("cap", "expected"), [(2, 2), (1, 1), (8, 8), (16, 8)])
def test_threads_placeholder_is_capped_at_the_runs_cap(outdir: Path, cap: int, expected: int) -> None:
    P = Pipeline()
    P.out = thread_rules().wide(tag="t")
    dag = DAG(outdir)
    dag.add(P)
    run(dag, resource_caps={"threads": cap})
    assert P.out.path.read_text() == f"bwa -t {expected}\n"
    metrics = json.loads((P.out.path.parent / ".rip" / "metrics.json").read_text())
    assert metrics["threads"] == expected


def test_without_a_cap_threads_fit_the_machine(outdir: Path) -> None:
    P = Pipeline()
    P.out = thread_rules().wide(tag="t")
    dag = DAG(outdir)
    dag.add(P)
    run(dag)
    expected = min(8, LocalBackend().capacity()["threads"])
    assert P.out.path.read_text() == f"bwa -t {expected}\n"


def test_the_cap_is_not_part_of_the_fingerprint(outdir: Path) -> None:
    P = Pipeline()
    P.out = thread_rules().wide(tag="t")
    dag = DAG(outdir)
    dag.add(P)
    run(dag, resource_caps={"threads": 2})
    P2 = Pipeline()
    P2.out = thread_rules().wide(tag="t")
    assert P2.out.job.key == P.out.job.key
    dag2 = DAG(outdir)
    dag2.add(P2)
    assert run(dag2, resource_caps={"threads": 4}).ran == []


def test_resolve_command_shows_the_declared_threads(outdir: Path) -> None:
    P = Pipeline()
    P.out = thread_rules().wide(tag="t")
    DAG(outdir).add(P)
    assert resolve_command(P.out).startswith("echo bwa -t 8 > ")


def test_slots_reserve_the_capped_thread_count() -> None:
    slots = Slots({"threads": 2})
    values = slots.fit_threads({"threads": 8})
    assert values["threads"] == 2
    demand = slots.demand(values)
    assert demand == {"threads": 2}
    assert slots.fits(demand) == FITS
    slots.take(demand)
    assert slots.full()


def test_a_capped_job_reserves_the_whole_cap(outdir: Path) -> None:
    R = thread_rules()
    P = Pipeline()
    P.big = R.big(tag="b", t=0.4)
    P.small = R.small(tag="s", t=0.4)
    dag = DAG(outdir)
    dag.add(P)
    run(dag, resource_caps={"threads": 4})
    assert not overlap(interval(P.big), interval(P.small))


def test_jobs_that_fit_together_still_run_together(outdir: Path) -> None:
    R = thread_rules()
    P = Pipeline()
    P.a = R.pair(tag="a", t=1.0)
    P.b = R.pair(tag="b", t=1.0)
    dag = DAG(outdir)
    dag.add(P)
    run(dag, resource_caps={"threads": 4})
    assert overlap(interval(P.a), interval(P.b))


# -- Log-type outputs on failure --------------------------------------------------------------

def log_rules() -> Rules:
    R = Rules()

    @R.command("(echo tool-starting; echo tool-error-{word} >&2; exit 1) > {data} 2> {log}")
    def fails(word: str) -> tuple[Data[data], ToolLog[log]]:
        """Its stderr goes into a declared log: job.log stays empty."""

    @R.command("echo tool-error-{word} 2> {log} >&2 ; exit 1")
    def fails_base(word: str) -> Log[log]:
        """The base Log type itself (log.txt)."""

    @R.command("echo data-not-a-log-{word} > {data}; echo quiet-{word} > {log}; exit 2")
    def fails_quiet(word: str) -> tuple[Data[data], ToolLog[log]]:
        """Writes a non-log output, then fails."""

    @R.command("echo ok-{word} > {data}")
    def fine(word: str) -> Data[data]:
        """Succeeds."""

    return R


def _fail(outdir: Path, P: Pipeline, **kw: Any) -> str:
    dag = DAG(outdir)
    dag.add(P)
    stream = io.StringIO()
    with pytest.raises((JobFailed, ExceptionGroup)):
        dag.execute(progress=Reporter(stream=stream), **kw)
    return stream.getvalue()


def test_a_failure_shows_the_tail_of_the_log_output(outdir: Path) -> None:
    P = Pipeline()
    P.data, P.log = log_rules().fails(word="boom")
    text = _fail(outdir, P)
    folder = P.log.path.parent
    assert (folder / ".rip" / "job.log").read_text() == ""  # the job's own log says nothing
    assert "tool-error-boom" in text, text
    assert str(folder / "tool.log") in text, text
    assert "FAILED" in text and P.log.job.key in text


def test_the_base_log_type_is_shown_too(outdir: Path) -> None:
    P = Pipeline()
    P.log = log_rules().fails_base(word="base")
    text = _fail(outdir, P)
    assert "tool-error-base" in text and str(P.log.path) in text, text


def test_non_log_outputs_are_not_shown(outdir: Path) -> None:
    P = Pipeline()
    P.data, P.log = log_rules().fails_quiet(word="q")
    text = _fail(outdir, P)
    assert "quiet-q" in text, text
    assert "data-not-a-log-q" not in text, text


def test_keep_going_shows_each_failures_log(outdir: Path) -> None:
    R = log_rules()
    P = Pipeline()
    P.d1, P.l1 = R.fails(word="one")
    P.d2, P.l2 = R.fails(word="two")
    P.ok = R.fine(word="x")
    text = _fail(outdir, P, keep_going=True)
    assert "tool-error-one" in text and "tool-error-two" in text, text
    assert P.ok.path.read_text() == "ok-x\n"


def test_the_log_is_shown_by_the_command_line_too(tmp_path: Path) -> None:
    factory = tmp_path / "flow.py"
    factory.write_text(FACTORY)
    jobfile = tmp_path / "failing.toml"
    jobfile.write_text('".pipeline" = "flow.py:flow"\n".requests" = ["out"]\nsamples = ["a"]\nfail = true\n')
    r = necroflow("run", "--outdir", tmp_path / "out", jobfile, cwd=tmp_path)
    assert r.code == 1 and "Traceback" not in r.text, str(r)
    assert "tool-error-boom" in r.text and "tool.log" in r.text, str(r)


# -- .requests globs --------------------------------------------------------------------------

def glob_rules() -> Rules:
    R = Rules()

    @R.command("echo raw-{sample} > {out}")
    def make_raw(sample: str) -> Out[out]:
        """Per-sample intermediate."""

    @R.command("tr a-z A-Z < {raw} > {data}")
    def sort_raw(raw: Out) -> Data[data]:
        """Per-sample intermediate to keep."""

    @R.command("cat {parts} > {stamp}")
    def merge(parts: list[Data]) -> Stamp[stamp]:
        """All samples."""

    return R


def glob_pipeline(R: Rules, samples: tuple[str, ...] = ("a", "b", "c")) -> Pipeline:
    P = Pipeline()
    for s in samples:
        setattr(P, f"raw_{s}", R.make_raw(sample=s))
        setattr(P, f"sorted_{s}", R.sort_raw(P[f"raw_{s}"]))
    P.merged = R.merge([P[f"sorted_{s}"] for s in samples])
    return P


def _requested(dag: DAG) -> list[str]:
    return [label for _, label, _ in dag.request_labels]


@pytest.mark.parametrize(("requests", "expected"), [
    (["sorted_*"], ["sorted_a", "sorted_b", "sorted_c"]),
    (["merged", "sorted_*"], ["merged", "sorted_a", "sorted_b", "sorted_c"]),
    (["sorted_[ab]"], ["sorted_a", "sorted_b"]),
    (["?aw_c"], ["raw_c"]),
    (["sorted_b", "sorted_*"], ["sorted_b", "sorted_a", "sorted_c"]),  # each label once
    (["*"], ["raw_a", "sorted_a", "raw_b", "sorted_b", "raw_c", "sorted_c", "merged"]),
])
def test_dag_add_accepts_globs_over_labels(outdir: Path, requests: list[str], expected: list[str]) -> None:
    dag = DAG(outdir)
    dag.add(glob_pipeline(glob_rules()), requests=requests)
    assert _requested(dag) == expected
    assert len(dag.requested) == len(expected)


def test_a_glob_that_matches_nothing_is_a_key_error_naming_it(outdir: Path) -> None:
    with pytest.raises(KeyError, match=r"nothing_\*"):
        DAG(outdir).add(glob_pipeline(glob_rules()), requests=["merged", "nothing_*"])


def test_autoclean_keeps_a_globbed_family(outdir: Path) -> None:
    P = glob_pipeline(glob_rules())
    dag = DAG(outdir)
    dag.add(P, requests=["merged", "sorted_*"])
    report = run(dag, autoclean=True)
    assert len(report.ran) == 7
    for s in "abc":
        raw, kept = P[f"raw_{s}"], P[f"sorted_{s}"]
        assert not raw.path.exists() and store.read_state(raw.path.parent) == "cleaned"
        assert kept.path.read_text() == f"RAW-{s.upper()}\n"
    assert P.merged.path.read_text() == "RAW-A\nRAW-B\nRAW-C\n"
    dag2 = DAG(outdir)
    dag2.add(glob_pipeline(glob_rules()), requests=["merged", "sorted_*"])
    assert run(dag2, autoclean=True).ran == []


def _cli_project(tmp_path: Path) -> Path:
    (tmp_path / "flow.py").write_text(FACTORY)
    return tmp_path


def test_cli_run_autoclean_keeps_the_globbed_family_and_caps_threads(tmp_path: Path) -> None:
    root = _cli_project(tmp_path)
    jobfile = root / "family.toml"
    jobfile.write_text('".pipeline" = "flow.py:flow"\n".requests" = ["merged", "sorted_*", "wide"]\n'
                       'samples = ["a", "b"]\n')
    out = root / "out"
    r = ok(necroflow("run", "--autoclean", "-c", "2", "--outdir", out, jobfile, cwd=root))
    assert "6 ran" in r.err, str(r)
    raws = list((out / "make_raw").glob("*/raw.txt"))
    assert raws == [], str(r)  # the unrequested per-sample intermediates are gone
    assert sorted(p.read_text() for p in (out / "sort_raw").glob("*/sorted.txt")) == ["raw-a\n", "raw-b\n"]
    assert next((out / "wide").glob("*/wide.txt")).read_text() == "bwa -t 2\n"
    m = tomllib.loads((out / "family" / "manifest.toml").read_text())
    assert list(m["outputs"]) == ["merged", "sorted_a", "sorted_b", "wide"]
    for rel in m["outputs"].values():
        assert (out / "family" / rel).read_text()
    again = ok(necroflow("run", "--autoclean", "-c", "2", "--outdir", out, jobfile, cwd=root))
    assert "Nothing to do" in again.err, str(again)


def test_cli_a_glob_that_matches_nothing_is_exit_2_naming_the_key(tmp_path: Path) -> None:
    root = _cli_project(tmp_path)
    jobfile = root / "nothing.toml"
    jobfile.write_text('".pipeline" = "flow.py:flow"\n".requests" = ["merged", "nothing_*"]\nsamples = ["a"]\n')
    r_run, r_validate = many([
        (["run", "--autoclean", "--outdir", root / "out", jobfile], {}),
        (["validate", jobfile], {}),
    ], cwd=root)
    for r in (r_run, r_validate):
        assert r.code == 2, str(r)
        assert "Traceback" not in r.text, str(r)
        assert ".requests" in r.err and "nothing_*" in r.err, str(r)
    assert not (root / "out" / "make_raw").exists()


def test_the_job_schema_accepts_glob_requests() -> None:
    schema = json.loads((REPO / "json-schema" / "job.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    doc = {".pipeline": "flow.py:flow", ".requests": ["merged", "sorted_*", "s?mple_[ab]"]}
    assert list(cls(schema).iter_errors(doc)) == []
    bad = {".pipeline": "flow.py:flow", ".requests": ["sorted/*"]}
    assert list(cls(schema).iter_errors(bad)) != []


def test_cores_env_var_caps_threads_like_the_flag(tmp_path: Path) -> None:
    root = _cli_project(tmp_path)
    jobfile = root / "one_core.toml"
    jobfile.write_text('".pipeline" = "flow.py:flow"\n".requests" = ["wide"]\nsamples = ["a"]\n')
    out = root / "out"
    ok(necroflow("run", "-q", "--outdir", out, jobfile, cwd=root, NECROFLOW_CORES="1"))
    assert next((out / "wide").glob("*/wide.txt")).read_text() == "bwa -t 1\n"
    metrics = json.loads(next((out / "wide").glob("*/.rip/metrics.json")).read_text())
    assert metrics["threads"] == 1
