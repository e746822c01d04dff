"""Script rules (``@r.script('scripts/x.py')``): the script path is relative to the factory file,
its content (never its path or mtime) is in the fingerprint, Python scripts read
``necroflow.script.job``, other scripts get environment variables and the JSON path."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from necroflow import DAG, JobFailed, Pipeline, Reporter
from necroflow.declare import RuleError

FACTORY = '''
from __future__ import annotations
# ruff: noqa: F821
from necroflow import NodeType, Pipeline, Rules


class Text(NodeType):
    """Some text."""
    filename = "text.txt"


class Plot(NodeType):
    """What the script made."""
    filename = "plot.json"


class Shout(NodeType):
    filename = "shout.txt"


R = Rules()


@R.command("echo {word} > {text}")
def write(word: str) -> Text[text]:
    """One word."""


@R.script("scripts/plot.py", threads=8)
def plot(text: Text, texts: list[Text], n: int, title: str) -> Plot[plot]:
    """Runs the Python script."""


@R.script("scripts/env.sh")
def shell(text: Text, texts: list[Text], n: int, title: str, tags: list) -> Plot[plot]:
    """Runs the bash script."""


@R.command("tr a-z A-Z < {plot} > {shout}")
def shout(plot: Plot) -> Shout[shout]:
    """A command rule downstream of the script."""


def flow(config=None, R=R) -> Pipeline:
    P = Pipeline()
    P.a = R.write(word="alpha")
    P.b = R.write(word="beta")
    P.plot = R.plot(P.a, [P.a, P.b], n=3, title="a 'quoted' title")
    P.shout = R.shout(P.plot)
    return P


def shell_flow(config=None, R=R) -> Pipeline:
    P = Pipeline()
    P.a = R.write(word="alpha")
    P.b = R.write(word="beta")
    P.out = R.shell(P.a, [P.a, P.b], n=3, title="a 'quoted' title", tags=["x y", "z"])
    return P
'''

PLOT = '''
import json
import os
import sys

from necroflow.script import job

data = {
    "text": job.inputs.text,
    "texts": job.inputs.texts,
    "item": job.inputs["text"],
    "n": job.params.n,
    "title": job.params.title,
    "threads": job.threads,
    "out": job.outputs.plot,
    "rule": job.rule,
    "key": job.key,
    "executable": sys.executable,
    "wrapped": os.environ.get("WRAPPED_BY_TEST"),
    "job_json": os.environ.get("NECROFLOW_JOB"),
    "cwd": os.getcwd(),
    "contents": [open(p).read() for p in job.inputs.texts],
}
with open(job.outputs.plot, "w") as f:
    json.dump(data, f)
'''

ENV_SH = '''#!/bin/bash
set -eu
{
  echo "arg1=$1"
  echo "job=$NECROFLOW_JOB"
  echo "text=$NECROFLOW_INPUT_TEXT"
  echo "texts<<"
  echo "$NECROFLOW_INPUT_TEXTS"
  echo ">>"
  echo "tags<<"
  echo "$NECROFLOW_PARAM_TAGS"
  echo ">>"
  echo "n=$NECROFLOW_PARAM_N"
  echo "title=$NECROFLOW_PARAM_TITLE"
  echo "threads=$NECROFLOW_THREADS"
  echo "out=$NECROFLOW_OUTPUT_PLOT"
} > "$NECROFLOW_OUTPUT_PLOT"
'''


def write_project(root: Path, plot: str = PLOT, factory: str = FACTORY) -> Path:
    (root / "scripts").mkdir(parents=True, exist_ok=True)
    (root / "flow.py").write_text(factory)
    (root / "scripts" / "plot.py").write_text(textwrap.dedent(plot))
    (root / "scripts" / "env.sh").write_text(ENV_SH)
    return root / "flow.py"


def load(path: Path) -> ModuleType:
    """Import a factory file as a fresh module (a new Rules each time)."""
    name = f"nf_script_flow_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def build(path: Path, outdir: Path, fn: str = "flow") -> tuple[DAG, Pipeline]:
    mod = load(path)
    P = getattr(mod, fn)()
    dag = DAG(outdir)
    dag.add(P)
    return dag, P


def run(dag: DAG, **kw: Any) -> Any:
    return dag.execute(progress=Reporter(stream=io.StringIO()), **kw)


def ran_rules(report: Any) -> list[str]:
    return sorted(k.split("/")[0] for k in report.ran)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the script path must resolve against the factory, not the cwd
    return write_project(tmp_path / "proj")


# -- Python scripts ---------------------------------------------------------------------------

def test_a_python_script_reads_its_job(project: Path, tmp_path: Path) -> None:
    dag, P = build(project, tmp_path / "out")
    report = run(dag, resource_caps={"threads": 2})
    assert ran_rules(report) == ["plot", "shout", "write", "write"]
    data = json.loads(P.plot.path.read_text())
    assert data["text"] == data["item"] == str(P.a.path) and isinstance(data["text"], str)
    assert data["texts"] == [str(P.a.path), str(P.b.path)]
    assert data["contents"] == ["alpha\n", "beta\n"]
    assert data["n"] == 3 and data["title"] == "a 'quoted' title"
    assert data["threads"] == 2  # threads=8 capped at the run's cap
    assert data["out"] == str(P.plot.path)
    assert data["rule"] == "plot" and data["key"] == P.plot.job.key
    assert data["cwd"] == str(P.plot.path.parent)
    assert P.shout.path.read_text() == P.plot.path.read_text().upper()


def test_the_job_data_is_a_json_file_in_the_records_folder(project: Path, tmp_path: Path) -> None:
    dag, P = build(project, tmp_path / "out")
    run(dag)
    data = json.loads(P.plot.path.read_text())
    job_json = Path(data["job_json"])
    assert job_json.parent == P.plot.path.parent / ".rip"
    doc = json.loads(job_json.read_text())
    assert doc["inputs"]["texts"] == [str(P.a.path), str(P.b.path)]
    assert doc["outputs"]["plot"] == str(P.plot.path)
    assert doc["params"] == {"n": 3, "title": "a 'quoted' title"}
    # the declared outputs are the only files beside .rip
    assert sorted(os.listdir(P.plot.path.parent)) == [".rip", "plot.json"]


def test_it_runs_with_the_interpreter_necroflow_runs_under(project: Path, tmp_path: Path) -> None:
    dag, P = build(project, tmp_path / "out")
    run(dag)
    data = json.loads(P.plot.path.read_text())
    assert os.path.realpath(data["executable"]) == os.path.realpath(sys.executable)
    assert data["wrapped"] is None


def test_a_python_shebang_still_runs_under_necroflows_interpreter(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write_project(root, plot="#!/usr/bin/env python3\n" + textwrap.dedent(PLOT))
    dag, P = build(root / "flow.py", tmp_path / "out")
    run(dag)
    data = json.loads(P.plot.path.read_text())
    assert os.path.realpath(data["executable"]) == os.path.realpath(sys.executable)


def test_a_rule_can_name_another_python(tmp_path: Path) -> None:
    env = tmp_path / "opt" / "env" / "bin"
    env.mkdir(parents=True)
    python = env / "python"
    python.write_text(f'#!/bin/sh\nWRAPPED_BY_TEST=yes exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    factory = FACTORY.replace('@R.script("scripts/plot.py", threads=8)',
                              f'@R.script("scripts/plot.py", python={str(python)!r}, threads=8)')
    root = tmp_path / "proj"
    write_project(root, factory=factory)
    dag, P = build(root / "flow.py", tmp_path / "out")
    run(dag)
    assert json.loads(P.plot.path.read_text())["wrapped"] == "yes"


def test_a_failing_script_fails_its_job_with_its_traceback(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write_project(root, plot="from necroflow.script import job\nraise SystemExit('script says no: ' + job.rule)\n")
    dag, P = build(root / "flow.py", tmp_path / "out")
    stream = io.StringIO()
    with pytest.raises(JobFailed):
        dag.execute(progress=Reporter(stream=stream))
    assert "script says no: plot" in stream.getvalue()


# -- non-Python scripts -----------------------------------------------------------------------

def test_a_bash_script_gets_environment_variables_and_the_json_path(project: Path, tmp_path: Path) -> None:
    dag, P = build(project, tmp_path / "out", fn="shell_flow")
    run(dag, resource_caps={"threads": 3})
    text = P.out.path.read_text()
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    job_json = P.out.path.parent / ".rip"
    assert fields["arg1"] == fields["job"]
    assert Path(fields["job"]).parent == job_json and json.loads(Path(fields["job"]).read_text())["rule"] == "shell"
    assert fields["text"] == str(P.a.path)
    listed = text.split("texts<<\n", 1)[1].split("\n>>", 1)[0]
    assert listed.split("\n") == [str(P.a.path), str(P.b.path)]  # one per line
    tags = text.split("tags<<\n", 1)[1].split("\n>>", 1)[0]
    assert tags.split("\n") == ["x y", "z"]
    assert fields["n"] == "3" and fields["title"] == "a 'quoted' title"
    assert fields["threads"] == "1"  # the rule declares no threads
    assert fields["out"] == str(P.out.path)


# -- fingerprints -----------------------------------------------------------------------------

def test_editing_the_script_reruns_the_rule_and_its_dependants(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    dag, P = build(project, out)
    run(dag)
    script = project.parent / "scripts" / "plot.py"
    script.write_text(script.read_text() + "\n# a comment is an edit too\n")
    dag2, P2 = build(project, out)
    assert P2.plot.job.key != P.plot.job.key
    assert P2.a.job.key == P.a.job.key
    assert ran_rules(run(dag2)) == ["plot", "shout"]


def test_touching_the_script_reruns_nothing(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    dag, P = build(project, out)
    run(dag)
    script = project.parent / "scripts" / "plot.py"
    earlier = script.stat().st_mtime - 1000
    os.utime(script, (earlier, earlier))
    dag2, P2 = build(project, out)
    assert P2.plot.job.key == P.plot.job.key
    assert run(dag2).ran == []


def test_moving_the_whole_project_keeps_the_fingerprint(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    dag, P = build(project, out)
    run(dag)
    dag_sh, P_sh = build(project, out, fn="shell_flow")
    run(dag_sh)
    moved = tmp_path / "somewhere" / "else" / "proj-renamed"
    moved.parent.mkdir(parents=True)
    shutil.move(str(project.parent), str(moved))
    dag2, P2 = build(moved / "flow.py", out)
    assert P2.plot.job.key == P.plot.job.key and P2.shout.job.key == P.shout.job.key
    assert run(dag2).ran == []
    dag3, P3 = build(moved / "flow.py", out, fn="shell_flow")
    assert P3.out.job.key == P_sh.out.job.key
    assert run(dag3).ran == []


def test_moving_the_project_with_its_outdir_inside_reruns_nothing(project: Path, tmp_path: Path) -> None:
    dag, P = build(project, project.parent / "results")
    run(dag)
    moved = tmp_path / "moved-project"
    shutil.move(str(project.parent), str(moved))
    dag2, P2 = build(moved / "flow.py", moved / "results")
    assert P2.plot.job.key == P.plot.job.key
    assert run(dag2).ran == []
    assert json.loads(P2.plot.path.read_text())["n"] == 3


FP_CHILD = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("childflow", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
P = mod.flow()
print(json.dumps([P.plot.job.key, P.shout.job.key]))
"""


def test_script_fingerprints_are_stable_across_processes(project: Path, tmp_path: Path,
                                                         run_python: Callable[..., Any]) -> None:
    _, P = build(project, tmp_path / "out")
    keys = []
    for seed in ("0", "99"):
        p = run_python("-c", FP_CHILD, project, PYTHONHASHSEED=seed, cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        keys.append(json.loads(p.stdout))
    assert keys[0] == keys[1] == [P.plot.job.key, P.shout.job.key]


def test_the_same_content_under_another_name_is_the_same_rule(tmp_path: Path) -> None:
    a = tmp_path / "a"
    write_project(a)
    factory = FACTORY.replace('"scripts/plot.py"', '"tools/other_name.py"')
    b = tmp_path / "b"
    write_project(b, factory=factory)
    (b / "tools").mkdir()
    (b / "scripts" / "plot.py").rename(b / "tools" / "other_name.py")
    _, Pa = build(a / "flow.py", tmp_path / "out")
    _, Pb = build(b / "flow.py", tmp_path / "out")
    assert Pa.plot.job.key == Pb.plot.job.key


# -- declaration errors -----------------------------------------------------------------------

def test_a_missing_script_is_a_rule_error_naming_the_rule(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write_project(root, factory=FACTORY.replace('"scripts/plot.py"', '"scripts/nowhere.py"'))
    with pytest.raises(RuleError) as e:
        load(root / "flow.py")
    msg = str(e.value)
    assert "'plot'" in msg and "scripts/nowhere.py" in msg, msg


def test_the_script_path_is_relative_to_the_factory_file_not_the_cwd(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "proj"
    write_project(root)
    decoy = tmp_path / "cwd"
    (decoy / "scripts").mkdir(parents=True)
    (decoy / "scripts" / "plot.py").write_text("raise SystemExit('the decoy ran')\n")
    monkeypatch.chdir(decoy)
    dag, P = build(root / "flow.py", tmp_path / "out")
    run(dag)
    assert json.loads(P.plot.path.read_text())["n"] == 3


def test_the_command_line_runs_script_rules_and_a_moved_project_reruns_nothing(tmp_path: Path) -> None:
    from test_cli import necroflow, ok

    root = tmp_path / "proj"
    write_project(root)
    (root / "figures.toml").write_text('".pipeline" = "flow.py:flow"\n')
    out = tmp_path / "out"
    first = ok(necroflow("run", "-c", "2", "--outdir", out, "figures.toml", cwd=root))
    assert "4 ran" in first.err, str(first)
    data = json.loads(next((out / "plot").glob("*/plot.json")).read_text())
    assert data["threads"] == 2 and data["texts"][0].endswith("/text.txt")
    assert os.path.realpath(data["executable"]) == os.path.realpath(sys.executable)
    moved = tmp_path / "moved"
    shutil.move(str(root), str(moved))
    again = ok(necroflow("run", "--outdir", out, "figures.toml", cwd=moved))
    assert "Nothing to do" in again.err, str(again)
