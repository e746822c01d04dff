"""Graph export: DOT that the real Graphviz accepts, Mermaid that is well formed, colours by state."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_observe_example import build_dag, ensure_apt  # noqa: E402
from test_observe_report import chromium, console_messages  # noqa: E402

from necroflow.graphviz import STATE_COLOURS, states_from_plan, to_dot, to_mermaid  # noqa: E402
from necroflow.progress import SilentReporter  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def _dot_svg(dot: str, text: str) -> ET.Element:
    r = subprocess.run([dot, "-Tsvg"], input=text, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"dot rejected the graph: {r.stderr}\n{text}"
    assert "Warning" not in r.stderr and "Error" not in r.stderr, r.stderr
    return ET.fromstring(r.stdout)


def test_job_graph_renders_with_dot_and_colours_follow_the_plan(tmp_path: Path) -> None:
    dot = ensure_apt("dot", "graphviz")
    out = tmp_path / "out"
    build_dag(out).execute(progress=SilentReporter())
    dag = build_dag(out, ref="mm10")  # index and everything below it must run again
    plan = dag.plan()
    text = to_dot(plan.required, states=states_from_plan(plan))
    svg = _dot_svg(dot, text)
    nodes = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "node"]
    titles = {g.find(f"{SVG}title").text for g in nodes}  # type: ignore[union-attr]
    job_nodes = [g for g in nodes if not g.find(f"{SVG}title").text.startswith("legend_")]  # type: ignore[union-attr]
    assert len(job_nodes) == 11, titles
    edges = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "edge"]
    assert len(edges) == 3 + 3 + 3 + 3  # fetch->align, index->align, align->count, count->table
    fills: dict[str, int] = {}
    for g in job_nodes:
        for shape in g.iter():
            if shape.tag in (f"{SVG}path", f"{SVG}polygon") and shape.get("fill", "").startswith("#"):
                fills[shape.get("fill", "")] = fills.get(shape.get("fill", ""), 0) + 1
    assert fills.get(STATE_COLOURS["missing"][0]) == 8, fills  # index, 3 align, 3 count, table
    assert fills.get(STATE_COLOURS["up_to_date"][0]) == 3, fills  # the fetches


def test_rule_graph_collapses_jobs_and_counts_edges(tmp_path: Path) -> None:
    dot = ensure_apt("dot", "graphviz")
    dag = build_dag(tmp_path / "out")
    jobs = list(dag.jobs.values())
    text = to_dot(jobs, collapse_rules=True)
    svg = _dot_svg(dot, text)
    nodes = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "node"]
    assert len(nodes) == 5
    assert re.search(r'r\d+ -> r\d+ \[label="3x"\]', text), text  # three align calls feed three counts
    labels = " ".join(t.text or "" for t in svg.iter(f"{SVG}text"))
    assert "3 jobs" in labels and "1 job" in labels


def test_labels_with_quotes_and_newlines_survive(tmp_path: Path) -> None:
    dot = ensure_apt("dot", "graphviz")
    dag = build_dag(tmp_path / "out", samples=('a"b', "c\\d", "e\nf"))
    text = to_dot(list(dag.jobs.values()))
    svg = _dot_svg(dot, text)
    labels = " ".join(t.text or "" for t in svg.iter(f"{SVG}text"))
    assert 'sample=a"b' in labels and "c\\d" in labels
    mer = to_mermaid(list(dag.jobs.values()))
    assert '"' not in mer.replace('["', "").replace('"]', "").replace('|"', "").replace('"|', ""), mer


def test_mermaid_is_well_formed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_dag(out).execute(progress=SilentReporter())
    dag = build_dag(out, lines=4)
    plan = dag.plan()
    text = to_mermaid(plan.required, states=states_from_plan(plan))
    lines = text.strip().splitlines()
    assert lines[0] == "flowchart TD"
    node_ids = set()
    edges = 0
    classes: dict[str, set[str]] = {}
    defined: set[str] = set()
    for line in lines[1:]:
        line = line.strip()
        if m := re.fullmatch(r'(j\d+)\["[^"]*"\]', line):
            node_ids.add(m.group(1))
        elif m := re.fullmatch(r'(j\d+) -->(?:\|"[^"]*"\|)? (j\d+)', line):
            assert m.group(1) in node_ids and m.group(2) in node_ids, f"edge before its nodes: {line}"
            edges += 1
        elif m := re.fullmatch(r"classDef (\w+) fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6},color:#000", line):
            defined.add(m.group(1))
        elif m := re.fullmatch(r"class ([\w,]+) (\w+)", line):
            assert m.group(2) in defined
            classes[m.group(2)] = set(m.group(1).split(","))
        else:
            raise AssertionError(f"unexpected Mermaid line: {line!r}")
    assert len(node_ids) == 11 and edges == 12
    assert len(classes["missing"]) == 10 and len(classes["up_to_date"]) == 1  # only index is untouched
    rule_text = to_mermaid(plan.required, collapse_rules=True)
    assert rule_text.count("-->") == 4  # fetch->align, index->align, align->count, count->table


MERMAID_VERSION = "11"


def _mermaid_js() -> Path:
    """mermaid.min.js from the npm registry (``npm pack``), cached between test runs."""
    cache = Path(tempfile.gettempdir()) / f"necroflow-test-mermaid-{MERMAID_VERSION}"
    js = cache / "mermaid.min.js"
    if js.exists():
        return js
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot fetch mermaid to render the Mermaid text for real")
    cache.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([npm, "pack", f"mermaid@{MERMAID_VERSION}", "--silent"], cwd=cache,
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        pytest.skip(f"`npm pack mermaid` failed (no registry access?): {r.stderr.strip()[-300:]}")
    tgz = cache / r.stdout.strip().splitlines()[-1]
    with tarfile.open(tgz) as tar:
        member = tar.extractfile("package/dist/mermaid.min.js")
        assert member is not None
        tmp = js.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(member.read())
        tmp.replace(js)
    tgz.unlink()
    return js


def _render_mermaid(tmp_path: Path, text: str) -> dict[str, object]:
    """Parse and render ``text`` with the real Mermaid in headless Chromium."""
    js = _mermaid_js()
    page = tmp_path / "mermaid.html"
    page.write_text(f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<script src="{js.as_uri()}"></script></head><body><div id="out"></div><script>
mermaid.initialize({{startOnLoad: false}});
var src = {json.dumps(text)};
function done(r) {{ document.documentElement.setAttribute('data-result', JSON.stringify(r)); }}
mermaid.parse(src).then(function () {{ return mermaid.render('g', src); }}).then(function (r) {{
  document.getElementById('out').innerHTML = r.svg;
  done({{ok: true, nodes: document.querySelectorAll('#out g.node').length,
        edges: document.querySelectorAll('#out path.flowchart-link').length,
        text: document.getElementById('out').textContent}});
}}).catch(function (e) {{ done({{ok: false, error: String(e)}}); }});
</script></body></html>""")
    r = chromium(page, tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom",
                 "--allow-file-access-from-files")
    m = re.search(r'data-result="([^"]*)"', r.stdout)
    assert m, f"the page did not finish: {r.stderr[-1500:]}"
    result: dict[str, object] = json.loads(html.unescape(m.group(1)))
    result["console"] = console_messages(r.stderr)
    return result


def test_mermaid_renders_with_the_real_mermaid(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_dag(out).execute(progress=SilentReporter())
    dag = build_dag(out, samples=('s1', 'a"b', "c<d> & e"))  # quotes and markup in labels
    plan = dag.plan()
    res = _render_mermaid(tmp_path, to_mermaid(plan.required, states=states_from_plan(plan)))
    assert res["ok"] is True and res["console"] == [], res
    assert res["nodes"] == 11 and res["edges"] == 12, res
    assert 'sample=a"b' in str(res["text"]), res["text"]
    assert "c<d> & e" in str(res["text"]), res["text"]
    rules = _render_mermaid(tmp_path, to_mermaid(plan.required, collapse_rules=True))
    assert rules["ok"] is True and rules["nodes"] == 5 and rules["edges"] == 4, rules
    # the harness can fail: a broken text is reported as a Mermaid error, not as success
    broken = _render_mermaid(tmp_path, "flowchart TD\n  j0[\"unclosed\n  j0 --> \n")
    assert broken["ok"] is False and "error" in broken
