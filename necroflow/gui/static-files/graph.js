// The DAG as SVG: boxes where /api/graph placed them (x, y = top-left corner), edges as
// curves from a parent's bottom to a child's top, pan (drag) and zoom (wheel, buttons).
// A state change touches one box's class: nothing is redrawn.

import { STATES, plural, shorten, stateLabel, svg, worst } from "./util.js";

const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));

export class GraphView {
  constructor(svgEl, { onOpen, onToggle }) {
    this.svg = svgEl;
    this.onOpen = onOpen;
    this.onToggle = onToggle;
    this.view = svg("g", { class: "viewport" });
    this.edgesG = svg("g", { class: "edges" });
    this.nodesG = svg("g", { class: "nodes" });
    const defs = svg("defs", {},
      svg("marker", { id: "arrow", viewBox: "0 0 8 8", refX: 8, refY: 4, markerWidth: 7, markerHeight: 7,
        orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L8,4 L0,8 z", class: "arrowhead" })));
    this.view.append(this.edgesG, this.nodesG);
    svgEl.append(defs, this.view);
    this.t = { x: 0, y: 0, k: 1 };
    this.data = null;
    this.nodes = new Map(); // id -> {g, state, title, sub, bar, edges: [path]}
    this.selected = null;
    this.moved = false; // the user panned or zoomed since the last fit: a resize keeps their view
    this.bindPanZoom();
    this.bindClicks();
    new ResizeObserver(() => {
      if (!this.moved) this.fit();
    }).observe(svgEl);
  }

  get kind() {
    return this.data ? this.data.kind : null;
  }

  draw(data, { keepView = false, targets = new Set() } = {}) {
    this.data = data;
    this.nodes.clear();
    const [w, h] = data.box;
    this.box = { w, h };
    const nodes = document.createDocumentFragment();
    for (const n of data.nodes) nodes.append(this.node(n, targets.has(n.id)));
    const edges = document.createDocumentFragment();
    for (const [p, c] of data.edges) {
      const a = this.nodes.get(p), b = this.nodes.get(c);
      if (!a || !b) continue;
      const x1 = a.x + w / 2, y1 = a.y + h, x2 = b.x + w / 2, y2 = b.y;
      const dy = Math.max(18, (y2 - y1) / 2);
      const path = svg("path", { d: `M${x1},${y1} C${x1},${y1 + dy} ${x2},${y2 - dy} ${x2},${y2 - 1}`,
        "marker-end": "url(#arrow)" });
      a.edges.push(path);
      b.edges.push(path);
      edges.append(path);
    }
    this.edgesG.replaceChildren(edges);
    this.nodesG.replaceChildren(nodes);
    this.svg.setAttribute("data-kind", data.kind);
    if (this.selected) this.select(this.selected);
    if (!keepView) this.fit();
    else this.apply();
  }

  node(n, isTarget) {
    const { w, h } = this.box;
    const rules = this.data.kind === "rules";
    const g = svg("g", { class: `node st-${n.state}${isTarget ? " target" : ""}`, "data-id": n.id,
      "data-state": n.state, transform: `translate(${n.x},${n.y})`, tabindex: 0, role: "button" });
    const title = svg("title");
    const sub = svg("text", { x: 9, y: 33, class: "sub" });
    g.append(title, svg("rect", { width: w, height: h, rx: 6, class: "box" }),
      svg("text", { x: 9, y: 17, class: "name" }, shorten(n.rule, 20)), sub);
    const entry = { g, title, sub, state: n.state, x: n.x, y: n.y, edges: [], rule: n.rule, bar: null };
    if (rules) {
      entry.bar = svg("g", { class: "bar", transform: `translate(9,${h - 7})` });
      g.append(entry.bar);
      this.nodes.set(n.id, entry);
      this.setCounts(n.id, n.counts || {});
    } else {
      sub.textContent = n.id.slice(n.rule.length + 1, n.rule.length + 13);
      title.textContent = `${n.id}\n${stateLabel(n.state)}`;
      this.nodes.set(n.id, entry);
    }
    return g;
  }

  setState(id, state) {
    const n = this.nodes.get(id);
    if (!n || n.state === state) return;
    n.g.classList.replace(`st-${n.state}`, `st-${state}`);
    n.g.setAttribute("data-state", state);
    n.state = state;
    if (!n.bar) n.title.textContent = `${id}\n${stateLabel(state)}`;
  }

  // A rule box: its job count, what most needs attention, and a bar of its states.
  setCounts(rule, counts) {
    const n = this.nodes.get(rule);
    if (!n) return;
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    this.setState(rule, worst(counts));
    const running = counts.running ? ` · ${counts.running} running` : "";
    const failed = counts.failed ? ` · ${counts.failed} failed` : "";
    n.sub.textContent = `${plural(total, "job")}${running || failed}`;
    n.title.textContent = `${rule}: ${plural(total, "job")}\n` + STATES.filter(([s]) => counts[s])
      .map(([s, label]) => `${label}: ${counts[s]}`).join("\n") + "\nclick for its jobs";
    const width = this.box.w - 18;
    const parts = [];
    let x = 0;
    for (const [s] of STATES) {
      if (!counts[s]) continue;
      const wpart = (counts[s] / total) * width;
      parts.push(svg("rect", { x, y: 0, width: Math.max(wpart, 1), height: 4, class: `seg st-${s}` }));
      x += wpart;
    }
    n.bar.replaceChildren(...parts);
  }

  setTarget(id, on) {
    const n = this.nodes.get(id);
    if (n) n.g.classList.toggle("target", on);
  }

  select(id) {
    const old = this.nodes.get(this.selected);
    if (old) {
      old.g.classList.remove("selected");
      for (const e of old.edges) e.classList.remove("hl");
    }
    this.selected = id;
    const n = this.nodes.get(id);
    if (n) {
      n.g.classList.add("selected");
      for (const e of n.edges) e.classList.add("hl");
    }
  }

  bindClicks() {
    const act = (e) => {
      const g = e.target.closest(".node");
      if (!g) return;
      const id = g.getAttribute("data-id");
      if ((e.shiftKey || e.ctrlKey || e.metaKey) && this.kind === "jobs") this.onToggle(id);
      else this.onOpen(id, this.kind);
    };
    this.nodesG.addEventListener("click", act);
    this.nodesG.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        act(e);
      }
    });
  }

  bindPanZoom() {
    let drag = null;
    this.svg.addEventListener("pointerdown", (e) => {
      if (e.button !== 0 || e.target.closest(".node")) return;
      drag = { x: e.clientX, y: e.clientY, tx: this.t.x, ty: this.t.y };
      this.svg.setPointerCapture(e.pointerId);
      this.svg.classList.add("panning");
    });
    this.svg.addEventListener("pointermove", (e) => {
      if (!drag) return;
      this.t.x = drag.tx + e.clientX - drag.x;
      this.t.y = drag.ty + e.clientY - drag.y;
      this.moved = true;
      this.apply();
    });
    const end = () => {
      drag = null;
      this.svg.classList.remove("panning");
    };
    this.svg.addEventListener("pointerup", end);
    this.svg.addEventListener("pointercancel", end);
    this.svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = this.svg.getBoundingClientRect();
      this.zoomAt(e.clientX - r.left, e.clientY - r.top, Math.exp(-e.deltaY * 0.0015));
    }, { passive: false });
  }

  zoomAt(px, py, f) {
    const k = clamp(this.t.k * f, 0.03, 4);
    const g = k / this.t.k;
    this.t = { k, x: px - (px - this.t.x) * g, y: py - (py - this.t.y) * g };
    this.moved = true;
    this.apply();
  }

  zoom(f) {
    const r = this.svg.getBoundingClientRect();
    this.zoomAt(r.width / 2, r.height / 2, f);
  }

  fit() {
    const r = this.svg.getBoundingClientRect();
    const d = this.data;
    if (!d || !r.width || !r.height) return;
    const k = clamp(Math.min(r.width / d.width, r.height / d.height), 0.03, 1.25);
    this.t = { k, x: (r.width - d.width * k) / 2, y: Math.max(0, (r.height - d.height * k) / 2) };
    this.moved = false;
    this.apply();
  }

  apply() {
    this.view.setAttribute("transform", `translate(${this.t.x},${this.t.y}) scale(${this.t.k})`);
  }
}
