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
import heapq
import html
import json
import os
import tomllib
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import store
from .clean import format_bytes, node_folders
from .graphviz import STATE_COLOURS, STATE_PRIORITY
from .progress import format_duration

if TYPE_CHECKING:
    from .graph import DAG

#: Above this many jobs the DAG panel draws one box per rule instead of one per job.
MAX_DRAWN_JOBS = 300
#: A pause longer than this between jobs starts a new run section in the timeline.
SESSION_GAP = 300.0


@dataclass
class JobRecord:
    """What the report knows about one node folder."""

    key: str
    rule: str
    dir: Path
    state: str  # lower case: up_to_date, failed, running, interrupted, missing, stale, ...
    reason: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)  # input name -> upstream job key
    outputs: list[str] = field(default_factory=list)  # declared (DAG) or found (no DAG) file names

    @property
    def start(self) -> float | None:
        v = self.metrics.get("start")
        return float(v) if isinstance(v, (int, float)) else None

    @property
    def end(self) -> float | None:
        v = self.metrics.get("end")
        return float(v) if isinstance(v, (int, float)) else None

    def num(self, name: str) -> float | None:
        v = self.metrics.get(name)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_deps(node_dir: Path) -> dict[str, Any]:
    try:
        with open(node_dir / store.RIP / "dependencies.toml", "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _found_outputs(node_dir: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(node_dir) if e.name != store.RIP and not e.name.startswith(".rip"))
    except OSError:
        return []


def _from_folder(node_dir: Path, key: str, rule: str) -> JobRecord:
    deps = _read_deps(node_dir)
    inputs = {n: c["job"] for n, c in (deps.get("inputs") or {}).items() if isinstance(c, dict) and "job" in c}
    params = deps.get("params") if isinstance(deps.get("params"), dict) else {}
    return JobRecord(key=key, rule=rule, dir=node_dir, state=store.read_state(node_dir) or "missing",
                     metrics=_read_json(node_dir / store.RIP / "metrics.json"), params=params or {},
                     inputs=inputs, outputs=_found_outputs(node_dir))


def collect_jobs(outdir: str | os.PathLike[str], dag: DAG | None = None) -> list[JobRecord]:
    """Job records, parents before children: the DAG's required jobs, or every node folder."""
    root = Path(outdir).absolute()
    records: list[JobRecord] = []
    if dag is not None:
        from .plan import make_plan

        plan = make_plan(dag)
        for job in plan.required:
            assert job.dir is not None
            e = plan.entries[job.fingerprint]
            rec = JobRecord(key=job.key, rule=job.rule.name, dir=job.dir, state=e.state.value.lower(),
                            reason=e.reason, metrics=_read_json(job.dir / store.RIP / "metrics.json"),
                            params=dict(job.params), inputs={n: p.job.key for n, p in job.inputs.items()},
                            outputs=list(job.rule.filenames))
            if rec.state != "up_to_date":
                recorded = store.read_state(job.dir)
                if recorded in (store.RUNNING, store.FAILED):
                    rec.state = recorded
            records.append(rec)
        return records
    for folder in node_folders(root):
        records.append(_from_folder(folder, f"{folder.parent.name}/{folder.name}", folder.parent.name))
    return _toposort(records)


def _toposort(records: list[JobRecord]) -> list[JobRecord]:
    by_key = {r.key: r for r in records}
    indeg = {r.key: 0 for r in records}
    children: dict[str, list[str]] = {}
    for r in records:
        for up in set(r.inputs.values()):
            if up in by_key:
                indeg[r.key] += 1
                children.setdefault(up, []).append(r.key)
    ready = sorted((r.start or 0.0, r.key) for r in records if indeg[r.key] == 0)
    heapq.heapify(ready)
    out: list[JobRecord] = []
    while ready:
        _, k = heapq.heappop(ready)
        out.append(by_key[k])
        for c in children.get(k, ()):
            indeg[c] -= 1
            if indeg[c] == 0:
                heapq.heappush(ready, (by_key[c].start or 0.0, c))
    if len(out) < len(records):  # a cycle can only come from hand-edited records: keep them anyway
        done = {r.key for r in out}
        out += [r for r in records if r.key not in done]
    return out


# ------------------------------------------------------------------------------- timeline

def assign_slots(records: list[JobRecord]) -> dict[str, int]:
    """Worker slot of each timed job: the lowest slot free at its start (interval partitioning).

    The number of slots equals the largest number of jobs that overlapped, which is what a
    reader wants to see as "how parallel was this run".
    """
    timed = sorted((r for r in records if r.start is not None and r.end is not None),
                   key=lambda r: (r.start, r.end, r.key))
    busy: list[tuple[float, int]] = []  # (end, slot)
    free: list[int] = []
    n_slots = 0
    out: dict[str, int] = {}
    for r in timed:
        assert r.start is not None and r.end is not None
        while busy and busy[0][0] <= r.start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            slot = heapq.heappop(free)
        else:
            slot = n_slots
            n_slots += 1
        out[r.key] = slot
        heapq.heappush(busy, (max(r.end, r.start), slot))
    return out


def sessions(records: list[JobRecord], gap: float = SESSION_GAP) -> list[list[JobRecord]]:
    """Timed jobs split into runs: a pause longer than ``gap`` seconds starts a new one."""
    timed = sorted((r for r in records if r.start is not None and r.end is not None), key=lambda r: r.start or 0.0)
    out: list[list[JobRecord]] = []
    horizon = float("-inf")
    for r in timed:
        assert r.start is not None and r.end is not None
        if not out or r.start > horizon + gap:
            out.append([])
        out[-1].append(r)
        horizon = max(horizon, r.end)
    return out


# ------------------------------------------------------------------------------- HTML pieces

def _dur(seconds: float | None) -> str:
    """Durations in tables: milliseconds matter for short jobs, hours for long ones."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    return format_duration(seconds)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _colours(state: str) -> tuple[str, str]:
    return STATE_COLOURS.get(state, ("#ffffff", "#455a64"))


def _href(target: Path, base: Path) -> str:
    return urllib.parse.quote(os.path.relpath(target, base))


def _nice_time(ts: float | None) -> str:
    if ts is None:
        return ""
    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _dag_svg(records: list[JobRecord]) -> tuple[str, str]:
    """(svg, caption): the job graph laid out by layers, or the rule graph when it is large."""
    if len(records) > MAX_DRAWN_JOBS:
        return _rule_graph_svg(records)
    nodes = [(r.key, r.rule, r.key.split("/", 1)[-1][:8], r.state,
              _tooltip(r), [k for k in dict.fromkeys(r.inputs.values())]) for r in records]
    return _layered_svg(nodes, "job"), f"{len(records)} jobs, coloured by state; hover for details."


def _tooltip(r: JobRecord) -> str:
    lines = [r.key, f"state: {r.state}" + (f" ({r.reason})" if r.reason else "")]
    if r.params:
        lines.append("params: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in r.params.items()))
    wall = r.num("wall")
    if wall is not None:
        lines.append(f"wall {_dur(wall)}")
    return "\n".join(lines)


def _rule_graph_svg(records: list[JobRecord]) -> tuple[str, str]:
    by_rule: dict[str, list[JobRecord]] = {}
    rule_of = {r.key: r.rule for r in records}
    for r in records:
        by_rule.setdefault(r.rule, []).append(r)
    nodes = []
    for rule, rs in by_rule.items():
        c = Counter(r.state for r in rs)
        state = next((s for s in STATE_PRIORITY if s in c), "up_to_date")
        ups = sorted({rule_of[k] for r in rs for k in r.inputs.values() if k in rule_of} - {rule})
        tip = f"{rule}: {len(rs)} jobs\n" + ", ".join(f"{v} {k}" for k, v in sorted(c.items()))
        nodes.append((rule, rule, f"{len(rs)} jobs", state, tip, ups))
    caption = (f"{len(records)} jobs are too many to draw one by one: one box per rule "
               f"({len(by_rule)} rules), coloured by its most pressing state.")
    return _layered_svg(nodes, "rule"), caption


def _layered_svg(nodes: list[tuple[str, str, str, str, str, list[str]]], kind: str) -> str:
    """Layered (Sugiyama-style) drawing: longest-path layers, barycentre ordering, curved edges."""
    W, H, GX, GY, PAD = 150, 42, 18, 46, 16
    index = {n[0]: i for i, n in enumerate(nodes)}
    parents = [[index[p] for p in n[5] if p in index] for n in nodes]
    depth = [0] * len(nodes)
    for i in range(len(nodes)):  # nodes come parents first
        depth[i] = 1 + max((depth[p] for p in parents[i]), default=-1)
    layers: list[list[int]] = [[] for _ in range(max(depth, default=-1) + 1)]
    for i, d in enumerate(depth):
        layers[d].append(i)
    children: list[list[int]] = [[] for _ in nodes]
    for i, ps in enumerate(parents):
        for p in ps:
            children[p].append(i)
    pos = [0.0] * len(nodes)
    for layer in layers:
        for k, i in enumerate(layer):
            pos[i] = float(k)
    for sweep in range(4):  # down, up, down, up: barycentres of neighbours in the adjacent layer
        order = layers[1:] if sweep % 2 == 0 else list(reversed(layers[:-1]))
        for layer in order:
            def bary(i: int, down: bool = sweep % 2 == 0) -> float:
                nb = parents[i] if down else children[i]
                return sum(pos[j] for j in nb) / len(nb) if nb else pos[i]
            layer.sort(key=bary)
            for k, i in enumerate(layer):
                pos[i] = float(k)
    xs = _place(layers, parents, children, W + GX)
    width = PAD * 2 + (max(xs, default=0.0) - min(xs, default=0.0)) + W
    height = PAD * 2 + len(layers) * H + max(0, len(layers) - 1) * GY
    x0 = min(xs, default=0.0) - PAD
    xy: list[tuple[float, float]] = [(0.0, 0.0)] * len(nodes)
    for d, layer in enumerate(layers):
        for i in layer:
            xy[i] = (xs[i] - x0, PAD + d * (H + GY))
    out = [f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{kind} graph">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#78909c"/></marker></defs>']
    for i, ps in enumerate(parents):
        x2, y2 = xy[i][0] + W / 2, xy[i][1]
        for p in ps:
            x1, y1 = xy[p][0] + W / 2, xy[p][1] + H
            my = (y1 + y2) / 2
            out.append(f'<path class="edge" d="M{x1:.1f},{y1:.1f} C{x1:.1f},{my:.1f} {x2:.1f},{my:.1f} '
                       f'{x2:.1f},{y2 - 2:.1f}" marker-end="url(#arrow)"/>')
    for i, (key, title, sub, state, tip, _) in enumerate(nodes):
        x, y = xy[i]
        fill, stroke = _colours(state)
        name = title if len(title) <= 20 else title[:19] + "~"
        out.append(f'<g class="node" data-key="{_e(key)}" transform="translate({x:.1f},{y:.1f})">'
                   f"<title>{_e(tip)}</title>"
                   f'<rect width="{W}" height="{H}" rx="7" fill="{fill}" stroke="{stroke}"/>'
                   f'<text x="{W / 2}" y="17" class="t1">{_e(name)}</text>'
                   f'<text x="{W / 2}" y="32" class="t2">{_e(sub)} · {_e(state.replace("_", " "))}</text></g>')
    out.append("</svg>")
    return "".join(out)


def _isotonic_spaced(desired: list[float], gap: float) -> list[float]:
    """Positions closest (least squares) to ``desired`` that keep order and ``gap`` apart.

    With y_i = x_i - i*gap the constraint is "y non-decreasing": isotonic regression,
    solved exactly by pool-adjacent-violators in O(n).
    """
    blocks: list[list[float]] = []  # [sum, count]
    for i, d in enumerate(desired):
        blocks.append([d - i * gap, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
    out: list[float] = []
    for s, c in blocks:
        out.extend([s / c] * int(c))
    return [y + i * gap for i, y in enumerate(out)]


def _place(layers: list[list[int]], parents: list[list[int]], children: list[list[int]],
           gap: float) -> list[float]:
    """x of each node: each layer pulled toward its neighbours' mean, order and spacing kept."""
    n = sum(len(layer) for layer in layers)
    xs = [0.0] * n
    for layer in layers:
        for k, i in enumerate(layer):
            xs[i] = (k - (len(layer) - 1) / 2) * gap
    for sweep in range(6):
        down = sweep % 2 == 0
        for layer in (layers[1:] if down else list(reversed(layers[:-1]))):
            want = []
            for i in layer:
                nb = parents[i] if down else children[i]
                if not nb:
                    nb = children[i] if down else parents[i]
                want.append(sum(xs[j] for j in nb) / len(nb) if nb else xs[i])
            for i, x in zip(layer, _isotonic_spaced(want, gap), strict=True):
                xs[i] = x
    return xs


def _gantt_svg(session: list[JobRecord], slots: dict[str, int]) -> str:
    """One run's jobs as bars over time, one row per worker slot."""
    LEFT, TOP, ROW, WIDTH = 64, 22, 18, 1100
    t0 = min(r.start for r in session if r.start is not None)
    t1 = max(r.end for r in session if r.end is not None)
    span = max(t1 - t0, 1e-3)
    used = sorted({slots[r.key] for r in session})
    row_of = {s: i for i, s in enumerate(used)}
    height = TOP + len(used) * ROW + 8
    scale = (WIDTH - LEFT - 10) / span
    out = [f'<svg class="gantt" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="timeline">']
    step = _tick_step(span)
    t = 0.0
    while t <= span + 1e-9:
        x = LEFT + t * scale
        out.append(f'<line class="tick" x1="{x:.1f}" y1="{TOP - 4}" x2="{x:.1f}" y2="{height - 8}"/>'
                   f'<text class="tl" x="{x:.1f}" y="{TOP - 8}">{_e(_tick_label(t, step))}</text>')
        t += step
    for s, i in row_of.items():
        out.append(f'<text class="sl" x="{LEFT - 6}" y="{TOP + i * ROW + 12}">slot {s + 1}</text>')
    for r in session:
        assert r.start is not None and r.end is not None
        x = LEFT + (r.start - t0) * scale
        w = max((r.end - r.start) * scale, 1.5)
        y = TOP + row_of[slots[r.key]] * ROW + 2
        fill, stroke = _colours(r.state)
        tip = (f"{r.key}\n{_nice_time(r.start)} +{_dur(r.end - r.start)}\n"
               f"cpu {_dur(r.num('cpu') or 0.0)}, peak {format_bytes(int(r.num('max_rss') or 0))}, "
               f"state {r.state}")
        out.append(f'<rect class="bar" data-key="{_e(r.key)}" x="{x:.1f}" y="{y}" width="{w:.1f}" '
                   f'height="{ROW - 4}" rx="2" fill="{fill}" stroke="{stroke}"><title>{_e(tip)}</title></rect>')
        if w > 60:
            out.append(f'<text class="bl" x="{x + 3:.1f}" y="{y + ROW - 8}">{_e(r.rule)}</text>')
    out.append("</svg>")
    return "".join(out)


def _tick_label(t: float, step: float) -> str:
    if step < 1:
        return f"{t:.1f}s"
    return format_duration(t) if t >= 60 else f"{t:.0f}s"


def _tick_step(span: float) -> float:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400):
        if span / step <= 12:
            return float(step)
    return span / 10


def _job_rows(records: list[JobRecord], base: Path) -> str:
    rows = []
    for r in records:
        wall, cpu, rss = r.num("wall"), r.num("cpu"), r.num("max_rss")
        eff = f"{100 * cpu / wall:.0f}%" if cpu is not None and wall else ""
        log = r.dir / store.RIP / "job.log"
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


def rule_totals(records: list[JobRecord]) -> list[dict[str, Any]]:
    """Per rule: job count, states, total/mean/max wall, total CPU, peak memory."""
    by_rule: dict[str, list[JobRecord]] = {}
    for r in records:
        by_rule.setdefault(r.rule, []).append(r)
    out = []
    for rule, rs in by_rule.items():
        walls = [w for r in rs if (w := r.num("wall")) is not None]
        cpus = [c for r in rs if (c := r.num("cpu")) is not None]
        rss = [m for r in rs if (m := r.num("max_rss")) is not None]
        out.append({"rule": rule, "jobs": len(rs), "states": dict(Counter(r.state for r in rs)),
                    "wall": sum(walls), "mean_wall": sum(walls) / len(walls) if walls else None,
                    "max_wall": max(walls, default=None), "cpu": sum(cpus), "max_rss": max(rss, default=None)})
    return out


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


def render_html(records: list[JobRecord], out_path: Path, title: str, outdir: Path) -> str:
    """The whole report as one HTML string (links relative to ``out_path``'s folder)."""
    base = out_path.parent
    states = Counter(r.state for r in records)
    cpu_total = sum(r.num("cpu") or 0.0 for r in records)
    wall_total = sum(r.num("wall") or 0.0 for r in records)
    runs = sessions(records)
    slots = assign_slots(records)
    cards = [("jobs", str(len(records)))] + [(s.replace("_", " "), str(n)) for s, n in sorted(states.items())]
    cards += [("job time", _dur(wall_total)), ("CPU time", _dur(cpu_total))]
    if runs:
        last = runs[-1]
        span = max(r.end or 0.0 for r in last) - min(r.start or 0.0 for r in last)
        cards.append(("last run", _dur(span)))
        cards.append(("peak parallel", str(len({slots[r.key] for r in last}))))
    dag_svg, dag_caption = _dag_svg(records) if records else ("", "no jobs")
    legend = "".join(f'<span><i style="background:{f};border-color:{s}"></i>{_e(k.replace("_", " "))}</span>'
                     for k, (f, s) in STATE_COLOURS.items() if k in states)
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
    store.atomic_write(out, text)
    return out
