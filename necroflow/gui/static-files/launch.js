// Launching: what would run (a dry run first), then the run with its cores and keep-going
// settings, its progress, and cancelling it.  Also who holds the outdir: when another process
// runs on it, the page says so (its jobs still show live) and runs from here wait.

import { api } from "./api.js";
import { $, plural, stateLabel } from "./util.js";

const ORDER = ["missing", "stale", "interrupted", "failed", "running", "cleaned"];

export function previewText(toRun) {
  const parts = Object.entries(toRun).sort(([a], [b]) => ORDER.indexOf(a) - ORDER.indexOf(b));
  const total = parts.reduce((n, [, c]) => n + c, 0);
  if (!total) return "Nothing would run: everything asked for is up to date.";
  return `${plural(total, "job")} would run: ` + parts.map(([s, c]) => `${c} ${stateLabel(s)}`).join(", ");
}

export class Launch {
  constructor(app) {
    this.app = app; // request() -> {combos, targets, text}; clearTargets()
    this.run = null; // {id, state, done, failed}
    this.status = null;
    this.previewed = null;
    $("#preview").addEventListener("click", () => this.preview());
    $("#run").addEventListener("click", () => this.start());
    $("#cancel").addEventListener("click", () => this.cancel());
    $("#clear-targets").addEventListener("click", () => this.app.clearTargets());
    for (const id of ["#cores", "#keep-going"]) {
      for (const kind of ["input", "change"]) $(id).addEventListener(kind, () => this.changed());
    }
  }

  body(dryRun) {
    const r = this.app.request();
    const cores = $("#cores").value.trim();
    return { combos: r.combos, targets: r.targets, cores: cores ? Number(cores) : null,
      keep_going: $("#keep-going").checked, dry_run: dryRun };
  }

  // The selection changed: say what a run would cover, and forget the last preview.
  changed() {
    const r = this.app.request();
    $("#launch-what").textContent = `Run ${r.text}.`;
    $("#clear-targets").hidden = !(r.targets && r.targets.length);
    this.previewed = null;
    $("#preview-text").textContent = "";
    this.buttons();
  }

  buttons() {
    const running = this.run && this.run.state === "running";
    const locked = this.lockedElsewhere();
    const runBtn = $("#run");
    runBtn.disabled = !this.previewed || running || locked || this.previewed.total === 0;
    runBtn.title = locked ? "another process holds the outdir" : this.previewed ? "" : "preview first";
    $("#preview").disabled = false;
  }

  lockedElsewhere() {
    const s = this.status;
    return !!(s && s.locked_by && !(s.active_run && s.active_run.state === "running"));
  }

  async preview() {
    const text = $("#preview-text");
    text.textContent = "asking…";
    text.className = "";
    try {
      const res = await api("/api/runs", { method: "POST", json: this.body(true) });
      const total = Object.values(res.to_run).reduce((a, b) => a + b, 0);
      this.previewed = { total };
      text.textContent = previewText(res.to_run);
    } catch (e) {
      this.previewed = null;
      text.textContent = e.message;
      text.className = "error";
    }
    this.buttons();
  }

  async start() {
    const text = $("#preview-text");
    try {
      const res = await api("/api/runs", { method: "POST", json: this.body(false) });
      this.run = { id: res.id, state: res.state, done: 0, failed: 0, total: Object.values(res.to_run).reduce((a, b) => a + b, 0) };
      text.textContent = previewText(res.to_run).replace("would run", "to run");
      this.previewed = null;
      this.show();
    } catch (e) {
      text.textContent = e.message;
      text.className = "error";
      if (e.status === 409) this.refreshStatus();
    }
    this.buttons();
  }

  async cancel() {
    if (!this.run) return;
    $("#cancel").disabled = true;
    $("#run-text").textContent = `Run ${this.run.id}: cancelling…`;
    try {
      await api(`/api/runs/${encodeURIComponent(this.run.id)}/cancel`, { method: "POST" });
    } catch (e) {
      $("#run-text").textContent = e.message;
    }
  }

  // A job event while our run goes.
  jobEvent(state) {
    if (!this.run || this.run.state !== "running") return;
    if (state === "up_to_date") this.run.done += 1;
    else if (state === "failed") this.run.failed += 1;
    else return;
    this.show();
  }

  // {"run": id, "state"} from the event stream: a run of this GUI changed.
  async runEvent(ev) {
    if (!this.run || this.run.id !== ev.run) {
      if (ev.state !== "running") return;
      this.run = { id: ev.run, state: "running", done: 0, failed: 0, total: null }; // started from another tab
    }
    this.run.state = ev.state;
    if (ev.state !== "running") {
      try {
        Object.assign(this.run, { final: await api(`/api/runs/${encodeURIComponent(ev.run)}`) });
      } catch (e) {
        this.run.final = { error: e.message, ran: [], failed: [] };
      }
    }
    this.show();
    this.refreshStatus();
  }

  show() {
    const r = this.run;
    $("#run-box").hidden = !r;
    if (!r) return;
    const box = $("#run-box");
    box.setAttribute("data-state", r.state);
    $("#cancel").hidden = r.state !== "running";
    $("#cancel").disabled = false;
    let text;
    if (r.state === "running") {
      const of = r.total ? ` of ${r.total}` : "";
      text = `Run ${r.id} running: ${r.done}${of} done, ${r.failed} failed.`;
    } else {
      const f = r.final || { ran: [], failed: [] };
      text = `Run ${r.id} ${r.state}: ${plural(f.ran.length, "job")} ran, ${f.failed.length} failed.`;
      if (r.state === "cancelled") text += " Its running jobs were stopped and are marked interrupted.";
      if (f.error) text += ` ${f.error}`;
    }
    $("#run-text").textContent = text;
    this.buttons();
  }

  async refreshStatus() {
    try {
      this.status = await api("/api/status");
    } catch (e) {
      return;
    }
    const s = this.status;
    if (s.active_run && (!this.run || this.run.id !== s.active_run.id) && s.active_run.state === "running") {
      this.run = { id: s.active_run.id, state: "running", done: 0, failed: 0, total: null };
      this.show();
    }
    $("#outdir").textContent = s.outdir;
    const banner = $("#lock-banner");
    if (this.lockedElsewhere()) {
      const who = s.locked_by > 0 ? `necroflow process ${s.locked_by}` : "another necroflow process";
      banner.textContent = `The outdir is locked by ${who} (a run from a terminal?): its jobs are shown live here. ` +
        "A run from this page can start once it ends.";
      banner.hidden = false;
    } else banner.hidden = true;
    this.buttons();
  }
}
