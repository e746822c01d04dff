"""The report of a 42-job grid run by ``necroflow run``, read back in headless Chromium.

The grid (4 samples x 2 references x 2 quality thresholds = 16 combos) shares work the way
real grids do: a sample's reads and QC serve 4 combos, a reference index 8, an alignment 2,
and each count belongs to one.  Checked: the DAG panel is readable without touching it,
each job's row names its params and the combos it serves (from the combo folders'
manifests, or from the job files), and the timeline's bars are coloured by rule.
"""

from __future__ import annotations

import html
import json
import re
import sys
import textwrap
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_cli import necroflow, ok  # noqa: E402
from test_observe_report import chromium, console_messages  # noqa: E402

from necroflow.jobs import load_jobs  # noqa: E402
from necroflow.report import write_report  # noqa: E402
from necroflow.report_svg import MIN_SCALE  # noqa: E402

FACTORY = '''
from necroflow import Inputs, NodeType, Outputs, Pipeline, Rules


class Reads(NodeType):
    """Reads of one sample."""
    filename = "reads.txt"


class Index(NodeType):
    """A reference index."""
    filename = "index.txt"


class Aligned(NodeType):
    """Reads against one reference."""
    filename = "aligned.txt"


class Qc(NodeType):
    """A QC summary of one sample."""
    filename = "qc.txt"


class Stats(NodeType):
    """Alignment statistics."""
    filename = "stats.txt"


class Counts(NodeType):
    """Counts at one quality threshold."""
    filename = "counts.txt"


R = Rules()
R.register("fetch", Inputs(sample=str), Outputs(reads=Reads), "echo {sample} > {reads}")
R.register("index", Inputs(ref=str), Outputs(index=Index), "echo {ref} > {index}")
R.register("qc", Inputs(reads=Reads), Outputs(qc=Qc), "wc -c < {reads} > {qc}")
R.register("align", Inputs(reads=Reads, index=Index), Outputs(aligned=Aligned), "cat {reads} {index} > {aligned}")
R.register("stats", Inputs(aligned=Aligned), Outputs(stats=Stats), "wc -l < {aligned} > {stats}")
R.register("count", Inputs(aligned=Aligned, mapq=int), Outputs(counts=Counts),
           "echo {mapq} | cat - {aligned} > {counts}")


def grid(config):
    P = Pipeline()
    P.reads = R.fetch(sample=config.sample)
    P.qc = R.qc(P.reads)
    P.index = R.index(ref=config.ref)
    P.aligned = R.align(P.reads, P.index)
    P.stats = R.stats(P.aligned)
    P.counts = R.count(P.aligned, mapq=config.mapq)
    return P
'''

JOB = """\
".pipeline" = "gridflow.py:grid"
".requests" = ["counts", "qc", "stats"]
sample__grid = ["s1", "s2", "s3", "s4"]
ref__grid = ["hg38", "mm10"]
mapq__grid = [0, 20]
"""

#: How many combos each rule's jobs serve, and the label under which they are requested.
SERVES = {"fetch": (4, None), "qc": (4, "qc"), "index": (8, None), "align": (2, None),
          "stats": (2, "stats"), "count": (1, "counts")}
WINDOW = "--window-size=1300,1000"


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the grid's job file, run once into ``out/`` by the real command."""
    root = tmp_path_factory.mktemp("grid")
    (root / "gridflow.py").write_text(textwrap.dedent(FACTORY))
    (root / "grid.toml").write_text(JOB)
    r = ok(necroflow("run", "-q", "--outdir", "out", "grid.toml", cwd=root))
    assert "42 ran" in r.text, str(r)
    return root


def _rendered(dom: str) -> dict:
    m = re.search(r'data-rendered="([^"]*)"', dom)
    assert m, "the report's script did not run"
    return json.loads(html.unescape(m.group(1)))


def _report(grid: Path, name: str, *job_files: str) -> Path:
    ok(necroflow("report", "--outdir", "out", "-o", name, *job_files, cwd=grid))
    return grid / name


def test_the_dag_of_a_40_job_grid_is_readable_without_touching_it(grid: Path) -> None:
    page = _report(grid, "dag.html")
    r = chromium(page, grid / "profile-dag", WINDOW, "--dump-dom")
    assert r.returncode == 0 and console_messages(r.stderr) == []
    shown = _rendered(r.stdout)
    # 24 jobs in the widest layer cannot fit 1300 px legibly: the rule graph comes first,
    # whole in the panel and at a size its 12 px labels can be read at
    assert shown["dagView"] == "rules" and shown["nodes"] == 6, shown
    assert shown["dagWidth"] <= shown["panelWidth"] and 12 * shown["dagScale"] >= 12 * MIN_SCALE, shown
    assert "42 jobs would be drawn at" in r.stdout  # the caption says why, and how to see the jobs
    # asked for the job graph (the button, or #dag=jobs), it is drawn at full size and scrolls
    r = chromium(page, grid / "profile-jobs", WINDOW, "--dump-dom", fragment="#dag=jobs")
    shown = _rendered(r.stdout)
    assert shown["dagView"] == "jobs" and shown["nodes"] == 42 and shown["dagScale"] == 1, shown


def test_a_small_dag_is_drawn_job_by_job_and_whole(grid: Path, tmp_path: Path) -> None:
    one = grid / "one.toml"
    one.write_text(JOB.replace('["s1", "s2", "s3", "s4"]', '["s1"]').replace('["hg38", "mm10"]', '["hg38"]'))
    page = _report(grid, "one.html", "one.toml")
    shown = _rendered(chromium(page, tmp_path / "profile", WINDOW, "--dump-dom").stdout)
    assert shown["dagView"] == "jobs" and shown["nodes"] == 7, shown  # fetch qc index align stats 2 x count
    assert shown["dagWidth"] <= shown["panelWidth"] and shown["dagScale"] >= MIN_SCALE, shown


class _Rows(HTMLParser):
    """The jobs table: per row (data-key), each cell's attributes and whole text (hidden text too)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[tuple[dict[str, str | None], str]]] = {}
        self._row: list[tuple[dict[str, str | None], str]] | None = None
        self._in_jobs = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._in_jobs = a.get("id") == "jobs"
        elif tag == "tr" and self._in_jobs and a.get("data-key"):
            self._row = self.rows.setdefault(str(a["data-key"]), [])
        elif tag == "td" and self._row is not None:
            self._row.append((a, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row:
            attrs, text = self._row[-1]
            self._row[-1] = (attrs, text + data)


def _rows(dom: str) -> dict[str, dict[str, str]]:
    parser = _Rows()
    parser.feed(dom)
    out = {}
    for key, cells in parser.rows.items():
        named = {str(a.get("class", "")).split()[0]: t for a, t in cells if a.get("class") in
                 ("params", "params muted", "combos", "combos muted")}
        named["n_combos"] = next((str(a.get("data-v")) for a, _ in cells if a.get("class") == "combos"), "0")
        out[key] = named
    return out


def _manifests(out: Path) -> dict[str, dict[str, str]]:
    """combo -> {label: job key}, read straight from the combo folders."""
    found = {}
    for m in out.glob("*/manifest.toml"):
        data = tomllib.loads(m.read_text())
        found[m.parent.name] = {label: "/".join(rel.split("/")[:2]) for label, rel in data["outputs"].items()}
    return found


@pytest.mark.parametrize("how", ["manifests", "job files on the command line", "jobset"])
def test_each_job_row_names_its_params_and_the_combos_it_serves(grid: Path, how: str) -> None:
    name = f"table-{how.split()[0]}.html"
    if how == "jobset":
        page = write_report(grid / "out", grid / name, jobset=load_jobs([grid / "grid.toml"], grid / "out", base=grid))
    else:
        page = _report(grid, name, *(["grid.toml"] if how.startswith("job files") else []))
    r = chromium(page, grid / f"profile-{how.split()[0]}", WINDOW, "--dump-dom")
    assert r.returncode == 0 and console_messages(r.stderr) == []
    rows = _rows(r.stdout)
    assert len(rows) == 42
    requested = _manifests(grid / "out")
    assert len(requested) == 16
    for key, cells in rows.items():
        rule = key.split("/")[0]
        n, label = SERVES[rule]
        assert cells["n_combos"] == str(n), (key, cells)
        if n > 2:
            assert f"+{n - 2} more" in cells["combos"], cells
        mine = [c for c, labels in requested.items() if labels.get(label or "") == key]
        assert len(mine) == (n if label else 0), (key, mine)
        for combo in mine:  # every combo that requests this job is named, with the label
            assert combo in cells["combos"], (key, combo, cells)
        if label:
            assert f"\u2192 {label}" in cells["combos"], cells
    params = {rule: sorted({c["params"] for k, c in rows.items() if k.startswith(rule + "/")}) for rule in SERVES}
    assert params["fetch"] == [f"sample=s{i}" for i in range(1, 5)]
    assert params["index"] == ["ref=hg38", "ref=mm10"] and params["count"] == ["mapq=0", "mapq=20"]
    assert params["align"] == ["\u2014"]  # no params of its own: only inputs


def test_timeline_bars_are_coloured_by_rule_with_a_legend(grid: Path) -> None:
    page = _report(grid, "timeline.html")
    dom = chromium(page, grid / "profile-timeline", WINDOW, "--dump-dom").stdout
    fills: dict[str, set[str]] = {}
    for bar in re.findall(r'<rect class="bar"[^>]*>', dom):
        rule = re.search(r'data-rule="([^"]*)"', bar).group(1)  # type: ignore[union-attr]
        fills.setdefault(rule, set()).add(re.search(r' fill="([^"]*)"', bar).group(1))  # type: ignore[union-attr]
    assert set(fills) == set(SERVES) and sum(1 for b in re.findall(r'class="bar"', dom)) == 42
    assert all(len(f) == 1 for f in fills.values()), fills  # one colour per rule...
    colours = {rule: next(iter(f)) for rule, f in fills.items()}
    assert len(set(colours.values())) == len(colours), colours  # ...and a different one for each
    legend = re.search(r'<div class="legend" id="rule-legend">(.*?)</div>', dom, re.S)
    assert legend, "no rule legend on the timeline"
    for rule, colour in colours.items():
        assert re.search(rf'background:\s*{re.escape(colour)}[^"]*"[^>]*></i>{rule}</span>', legend.group(1)), rule
