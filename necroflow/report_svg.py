"""SVG drawings for the HTML report: the layered job and rule graphs and the timeline.

The job graph is drawn only when it can be read: the page shows it when it fits the panel
at :data:`MIN_SCALE` or more of its size, and the rule graph (one box per rule) otherwise,
with a button to switch.  The page decides with the panel's real width; the default for a
page whose script does not run uses :data:`NOMINAL_PANEL`.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import os
import urllib.parse
from collections import Counter
from pathlib import Path

from .clean import format_bytes
from .graphviz import STATE_COLOURS, STATE_PRIORITY
from .jobinfo import JobRecord
from .layout import BOX_H, BOX_W, layered
from .reporting import format_duration

#: Above this many jobs only the rule graph is drawn (the job graph would only be a texture).
MAX_DRAWN_JOBS = 300
#: The job graph is shown shrunk to fit the panel only down to this scale: its 12 px labels
#: stay at 9.6 px or more, about the smallest text people read without zooming.  Below it
#: the rule graph is shown first.  With 168 px per box, a 1250 px panel fits 9 jobs a layer.
MIN_SCALE = 0.8
#: The DAG panel's width (px) assumed when the page's script does not run.
NOMINAL_PANEL = 1200
#: Rule colours on the timeline (ColorBrewer Set3: light, so dark labels stay readable on them).
RULE_PALETTE = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462",
                "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f")
FAILED_OUTLINE = "#c62828"


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


def rule_colours(records: list[JobRecord]) -> dict[str, str]:
    """A colour per rule, by rule name, so a rule keeps its colour from report to report."""
    out = {}
    for i, rule in enumerate(sorted({r.rule for r in records})):
        out[rule] = RULE_PALETTE[i] if i < len(RULE_PALETTE) else f"hsl({i * 137.508 % 360:.0f},55%,78%)"
    return out


def _darker(colour: str) -> str:
    if colour.startswith("#") and len(colour) == 7:
        return "#" + "".join(f"{int(int(colour[i:i + 2], 16) * 0.55):02x}" for i in (1, 3, 5))
    return colour.replace("78%)", "40%)")


def dag_views(records: list[JobRecord], colours: dict[str, str]) -> dict[str, tuple[str, str, float]]:
    """{"jobs"?: ..., "rules": ...}: each view's (svg, caption, width in px)."""
    views: dict[str, tuple[str, str, float]] = {}
    if len(records) <= MAX_DRAWN_JOBS:
        nodes = [(r.key, r.rule, r.key.split("/", 1)[-1][:8], r.state,
                  _tooltip(r), [k for k in dict.fromkeys(r.inputs.values())]) for r in records]
        svg, width = _layered_svg(nodes, "job", colours)
        views["jobs"] = (svg, f"{len(records)} jobs, coloured by state, with their rule's timeline colour "
                              "on the left; hover for details.", width)
    svg, caption, width = _rule_graph_svg(records, colours)
    views["rules"] = (svg, caption, width)
    return views


def default_view(views: dict[str, tuple[str, str, float]]) -> str:
    """The view a page shows before (or without) its script measuring the panel."""
    jobs = views.get("jobs")
    return "jobs" if jobs is not None and jobs[2] * MIN_SCALE <= NOMINAL_PANEL else "rules"


def _tooltip(r: JobRecord) -> str:
    lines = [r.key, f"state: {r.state}" + (f" ({r.reason})" if r.reason else "")]
    if r.params:
        lines.append("params: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in r.params.items()))
    wall = r.num("wall")
    if wall is not None:
        lines.append(f"wall {_dur(wall)}")
    return "\n".join(lines)


def _rule_graph_svg(records: list[JobRecord], colours: dict[str, str]) -> tuple[str, str, float]:
    by_rule: dict[str, list[JobRecord]] = {}
    rule_of = {r.key: r.rule for r in records}
    for r in records:
        by_rule.setdefault(r.rule, []).append(r)
    nodes = []
    for rule, rs in by_rule.items():
        c = Counter(r.state for r in rs)
        state = next((s for s in STATE_PRIORITY if s in c), "up_to_date")
        ups = sorted({rule_of[k] for r in rs for k in r.inputs.values() if k in rule_of} - {rule})
        count = f"{len(rs)} job" + ("" if len(rs) == 1 else "s")
        tip = f"{rule}: {count}\n" + ", ".join(f"{v} {k}" for k, v in sorted(c.items()))
        nodes.append((rule, rule, count, state, tip, ups))
    if len(records) > MAX_DRAWN_JOBS:
        caption = (f"{len(records)} jobs are too many to draw one by one: one box per rule "
                   f"({len(by_rule)} rules), coloured by its most pressing state.")
    else:
        caption = (f"One box per rule ({len(by_rule)} rules for {len(records)} jobs), coloured by its "
                   "most pressing state; edges join rules whose jobs feed each other.")
    svg, width = _layered_svg(nodes, "rule", colours)
    return svg, caption, width


def _layered_svg(nodes: list[tuple[str, str, str, str, str, list[str]]], kind: str,
                 colours: dict[str, str]) -> tuple[str, float]:
    """Layered (Sugiyama-style) drawing: longest-path layers, barycentre ordering, curved edges."""
    W, H = BOX_W, BOX_H
    lay = layered([(n[0], n[5]) for n in nodes])
    width, height, xy, parents = lay.width, lay.height, lay.xy, lay.parents
    out = [f'<svg class="dag dag-{kind}s" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{kind} graph">',
           f'<defs><marker id="arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#78909c"/></marker></defs>']
    for i, ps in enumerate(parents):
        x2, y2 = xy[i][0] + W / 2, xy[i][1]
        for p in ps:
            x1, y1 = xy[p][0] + W / 2, xy[p][1] + H
            my = (y1 + y2) / 2
            out.append(f'<path class="edge" d="M{x1:.1f},{y1:.1f} C{x1:.1f},{my:.1f} {x2:.1f},{my:.1f} '
                       f'{x2:.1f},{y2 - 2:.1f}" marker-end="url(#arrow-{kind})"/>')
    out.extend(_node_svg(node, xy[i], W, H, kind, colours) for i, node in enumerate(nodes))
    out.append("</svg>")
    return "".join(out), width


def _node_svg(node: tuple[str, str, str, str, str, list[str]], at: tuple[float, float], W: int, H: int,
              kind: str, colours: dict[str, str]) -> str:
    """One box: state colours, a band in its rule's timeline colour, name and subtitle."""
    key, title, sub, state, tip, _ = node
    fill, stroke = _colours(state)
    name = title if len(title) <= 20 else title[:19] + "~"
    return (f'<g class="node{" rule-node" if kind == "rule" else ""}" data-key="{_e(key)}" '
            f'data-rule="{_e(title)}" transform="translate({at[0]:.1f},{at[1]:.1f})">'
            f"<title>{_e(tip)}</title>"
            f'<rect width="{W}" height="{H}" rx="7" fill="{fill}" stroke="{stroke}"/>'
            f'<rect class="band" x="2" y="2" width="6" height="{H - 4}" rx="3" fill="{colours.get(title, "#ffffff")}"/>'
            f'<text x="{W / 2 + 3}" y="17" class="t1">{_e(name)}</text>'
            f'<text x="{W / 2 + 3}" y="32" class="t2">{_e(sub)} · {_e(state.replace("_", " "))}</text></g>')


def _gantt_svg(session: list[JobRecord], slots: dict[str, int], colours: dict[str, str]) -> str:
    """One run's jobs as bars over time, one row per worker slot, coloured by rule.

    A failed job's bar has a thick red outline, an interrupted or running one a dashed one.
    """
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
        fill = colours.get(r.rule, "#ffffff")
        outline = _bar_outline(r.state, fill)
        tip = (f"{r.key}\n{_nice_time(r.start)} +{_dur(r.end - r.start)}\n"
               f"cpu {_dur(r.num('cpu') or 0.0)}, peak {format_bytes(int(r.num('max_rss') or 0))}, "
               f"state {r.state}")
        out.append(f'<rect class="bar" data-key="{_e(r.key)}" data-rule="{_e(r.rule)}" data-state="{_e(r.state)}" '
                   f'x="{x:.1f}" y="{y}" width="{w:.1f}" height="{ROW - 4}" rx="2" fill="{fill}" {outline}>'
                   f"<title>{_e(tip)}</title></rect>")
        if w > 60:
            out.append(f'<text class="bl" x="{x + 3:.1f}" y="{y + ROW - 8}">{_e(r.rule)}</text>')
    out.append("</svg>")
    return "".join(out)


def _bar_outline(state: str, fill: str) -> str:
    if state == "failed":
        return f'stroke="{FAILED_OUTLINE}" stroke-width="2.5"'
    if state in ("interrupted", "running"):
        return 'stroke="#37474f" stroke-width="1.5" stroke-dasharray="3 2"'
    return f'stroke="{_darker(fill)}"'


def timeline_legend(records: list[JobRecord], colours: dict[str, str]) -> str:
    """The rules on the timeline with their colours, and what an outline means."""
    timed = [r for r in records if r.start is not None and r.end is not None]
    rules = sorted({r.rule for r in timed})
    items = [f'<span><i style="background:{colours[rule]};border-color:{_darker(colours[rule])}"></i>{_e(rule)}</span>'
             for rule in rules]
    states = {r.state for r in timed}
    if "failed" in states:
        items.append(f'<span><i style="background:#fff;border:2.5px solid {FAILED_OUTLINE}"></i>failed</span>')
    if states & {"interrupted", "running"}:
        items.append('<span><i style="background:#fff;border:1.5px dashed #37474f"></i>interrupted or running</span>')
    return f'<div class="legend" id="rule-legend">{"".join(items)}</div>' if items else ""


def _tick_label(t: float, step: float) -> str:
    if step < 1:
        return f"{t:.1f}s"
    return format_duration(t) if t >= 60 else f"{t:.0f}s"


def _tick_step(span: float) -> float:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400):
        if span / step <= 12:
            return float(step)
    return span / 10
