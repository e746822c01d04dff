"""Graph export for other tools: Graphviz DOT and Mermaid, job graph or collapsed rule graph.

Why two formats: ``necroflow graph ... | dot -Tsvg`` is what Snakemake users reach for, and
Mermaid renders inside GitHub/GitLab Markdown without any tool at all.  Both are built from
the same small intermediate (nodes, edges, fill colours) so they always agree.

Nodes are coloured by plan state when ``states`` is given (a mapping from a job key
``rule/hash16`` or a full fingerprint to a state name such as ``UP_TO_DATE``/``missing``);
:func:`states_from_plan` builds it from a :class:`~necroflow.plan.Plan`.
The ASCII rendering for ``print(P)`` stays in :mod:`necroflow.render`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .graph import Job
    from .plan import Plan

#: state (lower case) -> (fill colour, border colour).  Shared by the HTML report.
STATE_COLOURS: dict[str, tuple[str, str]] = {
    "up_to_date": ("#c8e6c9", "#2e7d32"),
    "cleaned": ("#e6ee9c", "#827717"),
    "missing": ("#ffe0b2", "#e65100"),
    "stale": ("#fff59d", "#f9a825"),
    "interrupted": ("#ffccbc", "#bf360c"),
    "running": ("#bbdefb", "#1565c0"),
    "failed": ("#ef9a9a", "#b71c1c"),
    "orphan": ("#e0e0e0", "#616161"),
}
#: When one rule's jobs are in several states, the collapsed node shows the most pressing.
STATE_PRIORITY = ["failed", "interrupted", "running", "stale", "missing", "cleaned", "up_to_date", "orphan"]
_DEFAULT_COLOURS = ("#ffffff", "#455a64")


def normal_state(state: object) -> str:
    """``State.UP_TO_DATE``, ``"UP_TO_DATE"`` and ``"up_to_date"`` all name one colour."""
    return str(getattr(state, "value", state)).lower()


def states_from_plan(plan: Plan) -> dict[str, str]:
    """Job key -> plan state, for every required job of ``plan``."""
    return {e.job.key: e.state.value for e in plan.entries.values()}


@dataclass
class _Graph:
    nodes: list[tuple[str, str, str | None]] = field(default_factory=list)  # (id, label lines, state)
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (from id, to id, label)


def _short_params(params: Mapping[str, Any], width: int = 40) -> str:
    parts = []
    for k, v in params.items():
        text = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
        if len(text) > 24:
            tail = text.rstrip("/").rsplit("/", 1)[-1]
            # a path is told apart by its end (the sample's file), not by its shared prefix
            text = "..." + ("/" + tail)[-21:] if "/" in text else text[:21] + "..."
        parts.append(f"{k}={text}")
    s = " ".join(parts)
    return s if len(s) <= width else s[: width - 3] + "..."


def _state_of(job: Job, states: Mapping[str, Any] | None) -> str | None:
    if states is None:
        return None
    s = states.get(job.key)
    if s is None:
        s = states.get(job.fingerprint)
    return None if s is None else normal_state(s)


def _build(jobs: Iterable[Job], states: Mapping[str, Any] | None, collapse_rules: bool) -> _Graph:
    jobs = list(jobs)
    g = _Graph()
    if not collapse_rules:
        ids: dict[str, str] = {}
        for j in jobs:
            ids[j.fingerprint] = f"j{len(ids)}"
        for j in jobs:
            label = f"{j.rule.name}\n{j.fingerprint[:16]}"
            p = _short_params(j.params)
            if p:
                label += f"\n{p}"
            g.nodes.append((ids[j.fingerprint], label, _state_of(j, states)))
            seen: set[tuple[str, str]] = set()
            for slot, n in j.edges:
                name = slot.split("[", 1)[0]  # every element of a list input shares its name
                src = ids.get(n.job.fingerprint)
                if src is None:  # a parent outside the given jobs: draw it anyway, once
                    ids[n.job.fingerprint] = src = f"j{len(ids)}"
                    g.nodes.append((src, f"{n.job.rule.name}\n{n.job.fingerprint[:16]}", _state_of(n.job, states)))
                if (src, name) not in seen:
                    seen.add((src, name))
                    g.edges.append((src, ids[j.fingerprint], name))
        return g
    rules: dict[str, list[Job]] = {}
    for j in jobs:
        rules.setdefault(j.rule.name, []).append(j)
    rid = {name: f"r{i}" for i, name in enumerate(rules)}
    edge_count: Counter[tuple[str, str]] = Counter()
    for name, rjobs in rules.items():
        label = f"{name}\n{len(rjobs)} job{'s' if len(rjobs) != 1 else ''}"
        state = None
        if states is not None:
            c = Counter(_state_of(j, states) or "unknown" for j in rjobs)
            label += "\n" + ", ".join(f"{v} {k}" for k, v in sorted(c.items()))
            present = [s for s in STATE_PRIORITY if s in c]
            state = present[0] if present else None
        g.nodes.append((rid[name], label, state))
        for j in rjobs:
            for n in {n.job.fingerprint: n for _, n in j.edges}.values():
                pr = n.job.rule.name
                if pr not in rid:
                    rid[pr] = f"r{len(rid)}"
                    g.nodes.append((rid[pr], pr, None))
                edge_count[(rid[pr], rid[name])] += 1
    for (a, b), k in edge_count.items():
        g.edges.append((a, b, "" if k == 1 else f"{k}x"))
    return g


def _dot_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(jobs: Iterable[Job], states: Mapping[str, Any] | None = None, collapse_rules: bool = False,
           title: str = "necroflow") -> str:
    """Graphviz DOT text of the job graph (or, with ``collapse_rules``, one node per rule).

    ``jobs`` is any iterable of jobs, parents first (``plan.required``,
    ``list(dag.jobs.values())``, ``P.jobs``).  Pipe the text to ``dot -Tsvg``.
    """
    g = _build(jobs, states, collapse_rules)
    out = [f"digraph {_dot_str(title)} {{", "  rankdir=TB;",
           '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, '
           f'fillcolor="{_DEFAULT_COLOURS[0]}", color="{_DEFAULT_COLOURS[1]}"];',
           '  edge [fontname="Helvetica", fontsize=8, color="#607d8b"];']
    for nid, label, state in g.nodes:
        attrs = [f"label={_dot_str(label)}"]
        if state is not None:
            fill, border = STATE_COLOURS.get(state, _DEFAULT_COLOURS)
            attrs += [f'fillcolor="{fill}"', f'color="{border}"', f"tooltip={_dot_str(state)}"]
        out.append(f"  {nid} [{', '.join(attrs)}];")
    for a, b, label in g.edges:
        out.append(f"  {a} -> {b}" + (f" [label={_dot_str(label)}]" if label else "") + ";")
    if states is not None:
        used = sorted({s for _, _, s in g.nodes if s is not None})
        if used:
            out.append("  subgraph cluster_legend {")
            out.append('    label="state"; fontname="Helvetica"; fontsize=9; color="#b0bec5";')
            for s in used:
                fill, border = STATE_COLOURS.get(s, _DEFAULT_COLOURS)
                out.append(f'    legend_{s} [label={_dot_str(s)}, fillcolor="{fill}", color="{border}", fontsize=8];')
            out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def _mermaid_str(text: str) -> str:
    # Mermaid has no backslash escapes: entity codes keep quotes and brackets literal.
    for ch, ent in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(ch, ent)
    return '"' + text.replace("\n", "<br/>") + '"'


def to_mermaid(jobs: Iterable[Job], states: Mapping[str, Any] | None = None, collapse_rules: bool = False) -> str:
    """Mermaid ``flowchart`` text of the job graph or the collapsed rule graph.

    Paste it into a fenced ```` ```mermaid ```` block in Markdown to see it on GitHub.
    """
    g = _build(jobs, states, collapse_rules)
    out = ["flowchart TD"]
    for nid, label, _state in g.nodes:
        out.append(f"  {nid}[{_mermaid_str(label)}]")
    for a, b, label in g.edges:
        out.append(f"  {a} -->|{_mermaid_str(label)}| {b}" if label else f"  {a} --> {b}")
    used = sorted({s for _, _, s in g.nodes if s is not None})
    for s in used:
        fill, border = STATE_COLOURS.get(s, _DEFAULT_COLOURS)
        out.append(f"  classDef {s} fill:{fill},stroke:{border},color:#000")
    for s in used:
        out.append(f"  class {','.join(nid for nid, _, st in g.nodes if st == s)} {s}")
    return "\n".join(out) + "\n"
