"""``necroflow status``, ``graph`` and ``clean``: thin commands over why/graphviz/clean, run for real."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from test_cli import DATA, Result, many, necroflow, ok


def run_words(out: Path) -> None:
    ok(necroflow("run", "-q", "--outdir", out, "good/words.toml", "good/other.toml"))


def test_status_says_what_would_run_and_why(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_words(out)
    # change one grid value: that combo's two jobs would run; the replaced combo's jobs and
    # other.toml's (not named here) are orphans
    changed = tmp_path / "words.toml"
    changed.write_text(f'".pipeline" = "{DATA}/flow.py:basic"\nword__grid = ["alpha", "beta", "omega"]\n')
    text, js, env = many([
        (["status", "--outdir", out, changed], {}),
        (["status", "--json", "--outdir", out, changed], {}),
        (["status", changed], {"NECROFLOW_OUTDIR": str(out), "NECROFLOW_CORES": "only run reads this"}),
    ])
    ok(text)
    assert "Would run 2 of 7 jobs" in text.out, str(text)
    assert "param word changed ('gamma' -> 'omega')" in text.out  # the cause, found in the earlier run
    assert "up to date: 5" in text.out and "orphans: 4" in text.out
    assert "Combos: 2 of 3 complete" in text.out
    doc = json.loads(ok(js).out)
    assert doc["to_run"] == 2 and doc["total"] == 7 and len(doc["orphans"]) == 4
    assert {c["combo"]: c["complete"] for c in doc["combos"]} == {
        "words__word+alpha": True, "words__word+beta": True, "words__word+omega": False}
    assert ok(env).out == text.out
    assert len(os.listdir(out / "make_text")) == 4  # status ran nothing


def test_status_needs_an_outdir() -> None:
    r = necroflow("status", "good/words.toml")
    assert r.code == 2 and "--outdir" in r.err and "Traceback" not in r.text, str(r)


def test_graph_formats(tmp_path: Path) -> None:
    out = tmp_path / "out"
    dot, rules, mermaid, bad = many([
        (["graph", "good/words.toml", "good/other.toml"], {}),
        (["graph", "--rules", "good/words.toml", "good/other.toml"], {}),
        (["graph", "-f", "mermaid", "good/words.toml"], {}),
        (["graph", "--format", "png", "good/words.toml"], {}),
    ])
    assert ok(dot).out.startswith("digraph") and dot.out.count('[label="summarise\\n') == 4
    assert dot.out.count('[label="shared\\n') == 1  # shared by all four combos: one node
    assert "4 jobs" in ok(rules).out and "->" in rules.out
    assert ok(mermaid).out.startswith("flowchart TD") and "-->" in mermaid.out
    assert bad.code == 2 and "--format must be 'dot' or 'mermaid'" in bad.err, str(bad)
    run_words(out)
    coloured = ok(necroflow("graph", "--outdir", out, "-o", tmp_path / "g.dot", "good/words.toml"))
    assert coloured.out == ""
    text = (tmp_path / "g.dot").read_text()
    assert "up_to_date" in text and "#c8e6c9" in text  # coloured by state


def _age(out: Path, rule_dir: str, days: float) -> None:
    """Make every node folder of a rule look as if it last ran ``days`` ago."""
    then = time.time() - days * 86400
    for state in (out / rule_dir).glob("*/.rip/state"):
        os.utime(state, (then, then))


def test_clean_orphans_and_old_folders(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_words(out)
    dry, words_only_dry, nothing, needs_jobs, bad_age = many([
        (["clean", "--outdir", out, "--orphans", "-n", "good/words.toml", "good/other.toml"], {}),
        (["clean", "--outdir", out, "--orphans", "--dry-run", "good/words.toml"], {}),
        (["clean", "--outdir", out], {}),
        (["clean", "--outdir", out, "--orphans"], {}),
        (["clean", "--outdir", out, "--older-than", "soon"], {}),
    ])
    assert "0 folder(s)" in ok(dry).out
    assert "2 folder(s), would free" in ok(words_only_dry).out and "(orphan)" in words_only_dry.out
    assert len(os.listdir(out / "summarise")) == 4  # dry run deleted nothing
    for r, msg in ((nothing, "--orphans"), (needs_jobs, "needs the job file"), (bad_age, "--older-than")):
        assert r.code == 2 and msg in r.err and "Traceback" not in r.text, str(r)
    removed = ok(necroflow("clean", "--outdir", out, "--orphans", "good/words.toml"))
    assert "2 folder(s), freed" in removed.out
    assert len(os.listdir(out / "summarise")) == 3 and len(os.listdir(out / "make_text")) == 3
    _age(out, "shared", 40)
    old = ok(necroflow("clean", "--outdir", out, "--older-than", "30d"))
    assert "1 folder(s), freed" in old.out and "shared/" in old.out
    assert os.listdir(out / "shared") == []


def test_clean_waits_for_no_one_when_the_outdir_is_locked(tmp_path: Path) -> None:
    import fcntl

    out = tmp_path / "out"
    run_words(out)
    with open(out / ".rip" / "necroflow.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r: Result = necroflow("clean", "--outdir", out, "--orphans", "good/words.toml")
    assert r.code == 3 and "another necroflow process" in r.err, str(r)
    assert len(os.listdir(out / "summarise")) == 4



def test_report_writes_one_html_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_words(out)
    every, only_words, missing = many([
        (["report", "--outdir", out, "-o", tmp_path / "all.html"], {}),
        (["report", "--outdir", out, "-o", tmp_path / "words.html", "--title", "Words", "good/words.toml"], {}),
        (["report", "--outdir", tmp_path / "nowhere", "-o", tmp_path / "x.html"], {}),
    ])
    assert ok(every).out.strip() == f"wrote {tmp_path / 'all.html'}"
    html = (tmp_path / "all.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html") and "summarise" in html
    ok(only_words)
    words = (tmp_path / "words.html").read_text()
    assert "<title>Words" in words
    assert words.count("summarise/") < html.count("summarise/")  # other.toml's job is left out
    assert missing.code == 2 and "does not exist" in missing.err and not (tmp_path / "x.html").exists()
