// necroflow gui: the page.  Plain modules, no build step, nothing from the network but this
// server.  The server's API is documented in necroflow/gui/server.py.
//
// Live updates: /api/events sends one JSON object per change.  Job events are collected in a
// map (the last state of each job wins) and applied in one animation frame at most ten times a
// second, so a run of 10,000 jobs changing state costs a few DOM writes per batch, not per event.

import { api, initToken, q } from "./api.js";
import { GraphView } from "./graph.js";
import { Launch } from "./launch.js";
import { Panel } from "./panel.js";
import { Sidebar } from "./sidebar.js";
import { $, STATES, comboLabel, el, plural } from "./util.js";

const MAX_DRAWN = 300; // the server draws the rule graph above this many jobs (model.MAX_DRAWN_JOBS)
const KEEP = 5000; // samples kept in the stats below
const FLUSH_MS = 100; // events are applied at most ten times a second

// Figures the benchmark (bench/gui.py) and the tests read: when the graph was first drawn,
// and how long applying each batch of events took, and how old its oldest event was.
const stats = { firstDraw: null, batches: 0, events: 0, applyMs: [], latency: [] };
window.necroflow = { stats, ready: false };

const ruleOf = (id) => id.slice(0, id.indexOf("/"));
const push = (list, v) => {
  list.push(v);
  if (list.length > KEEP) list.splice(0, list.length - KEEP);
};

class App {
  constructor() {
    this.maxDrawn = MAX_DRAWN;
    this.view = { combo: null, rule: null };
    this.states = new Map(); // job id -> state, every job of the view
    this.totals = {}; // state -> count over the view
    this.ruleCounts = null; // rule graph: rule -> {state: count}
    this.statesReady = false;
    this.targets = new Set();
    this.pending = new Map();
    this.lastFlush = -Infinity;
    this.gen = 0;
    this.graph = new GraphView($("#dag"), { onOpen: (id, kind) => this.open(id, kind),
      onToggle: (id) => this.toggleTarget(id) });
    this.panel = new Panel($("#panel"), this);
    this.sidebar = new Sidebar(this);
    this.launch = new Launch(this);
    $("#fit").addEventListener("click", () => this.graph.fit());
    $("#zoom-in").addEventListener("click", () => this.graph.zoom(1.25));
    $("#zoom-out").addEventListener("click", () => this.graph.zoom(0.8));
    $("#back").addEventListener("click", () => this.drawRule(null));
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !this.panel.root.hidden) this.panel.close();
    });
    this.legend();
  }

  async start() {
    this.connect();
    const loading = this.load(); // the graph, the combos and the status at once
    try {
      const [combos] = await Promise.all([api("/api/combos"), this.launch.refreshStatus()]);
      this.sidebar.set(combos);
    } catch (e) {
      this.error(e.message);
      return;
    }
    if (this.graph.data) this.title(this.graph.data); // now with the combo's label
    await loading;
    this.launch.changed();
    setInterval(() => this.launch.refreshStatus(), 5000);
  }

  // -- the view: its graph and the states of its jobs ----------------------------------------
  async load({ keepView = false } = {}) {
    const gen = ++this.gen;
    this.statesReady = false;
    const { combo, rule } = this.view;
    let data;
    try {
      data = await api("/api/graph" + q({ combo, rule }));
    } catch (e) {
      this.error(e.message);
      return;
    }
    if (gen !== this.gen) return;
    this.graph.draw(data, { keepView, targets: this.targets });
    this.title(data);
    if (stats.firstDraw === null) {
      requestAnimationFrame(() => requestAnimationFrame(() => {
        performance.mark("necroflow-graph-drawn");
        if (stats.firstDraw === null) stats.firstDraw = performance.now();
      }));
    }
    if (data.kind === "jobs") {
      this.states = new Map(data.nodes.map((n) => [n.id, n.state]));
      this.ruleCounts = null;
    } else {
      this.ruleCounts = new Map(data.nodes.map((n) => [n.id, { ...n.counts }]));
      this.count();
      let jobs;
      try {
        jobs = await api("/api/jobs" + q({ combo })); // every job's state, after the first drawing
      } catch (e) {
        this.error(e.message);
        return;
      }
      if (gen !== this.gen) return;
      this.states = new Map(jobs.map((j) => [j.id, j.state]));
      for (const r of this.ruleCounts.keys()) this.ruleCounts.set(r, {});
      for (const [id, s] of this.states) {
        const c = this.ruleCounts.get(ruleOf(id));
        if (c) c[s] = (c[s] || 0) + 1;
      }
      for (const [r, c] of this.ruleCounts) this.graph.setCounts(r, c);
    }
    this.count();
    this.statesReady = true;
    window.necroflow.ready = true;
    this.flush();
    this.panel.rulesChanged();
  }

  title(data) {
    const where = this.view.combo === null ? "everything" : comboLabel(this.view.combo,
      (this.sidebar.combos.find((c) => c.name === this.view.combo) || { job_file: "" }).job_file);
    const jobs = data.kind === "jobs" ? data.nodes.length : data.nodes.reduce((n, r) => n + r.jobs, 0);
    let text = `${where}${this.view.rule ? ` › rule ${this.view.rule}` : ""}: ${plural(jobs, "job")}`;
    if (data.kind === "rules") text += ` · rule graph (over ${MAX_DRAWN} jobs): click a rule for its jobs`;
    $("#view-title").textContent = text;
    $("#back").hidden = !this.view.rule;
  }

  choose(combo) {
    this.view = { combo, rule: null };
    this.load();
    this.launch.changed();
  }

  drawRule(rule) {
    this.view = { ...this.view, rule };
    this.load();
  }

  count() {
    const totals = {};
    if (this.ruleCounts && !this.statesReady) {
      for (const c of this.ruleCounts.values()) for (const [s, n] of Object.entries(c)) totals[s] = (totals[s] || 0) + n;
    } else for (const s of this.states.values()) totals[s] = (totals[s] || 0) + 1;
    this.totals = totals;
    this.legend();
  }

  legend() {
    $("#legend").replaceChildren(...STATES.map(([s, label]) => el("li", { class: this.totals[s] ? "" : "none",
      "data-state": s }, el("span", { class: `swatch st-${s}` }), `${label} `,
    el("span", { class: "count" }, (this.totals[s] || 0).toLocaleString("en")))));
  }

  // -- live updates -----------------------------------------------------------------------------
  connect() {
    const es = new EventSource("/api/events");
    const live = $("#live");
    es.onopen = () => {
      live.className = "live on";
      live.textContent = "live";
      if (this.lost) {
        this.lost = false;
        this.resync(); // events were missed while the stream was down
      }
    };
    es.onmessage = (m) => {
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch (e) {
        return;
      }
      this.onEvent(ev);
    };
    es.onerror = () => {
      this.lost = true;
      live.className = "live off";
      live.textContent = "reconnecting…";
      if (es.readyState === EventSource.CLOSED) setTimeout(() => this.connect(), 3000);
    };
  }

  onEvent(ev) {
    if (typeof ev.job === "string") {
      this.pending.set(ev.job, ev);
      this.schedule();
    } else if ("outdir_run" in ev) {
      this.launch.refreshStatus();
      if (ev.state !== "running") this.resync(); // a run ended: the server planned again
    } else if (typeof ev.run === "string") this.launch.runEvent(ev);
  }

  // At most one batch per FLUSH_MS, in an animation frame: a run of 10,000 jobs redraws the
  // page ten times a second, not once per event (nor 60 times a second: each paint costs CPU
  // the run could use).
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = Math.max(0, this.lastFlush + FLUSH_MS - performance.now());
    const ticket = (this.ticket = (this.ticket || 0) + 1);
    const go = () => this.scheduled && this.ticket === ticket && this.flush();
    setTimeout(() => requestAnimationFrame(go), wait);
    setTimeout(go, wait + 300); // a hidden tab gets no frames
  }

  flush() {
    this.scheduled = false;
    if (!this.statesReady || !this.pending.size) return;
    const t0 = performance.now();
    this.lastFlush = t0;
    const batch = this.pending;
    this.pending = new Map();
    const rules = new Set();
    let oldest = Infinity;
    for (const [id, ev] of batch) {
      if (ev.t < oldest) oldest = ev.t;
      this.launch.jobEvent(ev.state);
      this.panel.jobChanged(id);
      const old = this.states.get(id);
      if (old === undefined || old === ev.state) continue;
      this.states.set(id, ev.state);
      this.totals[old] -= 1;
      this.totals[ev.state] = (this.totals[ev.state] || 0) + 1;
      const c = this.ruleCounts && this.ruleCounts.get(ruleOf(id));
      if (c) {
        c[old] -= 1;
        if (!c[old]) delete c[old];
        c[ev.state] = (c[ev.state] || 0) + 1;
        rules.add(ruleOf(id));
      } else this.graph.setState(id, ev.state);
    }
    for (const r of rules) this.graph.setCounts(r, this.ruleCounts.get(r));
    this.legend();
    if (rules.size) this.panel.rulesChanged();
    stats.batches += 1;
    stats.events += batch.size;
    push(stats.applyMs, performance.now() - t0);
    if (oldest !== Infinity) push(stats.latency, Date.now() / 1000 - oldest);
  }

  async resync() {
    await this.load({ keepView: true });
    if (this.panel.kind === "job") this.panel.jobChanged(this.panel.id);
  }

  // -- what the panel and the run box ask -------------------------------------------------------
  open(id, kind) {
    this.graph.select(id);
    if (kind === "rules") this.panel.showRule(id);
    else this.panel.showJob(id);
  }

  openJob(id) {
    this.graph.select(id);
    this.panel.showJob(id);
  }

  closed() {
    this.graph.select(null);
  }

  stateOf(id) {
    const s = this.states.get(id);
    if (s !== undefined) return s;
    const d = this.panel.detail;
    return d && d.id === id ? d.state : undefined;
  }

  jobsOfRule(rule) {
    const prefix = rule + "/";
    return [...this.states].filter(([id]) => id.startsWith(prefix));
  }

  isTarget(id) {
    return this.targets.has(id);
  }

  toggleTarget(id) {
    const on = !this.targets.has(id);
    if (on) this.targets.add(id);
    else this.targets.delete(id);
    this.graph.setTarget(id, on);
    const box = $("#detail-target");
    if (box && this.panel.id === id) box.checked = on;
    this.sidebar.render();
    this.launch.changed();
  }

  clearTargets() {
    for (const id of this.targets) this.graph.setTarget(id, false);
    this.targets.clear();
    this.sidebar.render();
    this.panel.rulesChanged();
    this.launch.changed();
  }

  comboChecked() {
    this.launch.changed();
  }

  // What a run from here covers: picked jobs, else ticked combos, else the combo in view, else all.
  request() {
    if (this.targets.size) {
      return { combos: null, targets: [...this.targets], text: `${plural(this.targets.size, "picked job")} and what they need` };
    }
    const ticked = [...this.sidebar.checked];
    if (ticked.length) return { combos: ticked, targets: null, text: `${plural(ticked.length, "ticked combo")}` };
    if (this.view.combo !== null) {
      return { combos: [this.view.combo], targets: null, text: `the combo ${this.sidebar.label(this.view.combo)}` };
    }
    return { combos: null, targets: null, text: "everything: every combo of the job files" };
  }

  error(message) {
    const b = $("#error-banner");
    b.textContent = message;
    b.hidden = false;
  }
}

initToken();
const app = new App();
app.start();
