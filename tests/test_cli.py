"""The ``necroflow`` console script, run for real in subprocesses on job files good and bad.

Bad inputs must end with exit code 2, one readable message naming the file and the key,
and never a traceback.  Good inputs must run, link each combo's requested outputs, and do
nothing on a rerun.  Start-up costs ~0.3 s per process, so independent invocations are
started together and awaited together.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
GRID = REPO / "examples" / "necroalchemy_grid.toml"


def command() -> list[str]:
    """The installed console script when there is one (the real entry point), else ``-m``."""
    script = Path(sys.executable).with_name("necroflow")
    if script.exists():
        return [str(script)]
    found = shutil.which("necroflow")
    return [found] if found else [sys.executable, "-m", "necroflow.cli"]


def environment(**extra: str) -> dict[str, str]:
    """This checkout first on the path, and no NECROFLOW_* setting leaking in from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NECROFLOW_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


@dataclass
class Result:
    args: list[str]
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def __str__(self) -> str:
        return f"necroflow {' '.join(self.args)} -> {self.code}\n--- stdout\n{self.out}--- stderr\n{self.err}"


def start(args: Sequence[str | Path], cwd: Path = DATA, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*command(), *map(str, args)], cwd=cwd, env=environment(**env), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def finish(p: subprocess.Popen[str], timeout: float = 60) -> Result:
    out, err = p.communicate(timeout=timeout)
    return Result([str(a) for a in p.args][len(command()):], p.returncode, out, err)  # type: ignore[union-attr]


def necroflow(*args: str | Path, cwd: Path = DATA, **env: str) -> Result:
    return finish(start(args, cwd, **env))


def many(calls: Sequence[tuple[Sequence[str | Path], dict[str, str]]], cwd: Path = DATA) -> list[Result]:
    """Run independent invocations side by side (the suite is start-up bound, not CPU bound)."""
    procs = [start(args, cwd, **env) for args, env in calls]
    return [finish(p) for p in procs]


def ok(r: Result) -> Result:
    assert r.code == 0, str(r)
    assert "Traceback" not in r.text, str(r)
    return r


def job(tmp: Path, name: str, body: str, factory: str = "flow.py:basic") -> Path:
    """A job file outside tests/data whose factory is named by absolute path."""
    path = tmp / name
    path.write_text(f'".pipeline" = "{DATA / factory.split(":")[0]}:{factory.split(":")[1]}"\n{body}')
    return path


# ------------------------------------------------------------------------------ bad inputs


@dataclass(frozen=True)
class Bad:
    """One bad invocation and the fragments its message must contain (file, key, hint)."""

    id: str
    args: tuple[str, ...]
    expect: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


def _validate(name: str, *expect: str) -> Bad:
    return Bad(name, ("validate", f"bad/{name}.toml"), (f"bad/{name}.toml", *expect))


BAD: list[Bad] = [
    _validate("syntax", "line 2, column 21", "invalid TOML"),
    _validate("typo_metadata", "key '.pipline'", "did you mean '.pipeline'?"),
    _validate("no_pipeline", "missing required key '.pipeline'"),
    _validate("bad_pipeline_ref", "key '.pipeline'", "path/to/factory.py:function"),
    _validate("factory_file_missing", "key '.pipeline'", "'nowhere/factory.py' not found"),
    _validate("function_missing", "key '.pipeline'", "no function 'basci'", "basic"),
    _validate("import_fails", "key '.pipeline'", "KeyError", "broken_import.py, line 6"),
    _validate("grid_not_list", "key 'word__grid'", "non-empty list"),
    _validate("grid_empty", "key 'word__grid'", "non-empty list"),
    _validate("grid_duplicate", "key 'word__grid'", "'alpha' is listed twice"),
    _validate("requests_unknown", "key '.requests'", "'sumary'", "did you mean 'summary'?"),
    _validate("typed_wrong_type", "combo 'typed_wrong_type__repeat+many'", "key 'repeat__grid'", "integer"),
    _validate("typed_unknown_key", "key 'colour'", "unknown key", "repeat, word"),
    _validate("factory_raises", "key '.pipeline'", "flow.py:raises raised KeyError", "flow.py, line"),
    _validate("no_rules", "key '.pipeline'", "no Rules() instance", "R = Rules()"),
    _validate("two_rules", "key '.pipeline'", "several Rules instances (A, B)"),
    _validate("not_a_pipeline", "key '.pipeline'", "returned int, not a Pipeline"),
    _validate("count", "combo folder 'count'", "rule 'count'", "rename the job file"),
    Bad("job_file_missing", ("validate", "bad/absent.toml"), ("bad/absent.toml", "file not found")),
    Bad("directory", ("validate", "bad"), ("bad:", "is a directory")),
    Bad("cores_zero", ("run", "--outdir", "/nonexistent/x", "-c0", "good/words.toml"),
        ("--cores", "positive integer or 'all'", "got 0")),
    Bad("cores_word", ("run", "--outdir", "/nonexistent/x", "-c", "many", "good/words.toml"),
        ("--cores", "'many'")),
    Bad("constraint_size", ("run", "--outdir", "/nonexistent/x", "--constraint", "ram=64GG", "good/words.toml"),
        ("--constraint", "key 'ram'", "'64GG'", "64Gi")),
    Bad("constraint_form", ("run", "--outdir", "/nonexistent/x", "--constraint", "ram", "good/words.toml"),
        ("--constraint", "'ram' is not KEY=VALUE")),
    Bad("env_cores", ("run", "--outdir", "/nonexistent/x", "good/words.toml"),
        ("NECROFLOW_CORES", "'lots'"), (("NECROFLOW_CORES", "lots"),)),
    Bad("env_constraints", ("run", "good/words.toml"),
        ("NECROFLOW_CONSTRAINTS", "'1.5.2Gi'"), (("NECROFLOW_OUTDIR", "/nonexistent/x"),
                                                  ("NECROFLOW_CONSTRAINTS", "ram=1.5.2Gi"))),
    Bad("outdir_is_a_file", ("run", "--outdir", "good/words.toml", "good/other.toml"),
        ("--outdir good/words.toml", "not a directory")),
    Bad("outdir_uncreatable", ("run", "--outdir", "/proc/necroflow/out", "good/other.toml"),
        ("cannot create the output directory /proc/necroflow/out",)),
    Bad("no_outdir", ("run", "good/words.toml"), ("--outdir", "NECROFLOW_OUTDIR")),
    Bad("schema_untyped", ("schema", "--pipeline", "flow.py:basic"), ("--pipeline", "not annotated")),
    Bad("unknown_option", ("run", "--outdir", "/nonexistent/x", "--frobnicate", "good/words.toml"),
        ("--frobnicate",)),
]


@pytest.fixture(scope="module")
def bad_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    """Every bad invocation, run side by side once for the whole module."""
    tmp = tmp_path_factory.mktemp("bad")
    # Generated here rather than committed: a non-UTF-8 file and a factory that does not parse.
    latin = tmp / "latin1.toml"
    latin.write_bytes(b'".pipeline" = "flow.py:basic"\nword = "caf\xe9"\n')
    (tmp / "broken_syntax.py").write_text("def factory(config:\n    pass\n")
    syn = tmp / "factory_syntax.toml"
    syn.write_text(f'".pipeline" = "{tmp}/broken_syntax.py:factory"\n')
    generated = {"non_utf8": ("validate", str(latin)), "factory_syntax": ("validate", str(syn))}
    calls = [(c.args, dict(c.env)) for c in BAD] + [(args, {}) for args in generated.values()]
    results = many(calls)
    return dict(zip([c.id for c in BAD] + list(generated), results, strict=True))


@pytest.mark.parametrize("case", BAD, ids=lambda c: c.id)
def test_bad_input_exits_2_with_a_message_naming_file_and_key(case: Bad, bad_results: dict[str, Result]) -> None:
    r = bad_results[case.id]
    assert r.code == 2, str(r)
    assert "Traceback" not in r.text, str(r)
    assert r.out == "", str(r)
    for fragment in case.expect:
        assert fragment in r.err, f"{fragment!r} missing from the message\n{r}"


@pytest.mark.parametrize(("case_id", "expect"), [
    ("non_utf8", ("latin1.toml", "line 2, column 12", "not valid UTF-8", "0xe9")),
    ("factory_syntax", ("factory_syntax.toml", "key '.pipeline'", "SyntaxError", "broken_syntax.py, line 1")),
])
def test_generated_bad_input(case_id: str, expect: tuple[str, ...], bad_results: dict[str, Result]) -> None:
    """A non-UTF-8 job file and a factory with a syntax error (made at run time, not committed)."""
    r = bad_results[case_id]
    assert r.code == 2 and "Traceback" not in r.text, str(r)
    for fragment in expect:
        assert fragment in r.err, f"{fragment!r} missing from the message\n{r}"


def test_every_bad_message_is_one_line_per_problem(bad_results: dict[str, Result]) -> None:
    for case_id, r in bad_results.items():
        if case_id == "unknown_option":  # click's own usage error: usage line, hint, then the error
            assert "Usage:" in r.err
            continue
        lines = r.err.strip().splitlines()
        assert lines and all(line.startswith("necroflow: error: ") for line in lines), str(r)


# ----------------------------------------------------------------------------- good inputs


def manifest(folder: Path) -> dict:
    return tomllib.loads((folder / "manifest.toml").read_text())


def links(folder: Path) -> list[str]:
    """Every symlink under a combo folder, relative to it."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_symlink())


def test_grid_example_runs_links_and_reruns_nothing(tmp_path: Path) -> None:
    """The seed's spelling (no subcommand) on the README's grid example, run from the repo root."""
    out = tmp_path / "results"
    first = ok(necroflow("--outdir", out, "-c2", GRID, cwd=REPO))
    assert "20 ran" in first.err, str(first)
    combos = sorted(p.name for p in out.iterdir() if (p / "manifest.toml").exists())
    assert len(combos) == 8
    assert "necroalchemy_grid__sample+NA12878__ref+hg38__aligner+bwa" in combos
    assert len(list((out / "index_ref").iterdir())) == 2  # one index per reference, shared by 4 combos
    for name in combos:
        folder = out / name
        m = manifest(folder)
        assert m["combo"] == name and list(m["outputs"]) == ["counts"]
        rel = m["outputs"]["counts"]
        assert rel.startswith("count/") and rel.endswith("/counts.txt")
        assert links(folder) == [rel]  # the requested output only: no reads, index or alignment
        link = folder / rel
        assert link.resolve() == (out / rel).resolve() and link.read_text().strip() == "4"
        assert not os.path.isabs(os.readlink(link))  # relative: the outdir can be moved
    again, dry = many([(("run", "--outdir", out, GRID), {}), (("run", "-n", "--outdir", out, GRID), {})], cwd=REPO)
    assert "Nothing to do: all 20 jobs are up to date" in ok(again).err, str(again)
    assert "Nothing to do" in ok(dry).out and "Combos: 8 of 8 complete" in dry.out, str(dry)


def test_several_job_files_share_one_dag(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = ok(necroflow("run", "--outdir", out, "--json", "good/words.toml", "good/other.toml"))
    doc = json.loads(r.out)
    # 1 shared + 4 make_text + 4 summarise: the shared step runs once for four combos in two files
    assert len(doc["ran"]) == 9 and doc["ok"] is True
    assert len(list((out / "shared").iterdir())) == 1
    assert doc["combos"] == {"words__word+alpha": "linked", "words__word+beta": "linked",
                             "words__word+gamma": "linked", "other": "linked"}
    assert manifest(out / "other")["params"] == {"word": "delta"}


def test_dry_run_lists_what_would_run_and_why(tmp_path: Path) -> None:
    out = tmp_path / "out"
    text, js = many([(("run", "-n", "--outdir", out, "good/words.toml"), {}),
                     (("run", "--dry-run", "--json", "--outdir", out, "good/words.toml"), {})])
    assert "MISSING" in ok(text).out and "(output absent)" in text.out
    assert "7 of 7 jobs to run (missing 7)." in text.out and "Combos: 0 of 3 complete" in text.out
    assert not out.exists() or not any(out.iterdir())  # nothing ran
    doc = json.loads(ok(js).out)
    assert doc["to_run"] == 7 and doc["counts"] == {"MISSING": 7}
    assert {j["state"] for j in doc["jobs"]} == {"MISSING"}
    ok(necroflow("run", "-q", "--outdir", out, "good/words.toml"))
    (out / "make_text").joinpath(next(iter(os.listdir(out / "make_text"))), "text.txt").write_text("edited\n")
    stale = ok(necroflow("run", "-n", "--outdir", out, "good/words.toml"))
    assert "STALE" in stale.out and "content changed" in stale.out, str(stale)
    assert "1 of 7 jobs to run (stale 1, up_to_date 6)." in stale.out, str(stale)


def test_keep_going_links_the_combos_that_succeeded(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = necroflow("run", "-k", "--outdir", out, "good/partial_fail.toml")
    assert r.code == 1 and "Traceback" not in r.text, str(r)
    assert "summarise" in r.err and "failed" in r.err
    assert (out / "partial_fail__word+ok" / "manifest.toml").exists()
    assert not (out / "partial_fail__word+fail").exists()
    assert "not linked because an output failed or was not built: partial_fail__word+fail" in r.err


def test_quiet_prints_the_final_summary_and_errors_only(tmp_path: Path) -> None:
    """-q: nothing but failures and the last line, on success, on a no-op and on failure."""
    out = tmp_path / "out"
    first = ok(necroflow("run", "-q", "--outdir", out, "good/words.toml"))
    assert first.out == "" and re.fullmatch(r"Finished in \d+\.\d\ds: 7 ran, 0 up to date\.\n", first.err), str(first)
    again = ok(necroflow("run", "-q", "--outdir", out, "good/words.toml"))
    assert again.err == "Nothing to do: all 7 jobs are up to date (up_to_date 7).\n", str(again)
    failed = necroflow("run", "-q", "-k", "--outdir", tmp_path / "fail", "good/partial_fail.toml")
    assert failed.code == 1 and failed.out == "", str(failed)
    lines = failed.err.splitlines()
    assert re.fullmatch(r"\[5/5\] FAILED summarise/[0-9a-f]{16}: exit code 1", lines[0]), str(failed)
    assert re.fullmatch(r"Finished in \d+\.\d\ds: 4 ran, 0 up to date, 1 failed\.", lines[1]), str(failed)
    assert lines[2].startswith("necroflow: job summarise/") and "failed: exit code 1" in lines[2], str(failed)
    assert len(lines) == 3, str(failed)


def test_links_no_longer_requested_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    exp = job(tmp_path, "exp.toml", '".requests" = ["summary", "text"]\nword__grid = ["a", "b"]\n')
    ok(necroflow("run", "-q", "--outdir", out, exp))
    folder = out / "exp__word+a"
    assert len(links(folder)) == 2
    job(tmp_path, "exp.toml", '".requests" = ["summary"]\nword__grid = ["a"]\n')
    ok(necroflow("run", "-q", "--outdir", out, exp))
    assert links(folder) == [manifest(folder)["outputs"]["summary"]]
    assert list(manifest(folder)["outputs"]) == ["summary"]
    assert not (out / "exp__word+b").exists()  # a grid value taken out: its combo folder goes too
    assert (out / "make_text").is_dir()  # real outputs are never touched by link pruning


def test_typed_config_and_one_argument_factory(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = ok(necroflow("run", "--json", "--outdir", out, "good/typed.toml", "good/one_arg.toml"))
    assert json.loads(r.out)["combos"] == {"typed__repeat+1": "linked", "typed__repeat+3": "linked",
                                           "one_arg": "linked"}
    m = manifest(out / "typed__repeat+3")
    assert (out / "typed__repeat+3" / m["outputs"]["text"]).read_text() == "ababab\n"
    assert m["axes"] == {"repeat": 3} and m["params"] == {"word": "ab", "repeat": 3}


def test_validate_prints_combos_and_counts() -> None:
    r = ok(necroflow("validate", "good/words.toml", "good/other.toml"))
    assert "words__word+alpha: 3 jobs, requests summary" in r.out
    assert "OK: 4 combo(s) from 2 file(s), 9 distinct jobs." in r.out


def test_combo_folder_cannot_take_over_a_rule_folder_from_an_earlier_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    counts = job(tmp_path, "count.toml", "n = 1\n", factory="count_rule.py:factory")
    renamed = tmp_path / "tally.toml"
    renamed.write_text(counts.read_text())
    ok(necroflow("run", "-q", "--outdir", out, renamed))  # leaves outdir/count/{hash}/ behind
    words = job(tmp_path, "count.toml", 'word = "x"\n')  # now a job 'count' with no rule 'count'
    r, v = many([(("run", "--outdir", out, words), {}), (("validate", "--outdir", out, words), {})])
    assert r.code == 2 and "holds outputs of a rule 'count' from an earlier run" in r.err, str(r)
    assert v.code == 2 and v.err == r.err, str(v)
    ok(necroflow("validate", words))  # without the outdir there is nothing to collide with


# ------------------------------------------------------------------- options and environment


def test_cores_spellings_and_constraints_are_accepted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    spellings = [["-c8"], ["-call"], ["-c", "8"], ["--cores", "all"], ["--cores=3"],
                 ["--constraint", "ram=64Gi", "--constraint", "gpu=2"]]
    for r in many([(["run", "-n", "--outdir", out, *s, "good/one_arg.toml"], {}) for s in spellings]):
        assert "1 of 1 jobs to run" in ok(r).out, str(r)


def test_environment_settings_and_flags_win(tmp_path: Path) -> None:
    env_out, flag_out = tmp_path / "env", tmp_path / "flag"
    from_env, flag_wins, dry_env, dry_off, cores_flag = many([
        (["run", "-q", "good/one_arg.toml"], {"NECROFLOW_OUTDIR": str(env_out)}),
        (["run", "-q", "--outdir", flag_out, "good/other.toml"], {"NECROFLOW_OUTDIR": str(env_out / "no")}),
        (["run", "--outdir", tmp_path / "dry", "good/one_arg.toml"], {"NECROFLOW_DRY_RUN": "1"}),
        (["run", "-q", "--no-dry-run", "--outdir", tmp_path / "wet", "good/one_arg.toml"],
         {"NECROFLOW_DRY_RUN": "true"}),
        (["run", "-n", "-c2", "--outdir", tmp_path / "c", "good/one_arg.toml"], {"NECROFLOW_CORES": "lots"}),
    ])
    ok(from_env)
    assert (env_out / "one_arg" / "manifest.toml").exists()
    ok(flag_wins)
    assert (flag_out / "other" / "manifest.toml").exists() and not (env_out / "no").exists()
    assert "1 of 1 jobs to run" in ok(dry_env).out and not (tmp_path / "dry" / "one_arg").exists()
    ok(dry_off)
    assert (tmp_path / "wet" / "one_arg" / "manifest.toml").exists()
    ok(cores_flag)  # the bad NECROFLOW_CORES is never consulted when -c is given


def test_locked_outdir_exits_3(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / ".rip").mkdir(parents=True)
    with open(out / ".rip" / "necroflow.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        r = necroflow("run", "--outdir", out, "good/one_arg.toml")
    assert r.code == 3 and "Traceback" not in r.text, str(r)
    assert "another necroflow process" in r.err and str(os.getpid()) in r.err
    assert not (out / "make_text").exists()


def _wait_for_state(out: Path, state: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.read_text().strip() == state for p in out.glob("nap/*/.rip/state")):
            return
        time.sleep(0.05)
    raise AssertionError(f"no nap job reached state {state!r} within {timeout}s")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signals_stop_the_run_with_their_exit_code(tmp_path: Path, sig: signal.Signals, code: int) -> None:
    out = tmp_path / "out"
    p = start(["run", "--outdir", out, "good/slow.toml"])
    try:
        _wait_for_state(out, "running")
        t0 = time.monotonic()
        p.send_signal(sig)
        r = finish(p, timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert r.code == code, str(r)
    assert time.monotonic() - t0 < 10  # the 30 s job was stopped, not waited for
    assert "Traceback" not in r.text and "interrupted" in r.err, str(r)
    assert next(out.glob("nap/*/.rip/state")).read_text().strip() == "interrupted"
    dry = ok(necroflow("run", "-n", "--outdir", out, "good/slow.toml"))
    assert "INTERRUPTED" in dry.out and "previous run left state=interrupted" in dry.out, str(dry)


# ---------------------------------------------------------------------------------- help


def test_help_of_every_command_stands_on_its_own() -> None:
    commands = ["run", "validate", "schema", "status", "graph", "report", "clean"]
    results = many([(["--help"], {})] + [([c, "--help"], {}) for c in commands])
    top = ok(results[0])
    for c in commands:
        assert c in top.out
    for c, r in zip(commands, results[1:], strict=True):
        ok(r)
        assert f"Usage: necroflow {c}" in r.out
        assert "Exit codes: 0 ok; 1 a job failed; 2 invalid input" in " ".join(r.out.split()), c
        assert len(r.out.split()) > 60, f"{c} --help is too thin:\n{r.out}"
    run = " ".join(results[1].out.split())
    for needle in ("NECROFLOW_OUTDIR", "NECROFLOW_CORES", "-c8", "--constraint KEY=VALUE", "--keep-going",
                   "--no-keep-going", "--dry-run", "--autoclean", "130 interrupted", "143 terminated"):
        assert needle in run, needle


def test_version_and_no_arguments() -> None:
    version, bare = many([(["--version"], {}), ([], {})])
    assert ok(version).out.startswith("necroflow ")
    assert "Usage: necroflow" in bare.text and "Traceback" not in bare.text


def test_schema_commands(tmp_path: Path) -> None:
    plain, typed, mani, written = many([
        (["schema"], {}), (["schema", "--pipeline", "flow.py:typed"], {}), (["schema", "--kind", "manifest"], {}),
        (["schema", "--pipeline", "flow.py:typed", "-o", tmp_path / "s.json"], {})])
    job_schema = json.loads(ok(plain).out)
    assert ".pipeline" in job_schema["properties"]
    typed_schema = json.loads(ok(typed).out)
    text = json.dumps(typed_schema)
    assert '"repeat"' in text and '"repeat__grid"' in text and '"word"' in text
    assert "outputs" in json.loads(ok(mani).out)["properties"]
    ok(written)
    assert json.loads((tmp_path / "s.json").read_text()) == typed_schema


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("interrupt", [False, True], ids=["finished", "terminated"])
def test_live_progress_on_a_terminal_gives_the_cursor_back(tmp_path: Path, interrupt: bool) -> None:
    """On a terminal the live display hides the cursor; every way out must show it again."""
    import pty

    main, secondary = pty.openpty()
    args = ["run", "--outdir", tmp_path / "out", "good/slow.toml" if interrupt else "good/words.toml"]
    p = subprocess.Popen([*command(), *map(str, args)], cwd=DATA, env=environment(TERM="xterm"), text=True,
                         stdout=subprocess.PIPE, stderr=secondary, start_new_session=True)
    os.close(secondary)
    try:
        if interrupt:
            _wait_for_state(tmp_path / "out", "running")
            p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        screen = _read_all(main)
    finally:
        if p.poll() is None:
            p.kill()
        p.communicate()
        os.close(main)
    assert p.returncode == (143 if interrupt else 0), screen
    assert "Traceback" not in screen
    assert "\x1b[?25l" in screen  # the live block was drawn (cursor hidden)...
    assert screen.rindex("\x1b[?25h") > screen.rindex("\x1b[?25l")  # ...and the cursor shown again
