"""One self-contained HTML report of an outdir: the DAG, a timeline, every job's cost, per-rule totals.

Why a file and not a server: a report is something people mail, attach to a ticket or open
on a cluster login node a week later.  Everything is inline (CSS, a little JS, SVG drawn
here) and nothing is fetched at view time; links to each job's log and outputs are
relative, so the report keeps working when the outdir is copied or mounted elsewhere
together with it.

The report reads the ``.rip/`` records (state, metrics, dependencies) of the outdir, so it
works after the fact without a DAG.  Given a DAG it shows exactly the jobs the DAG requires,
with the plan's states (jobs that have not run yet included).
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
from .jobinfo import JobRecord, assign_slots, collect_jobs, rule_totals, sessions
from .report_svg import _colours, _dag_svg, _dur, _e, _gantt_svg, _href, _nice_time
from .store import atomic_write

if TYPE_CHECKING:
    from .graph import DAG

__all__ = ["JobRecord", "assign_slots", "collect_jobs", "render_html", "rule_totals", "sessions", "write_report"]


def _job_rows(records: list[JobRecord], base: Path) -> str:
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
            f'<tr data-key="{_e(r.key)}">'
            f"<td>{_e(r.rule)}</td>"
            f'<td class="mono"><a href="{_href(r.dir, base)}">{_e(r.key.split("/", 1)[-1])}</a></td>'
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


_CSS = """
:root{--fg:#1f2933;--muted:#6b7785;--line:#d9e0e6;--bg:#fbfcfd}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{padding:18px 28px;border-bottom:1px solid var(--line);background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:26px 0 8px}
main{padding:0 28px 40px}.muted{color:var(--muted)}.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-top:10px}.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 14px}
.card b{display:block;font-size:18px}.scroll{overflow:auto;border:1px solid var(--line);border-radius:8px;background:#fff;padding:6px;max-height:70vh}
svg text{font-family:system-ui,Helvetica,Arial,sans-serif}.dag .t1{font-size:12px;font-weight:600;text-anchor:middle}
.dag .t2{font-size:10px;fill:#455a64;text-anchor:middle}.edge{fill:none;stroke:#90a4ae;stroke-width:1.2}
.node rect,.bar{cursor:pointer}.hl rect,rect.hl{stroke-width:3;filter:drop-shadow(0 0 3px #1565c0)}
.gantt .tick{stroke:#eceff1}.gantt .tl{font-size:10px;fill:var(--muted);text-anchor:middle}
.gantt .sl{font-size:10px;fill:var(--muted);text-anchor:end}.gantt .bl{font-size:10px;pointer-events:none}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;white-space:nowrap}
th{position:sticky;top:0;background:#f3f6f8;cursor:pointer;user-select:none}th.sorted-asc::after{content:" \\25B2"}th.sorted-desc::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.hl td{background:#e3f2fd}
.pill{border:1px solid;border-radius:10px;padding:0 7px;font-size:12px}
input[type=search]{padding:5px 9px;border:1px solid var(--line);border-radius:6px;width:280px;margin-bottom:8px}
#dag-box.fit svg{max-width:100%;height:auto}button{font:inherit;font-size:12px;padding:1px 8px;border:1px solid var(--line);border-radius:6px;background:#fff;cursor:pointer}
.legend span{display:inline-block;margin-right:10px;font-size:12px}.legend i{display:inline-block;width:12px;height:12px;border:1px solid;border-radius:3px;vertical-align:-2px;margin-right:4px}
"""

_JS = """
(function(){
  function cellValue(td){var v=td.getAttribute('data-v');if(v!==null){return parseFloat(v);}return td.textContent.trim().toLowerCase();}
  document.querySelectorAll('table.sortable').forEach(function(table){
    table.querySelectorAll('th').forEach(function(th,col){
      th.addEventListener('click',function(){
        var asc=!th.classList.contains('sorted-asc');
        table.querySelectorAll('th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc');});
        th.classList.add(asc?'sorted-asc':'sorted-desc');
        var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
        rows.sort(function(a,b){var x=cellValue(a.cells[col]),y=cellValue(b.cells[col]);return (x<y?-1:x>y?1:0)*(asc?1:-1);});
        rows.forEach(function(r){body.appendChild(r);});
      });
    });
  });
  var filter=document.getElementById('filter');
  if(filter){filter.addEventListener('input',function(){
    var q=filter.value.toLowerCase();
    document.querySelectorAll('#jobs tbody tr').forEach(function(tr){tr.style.display=tr.textContent.toLowerCase().indexOf(q)>=0?'':'none';});
  });}
  function mark(key,on){
    document.querySelectorAll('[data-key]').forEach(function(el){
      if(el.getAttribute('data-key')===key){el.classList.toggle('hl',on);}
    });
  }
  document.querySelectorAll('.node,.bar,#jobs tbody tr').forEach(function(el){
    var key=el.getAttribute('data-key');
    el.addEventListener('mouseenter',function(){mark(key,true);});
    el.addEventListener('mouseleave',function(){mark(key,false);});
  });
  var box=document.getElementById('dag-box'),fit=document.getElementById('fit');
  if(box&&fit){
    var svg0=box.querySelector('svg');
    // fit the drawing to the page unless that would shrink it past readability
    if(svg0&&svg0.width.baseVal.value<=2.5*box.clientWidth){box.classList.add('fit');}else{fit.textContent='fit to page';}
    fit.addEventListener('click',function(){var on=box.classList.toggle('fit');fit.textContent=on?'actual size':'fit to page';});
  }
  // a self-check the browser test reads back: what was actually laid out
  var dag=document.querySelector('svg.dag');
  document.documentElement.setAttribute('data-rendered', JSON.stringify({
    bars: document.querySelectorAll('svg.gantt rect.bar').length,
    nodes: document.querySelectorAll('svg.dag .node').length,
    rows: document.querySelectorAll('#jobs tbody tr').length,
    dagWidth: dag ? Math.round(dag.getBoundingClientRect().width) : 0
  }));
})();
"""


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


def _timeline(records: list[JobRecord], runs: list[list[JobRecord]], slots: dict[str, int]) -> list[str]:
    """One Gantt chart per run, and a note on jobs with no recorded times."""
    gantt = []
    for i, sess in enumerate(runs):
        t0 = min(r.start or 0.0 for r in sess)
        t1 = max(r.end or 0.0 for r in sess)
        gantt.append(f'<h3 class="muted">run {i + 1} of {len(runs)}: started {_e(_nice_time(t0))}, '
                     f"{len(sess)} jobs, {_e(_dur(t1 - t0))}</h3>"
                     f'<div class="scroll">{_gantt_svg(sess, slots)}</div>')
    untimed = len(records) - sum(len(s) for s in runs)
    if untimed:
        gantt.append(f'<p class="muted">{untimed} job(s) have no recorded start/end (not run yet, or run '
                     "by a version that kept no metrics) and are not on the timeline.</p>")
    return gantt


def render_html(records: list[JobRecord], out_path: Path, title: str, outdir: Path) -> str:
    """The whole report as one HTML string (links relative to ``out_path``'s folder)."""
    base = out_path.parent
    states = Counter(r.state for r in records)
    runs = sessions(records)
    slots = assign_slots(records)
    cards = _cards(records, states, runs, slots)
    dag_svg, dag_caption = _dag_svg(records) if records else ("", "no jobs")
    legend = "".join(f'<span><i style="background:{f};border-color:{s}"></i>{_e(k.replace("_", " "))}</span>'
                     for k, (f, s) in STATE_COLOURS.items() if k in states)
    gantt = _timeline(records, runs, slots)
    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    data = json.dumps({"jobs": len(records), "bars": sum(len(s) for s in runs), "states": dict(states)})
    data = data.replace("</", "<\\/")  # keep a "</script>" inside a value from closing the tag
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>{_e(title)}</title><style>{_CSS}</style></head>
<body><header><h1>{_e(title)}</h1>
<div class="muted">outdir <span class="mono">{_e(outdir)}</span> · generated {_e(now)}</div>
<div class="cards">{"".join(f'<div class="card"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in cards)}</div>
</header><main>
<section id="dag-section"><h2>Pipeline</h2><p class="muted">{_e(dag_caption)}</p>
<div class="legend">{legend} <button id="fit" type="button">actual size</button></div>
<div class="scroll" id="dag-box">{dag_svg}</div></section>
<section id="timeline-section"><h2>Timeline</h2>
<p class="muted">Each bar is one job, on the worker slot it occupied (slots are assigned from start and end times).</p>
{"".join(gantt) or '<p class="muted">No job has recorded times yet.</p>'}</section>
<section id="rules-section"><h2>Per rule</h2><div class="scroll">
<table id="rules" class="sortable"><thead><tr><th>rule</th><th>jobs</th><th>states</th><th>job time</th>
<th>mean</th><th>max</th><th>CPU</th><th>peak memory</th></tr></thead>
<tbody>{_rule_rows(rule_totals(records))}</tbody></table></div></section>
<section id="jobs-section"><h2>Jobs</h2>
<input id="filter" type="search" placeholder="filter jobs (rule, hash, state, host...)" aria-label="filter jobs">
<div class="scroll"><table id="jobs" class="sortable"><thead><tr><th>rule</th><th>job</th><th>state</th>
<th>started</th><th>wall</th><th>CPU</th><th>CPU/wall</th><th>peak memory</th><th>exit</th><th>host</th>
<th>backend id</th><th>log</th><th>outputs</th></tr></thead>
<tbody>{_job_rows(records, base)}</tbody></table></div></section>
</main><script type="application/json" id="report-data">{data}</script>
<script>{_JS}</script></body></html>
"""


def write_report(outdir: str | os.PathLike[str], out_path: str | os.PathLike[str], dag: DAG | None = None,
                 title: str | None = None) -> Path:
    """Write the HTML report of ``outdir`` to ``out_path``; returns the path written.

    Without ``dag`` every node folder of the outdir is shown with its recorded state; with
    one, exactly the jobs it requires, in their plan states.
    """
    root = Path(outdir).absolute()
    if not root.is_dir():
        raise FileNotFoundError(f"outdir {root} does not exist; pass the --outdir a run wrote to")
    out = Path(out_path).absolute()
    records = collect_jobs(root, dag)
    text = render_html(records, out, title or f"necroflow report: {root.name}", root)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, text)
    return out
