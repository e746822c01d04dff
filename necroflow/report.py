"""One self-contained HTML report of an outdir: the DAG, a timeline, every job's cost, per-rule totals.

Why a file and not a server: a report is something people mail, attach to a ticket or open
on a cluster login node a week later.  Everything is inline (CSS, a little JS, SVG drawn
here) and nothing is fetched at view time; links to each job's log and outputs are
relative, so the report keeps working when the outdir is copied or mounted elsewhere
together with it.

The report reads the ``.rip/`` records (state, metrics, dependencies) of the outdir, so it
works after the fact without a DAG.  Given a DAG it shows exactly the jobs the DAG requires,
with the plan's states (jobs that have not run yet included).  Each job's row names its
params and the combos it serves: from the job files when given (``jobset``), else from the
manifests of the outdir's combo folders.  The timeline has one section per run (its
``run_id``), bars coloured by rule.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .clean import format_bytes
from .graphviz import STATE_COLOURS
from .jobinfo import (
    JobRecord,
    assign_combos,
    assign_slots,
    collect_jobs,
    jobset_requests,
    manifest_requests,
    rule_totals,
    sessions,
)
from .report_page import CSS, JS
from .report_svg import (
    _colours,
    _dur,
    _e,
    _gantt_svg,
    _href,
    _nice_time,
    dag_views,
    default_view,
    rule_colours,
    timeline_legend,
)
from .store import atomic_write

if TYPE_CHECKING:
    from .graph import DAG
    from .jobs import JobSet

__all__ = ["JobRecord", "assign_slots", "collect_jobs", "render_html", "rule_totals", "sessions", "write_report"]


def _job_rows(records: list[JobRecord], base: Path, outdir: Path) -> str:
    rows = []
    for r in records:
        wall, cpu, rss = r.num("wall"), r.num("cpu"), r.num("max_rss")
        eff = f"{100 * cpu / wall:.0f}%" if cpu is not None and wall else ""
        log = r.log_path
        log_link = f'<a href="{_href(log, base)}">log</a>' if log.exists() else ""
        outs = " ".join(f'<a href="{_href(r.dir / fn, base)}">{_e(fn)}</a>' for fn in r.outputs
                        if os.path.lexists(r.dir / fn)) or '<span class="muted">none</span>'
        fill, stroke = _colours(r.state)
        rows.append(
            f'<tr data-key="{_e(r.key)}" data-rule="{_e(r.rule)}">'
            f"<td>{_e(r.rule)}</td>"
            f'<td class="mono"><a href="{_href(r.dir, base)}">{_e(r.key.split("/", 1)[-1])}</a></td>'
            f"{_params_cell(r.params)}{_combos_cell(r.combos, base, outdir)}"
            f'<td><span class="pill" style="background:{fill};border-color:{stroke}" title="{_e(r.reason)}">'
            f"{_e(r.state)}</span></td>"
            f'<td data-v="{r.start or 0}">{_e(_nice_time(r.start))}</td>'
            f'<td class="num" data-v="{wall if wall is not None else -1}">{_e(_dur(wall))}</td>'
            f'<td class="num" data-v="{cpu if cpu is not None else -1}">{_e(_dur(cpu))}</td>'
            f'<td class="num">{eff}</td>'
            f'<td class="num" data-v="{rss if rss is not None else -1}">{_e(format_bytes(int(rss))) if rss is not None else ""}</td>'
            f'<td class="num">{_e(r.metrics.get("exit_code", ""))}</td>'
            f'<td>{_e(r.metrics.get("host", ""))}</td>'
            f'<td class="mono">{_e(r.metrics.get("backend", ""))} {_e(r.metrics.get("job_id", ""))}</td>'
            f"<td>{log_link}</td><td>{outs}</td></tr>")
    return "".join(rows)


def _short(text: str, n: int) -> str:
    """At most ``n`` characters, cut in the middle: a path keeps its file name."""
    return text if len(text) <= n else text[: n // 2 - 1] + "\u2026" + text[len(text) - n // 2:]


def _params_cell(params: dict[str, Any]) -> str:
    """``name=value`` for each param; long values are cut, with the whole value on hover."""
    if not params:
        return '<td class="params muted">\u2014</td>'
    parts = []
    for k, v in params.items():
        text = v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
        parts.append(f'<span class="kv" title="{_e(_short(f"{k}={text}", 500))}"><b>{_e(k)}</b>='
                     f"{_e(_short(text, 40))}</span>")
    return f'<td class="params">{" ".join(parts)}</td>'


def _combos_cell(combos: dict[str, list[str]], base: Path, outdir: Path, shown: int = 2) -> str:
    """The combos a job serves, those it is a requested output of first (with the label)."""
    if not combos:
        return '<td class="combos muted" title="not known to serve any combo">\u2014</td>'
    names = sorted(combos, key=lambda c: (not combos[c], c))
    items = []
    for name in names[:shown]:
        folder = outdir / name
        text = f'<a href="{_href(folder, base)}">{_e(name)}</a>' if folder.is_dir() else _e(name)
        if combos[name]:
            text += f' <span class="req" title="requested output of this combo">\u2192 {_e(", ".join(combos[name]))}</span>'
        items.append(text)
    rest = names[shown:]
    if rest:  # the names stay in the cell's text, so the filter finds them
        items.append(f'<span class="muted" title="{_e(_short(", ".join(rest), 2000))}">+{len(rest)} more</span>'
                     f'<span hidden> {_e(" ".join(rest))}</span>')
    return f'<td class="combos" data-v="{len(names)}">{"<br>".join(items)}</td>'


def _rule_rows(totals: list[dict[str, Any]]) -> str:
    rows = []
    for t in totals:
        states = ", ".join(f"{v} {k}" for k, v in sorted(t["states"].items()))
        rows.append(
            f"<tr><td>{_e(t['rule'])}</td><td class='num'>{t['jobs']}</td><td>{_e(states)}</td>"
            f"<td class='num' data-v='{t['wall']}'>{_e(_dur(t['wall']))}</td>"
            f"<td class='num'>{_e(_dur(t['mean_wall']))}</td>"
            f"<td class='num'>{_e(_dur(t['max_wall']))}</td>"
            f"<td class='num' data-v='{t['cpu']}'>{_e(_dur(t['cpu']))}</td>"
            f"<td class='num'>{_e(format_bytes(int(t['max_rss']))) if t['max_rss'] is not None else ''}</td></tr>")
    return "".join(rows)


def _cards(records: list[JobRecord], states: Counter[str], runs: list[list[JobRecord]],
           slots: dict[str, int]) -> list[tuple[str, str]]:
    """The summary figures at the top: jobs per state, total times, the last run's span."""
    cpu_total = sum(r.num("cpu") or 0.0 for r in records)
    wall_total = sum(r.num("wall") or 0.0 for r in records)
    cards = [("jobs", str(len(records)))] + [(s.replace("_", " "), str(n)) for s, n in sorted(states.items())]
    cards += [("job time", _dur(wall_total)), ("CPU time", _dur(cpu_total))]
    if runs:
        last = runs[-1]
        span = max(r.end or 0.0 for r in last) - min(r.start or 0.0 for r in last)
        cards.append(("last run", _dur(span)))
        cards.append(("peak parallel", str(len({slots[r.key] for r in last}))))
    return cards


def _timeline(records: list[JobRecord], runs: list[list[JobRecord]], slots: dict[str, int],
              colours: dict[str, str]) -> list[str]:
    """One Gantt chart per run, and a note on jobs with no recorded times."""
    gantt = []
    for i, sess in enumerate(runs):
        t0 = min(r.start or 0.0 for r in sess)
        t1 = max(r.end or 0.0 for r in sess)
        rid = sess[0].run_id
        attr, note = (f' data-run="{_e(rid)}"', f' <span class="mono">(run id {_e(rid)})</span>') if rid else ("", "")
        gantt.append(f'<h3 class="muted run"{attr}>run {i + 1} of {len(runs)}: '
                     f"started {_e(_nice_time(t0))}, {len(sess)} jobs, {_e(_dur(t1 - t0))}{note}</h3>"
                     f'<div class="scroll">{_gantt_svg(sess, slots, colours)}</div>')
    untimed = len(records) - sum(len(s) for s in runs)
    if untimed:
        gantt.append(f'<p class="muted">{untimed} job(s) have no recorded start/end (not run yet, or run '
                     "by a version that kept no metrics) and are not on the timeline.</p>")
    return gantt


def _run_summary(run: list[JobRecord]) -> dict[str, Any]:
    t0 = min(r.start or 0.0 for r in run)
    return {"run_id": run[0].run_id, "jobs": len(run), "start": t0, "seconds": max(r.end or 0.0 for r in run) - t0}


def _dag_panel(records: list[JobRecord], states: Counter[str], colours: dict[str, str]) -> str:
    """The Pipeline section: the job and rule graphs (one shown, see report_svg), view buttons."""
    legend = "".join(f'<span><i style="background:{f};border-color:{s}"></i>{_e(k.replace("_", " "))}</span>'
                     for k, (f, s) in STATE_COLOURS.items() if k in states)
    if not records:
        return '<p class="muted">no jobs</p>'
    views = dag_views(records, colours)
    first = default_view(views)
    svgs, buttons = [], []
    for view, (svg, caption, _width) in views.items():
        hidden = "" if view == first else ' style="display:none"'
        attrs = f'data-view="{view}" data-count="{len(records)}" data-caption="{_e(caption)}"{hidden} '
        svgs.append(svg.replace("<svg ", "<svg " + attrs, 1))
        label = "one box per job" if view == "jobs" else "one box per rule"
        buttons.append(f'<button type="button" data-view="{view}"{" class=on" if view == first else ""}>{label}</button>')
    return (f'<p class="muted" id="dag-caption">{_e(views[first][1])}</p>'
            f'<div class="legend">{legend} <span id="dag-views">{"".join(buttons)}</span> '
            f'<button id="fit" type="button">actual size</button></div>'
            f'<div class="scroll fit" id="dag-box">{"".join(svgs)}</div>')


def render_html(records: list[JobRecord], out_path: Path, title: str, outdir: Path) -> str:
    """The whole report as one HTML string (links relative to ``out_path``'s folder)."""
    base = out_path.parent
    states = Counter(r.state for r in records)
    runs = sessions(records)
    slots = assign_slots(records)
    cards = _cards(records, states, runs, slots)
    colours = rule_colours(records)
    gantt = _timeline(records, runs, slots, colours)
    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    data = json.dumps({"jobs": len(records), "bars": sum(len(s) for s in runs), "states": dict(states),
                       "runs": [_run_summary(run) for run in runs]})
    data = data.replace("</", "<\\/")  # keep a "</script>" inside a value from closing the tag
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>{_e(title)}</title><style>{CSS}</style></head>
<body><header><h1>{_e(title)}</h1>
<div class="muted">outdir <span class="mono">{_e(outdir)}</span> · generated {_e(now)}</div>
<div class="cards">{"".join(f'<div class="card"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in cards)}</div>
</header><main>
<section id="dag-section"><h2>Pipeline</h2>{_dag_panel(records, states, colours)}</section>
<section id="timeline-section"><h2>Timeline</h2>
<p class="muted">Each bar is one job, on the worker slot it occupied (slots are assigned from start and end times),
coloured by rule; each run of necroflow is a section of its own.</p>{timeline_legend(records, colours)}
{"".join(gantt) or '<p class="muted">No job has recorded times yet.</p>'}</section>
<section id="rules-section"><h2>Per rule</h2><div class="scroll">
<table id="rules" class="sortable"><thead><tr><th>rule</th><th>jobs</th><th>states</th><th>job time</th>
<th>mean</th><th>max</th><th>CPU</th><th>peak memory</th></tr></thead>
<tbody>{_rule_rows(rule_totals(records))}</tbody></table></div></section>
<section id="jobs-section"><h2>Jobs</h2>
<input id="filter" type="search" placeholder="filter jobs (rule, hash, param, combo, state, host...)" aria-label="filter jobs">
<div class="scroll"><table id="jobs" class="sortable"><thead><tr><th>rule</th><th>job</th><th>params</th><th>combos</th><th>state</th>
<th>started</th><th>wall</th><th>CPU</th><th>CPU/wall</th><th>peak memory</th><th>exit</th><th>host</th>
<th>backend id</th><th>log</th><th>outputs</th></tr></thead>
<tbody>{_job_rows(records, base, outdir)}</tbody></table></div></section>
</main><script type="application/json" id="report-data">{data}</script>
<script>{JS}</script></body></html>
"""


def write_report(outdir: str | os.PathLike[str], out_path: str | os.PathLike[str], dag: DAG | None = None,
                 title: str | None = None, jobset: JobSet | None = None) -> Path:
    """Write the HTML report of ``outdir`` to ``out_path``; returns the path written.

    Without ``dag`` every node folder of the outdir is shown with its recorded state; with
    one, exactly the jobs it requires, in their plan states.  ``jobset`` (job files loaded
    with :func:`necroflow.jobs.load_jobs`) stands for its DAG and names each job's combos;
    without it, the combos come from the manifests of the outdir's combo folders.
    """
    root = Path(outdir).absolute()
    if not root.is_dir():
        raise FileNotFoundError(f"outdir {root} does not exist; pass the --outdir a run wrote to")
    out = Path(out_path).absolute()
    if jobset is not None and dag is None:
        dag = jobset.dag
    records = collect_jobs(root, dag)
    assign_combos(records, jobset_requests(jobset) if jobset is not None else manifest_requests(root))
    text = render_html(records, out, title or f"necroflow report: {root.name}", root)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, text)
    return out
