// The side panel: one job (rule, state and why, the exact command, params, metrics, outputs,
// provenance, its log followed while it runs), or one rule of the rule graph (its jobs, as a
// list that stays fast with thousands of them).

import { api, filePath, jobPath } from "./api.js";
import { STATES, el, fmtBytes, fmtSeconds, fmtTime, plural, stateLabel } from "./util.js";

const LOG_POLL = 1000; // ms between log reads while the job runs
const ROW = 24; // px per row of a rule's job list

export class Panel {
  constructor(root, app) {
    this.root = root;
    this.body = root.querySelector("#panel-body");
    this.app = app; // openJob(id), toggleTarget(id), isTarget(id), jobsOfRule(rule), drawRule(rule)
    this.kind = null;
    this.id = null;
    this.timer = null;
    this.reloading = null;
    root.querySelector("#panel-close").addEventListener("click", () => this.close());
  }

  close() {
    this.stopLog();
    this.kind = this.id = null;
    this.root.hidden = true;
    this.app.closed();
  }

  stopLog() {
    clearTimeout(this.timer);
    this.timer = null;
  }

  // -- one job ----------------------------------------------------------------------------
  // ``from``: the rule whose job list this job was picked from (a link leads back to it).
  async showJob(id, from = null) {
    this.stopLog();
    this.kind = "job";
    this.id = id;
    this.from = from;
    this.root.hidden = false;
    this.body.replaceChildren(el("h2", { class: "job-id" }, id), el("p", { class: "muted" }, "loading…"));
    await this.loadJob();
  }

  async loadJob() {
    const id = this.id;
    let d;
    try {
      d = await api(jobPath(id));
    } catch (e) {
      if (this.id === id) this.body.replaceChildren(el("h2", {}, id), el("p", { class: "error" }, e.message));
      return;
    }
    if (this.kind !== "job" || this.id !== id) return;
    this.detail = d;
    this.body.replaceChildren(...this.jobView(d).filter(Boolean));
    this.readLog();
  }

  // The job's state changed (an event): read it again, a little later if events keep coming.
  jobChanged(id) {
    if (this.kind === "job" && this.id === id && !this.reloading) {
      this.reloading = setTimeout(() => {
        this.reloading = null;
        if (this.kind === "job" && this.id === id) this.loadJob();
      }, 150);
    }
  }

  jobView(d) {
    const target = el("input", { type: "checkbox", id: "detail-target", checked: this.app.isTarget(d.id) || null,
      onchange: () => this.app.toggleTarget(d.id) });
    const from = this.from;
    const out = [
      from ? el("a", { href: "#", class: "back", onclick: (e) => {
        e.preventDefault();
        this.showRule(from);
      } }, `← the jobs of rule ${from}`) : null,
      el("h2", { class: "job-id" }, d.id),
      el("p", {}, el("span", { class: `badge st-${d.state}`, id: "detail-state" }, stateLabel(d.state)), " ",
        el("label", { class: "target-toggle" }, target, " run target")),
      this.reason(d),
      el("h3", {}, "Command"),
      el("pre", { id: "detail-command", class: "command" }, d.command),
      el("button", { class: "small", onclick: () => navigator.clipboard && navigator.clipboard.writeText(d.command) },
        "copy"),
    ];
    out.push(el("h3", {}, "Params"), this.params(d.params));
    out.push(el("h3", {}, "Metrics"), this.metrics(d.metrics));
    out.push(el("h3", {}, "Outputs"), this.outputs(d.outputs));
    if (d.parents.length) {
      out.push(el("h3", {}, "Inputs from"), el("ul", { class: "links" },
        d.parents.map((p) => el("li", {}, this.jobLink(p)))));
    }
    out.push(el("details", { id: "detail-provenance" }, el("summary", {}, "Provenance"), this.provenance(d.provenance)));
    out.push(el("h3", {}, "Log ", el("span", { id: "log-follow", class: "muted" })),
      el("pre", { id: "detail-log", class: "log" }, ""));
    return out;
  }

  reason(d) {
    const c = d.cause;
    if (!c || !c.kind) {
      const why = d.state === "up_to_date" ? "Up to date: nothing would run." : d.reason || "";
      return el("p", { id: "detail-reason", class: "reason" }, why);
    }
    const bits = [["kind", c.kind]];
    if (c.cause) bits.push(["cause", c.cause]);
    if (c.detail) bits.push(["detail", c.detail]);
    return el("div", { id: "detail-reason", class: "reason" },
      el("p", {}, `It would run: ${c.text}`),
      el("dl", { class: "kv" }, bits.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
  }

  params(params) {
    const keys = Object.keys(params || {});
    if (!keys.length) return el("p", { class: "muted" }, "none");
    return el("table", { class: "kv", id: "detail-params" }, keys.map((k) =>
      el("tr", {}, el("th", {}, k), el("td", {}, typeof params[k] === "string" ? params[k] : JSON.stringify(params[k])))));
  }

  metrics(m) {
    if (!m || !Object.keys(m).length) return el("p", { class: "muted", id: "detail-metrics" }, "not run yet");
    const rows = [["wall", fmtSeconds(m.wall)], ["CPU", fmtSeconds(m.cpu)], ["peak memory", fmtBytes(m.max_rss)],
      ["exit code", m.exit_code], ["started", fmtTime(m.start)], ["ended", fmtTime(m.end)],
      ["host", m.host], ["backend", m.backend && `${m.backend}${m.job_id ? ` (job ${m.job_id})` : ""}`],
      ["threads", m.threads], ["attempt", m.attempt]];
    return el("table", { class: "kv", id: "detail-metrics" }, rows.filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, String(v)))));
  }

  outputs(outputs) {
    return el("ul", { class: "outputs", id: "detail-outputs" }, outputs.map((o) => el("li", {},
      o.exists ? el("a", { href: filePath(o.path), target: "_blank", rel: "noopener" }, o.name) : el("span", {}, o.name),
      " ", el("span", { class: "muted" }, o.exists ? fmtBytes(o.size) : "absent"),
      o.exists ? [" ", el("a", { href: filePath(o.path), download: o.name, class: "small" }, "download")] : null)));
  }

  provenance(p) {
    if (!p || !Object.keys(p).length) return el("p", { class: "muted" }, "no record yet (the job has not run)");
    const inputs = Object.entries(p.inputs || {});
    const upstream = Object.entries(p.upstream || {});
    return el("div", { class: "provenance" },
      el("table", { class: "kv" },
        el("tr", {}, el("th", {}, "fingerprint"), el("td", { class: "mono" }, p.fingerprint || "")),
        el("tr", {}, el("th", {}, "command template"), el("td", { class: "mono" }, p.command || ""))),
      inputs.length ? el("table", { class: "kv" }, inputs.map(([slot, v]) => el("tr", {}, el("th", {}, slot),
        el("td", {}, v && v.job ? this.jobLink(v.job) : "", v && v.file ? ` ${v.file}` : "",
          v && v.sha256 ? el("div", { class: "mono muted" }, `sha256 ${v.sha256}`) : null)))) : null,
      upstream.length ? el("h4", {}, `Upstream (${upstream.length})`) : null,
      upstream.length ? el("ul", { class: "links" }, upstream.map(([key, u]) => el("li", {}, this.jobLink(key),
        " ", el("span", { class: "muted" }, Object.entries(u.params || {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(" "))))) : null,
      el("details", {}, el("summary", {}, "as JSON"), el("pre", { class: "mono" }, JSON.stringify(p, null, 1))));
  }

  jobLink(id) {
    return el("a", { href: "#", class: "job-link", onclick: (e) => {
      e.preventDefault();
      this.app.openJob(id);
    } }, id);
  }

  // -- the log, followed while the job runs ---------------------------------------------------
  async readLog() {
    const id = this.id;
    const pre = this.body.querySelector("#detail-log");
    if (!pre) return;
    let text;
    try {
      text = await api(`${jobPath(id)}/log`, { text: true });
    } catch (e) {
      text = `(${e.message})`;
    }
    if (this.kind !== "job" || this.id !== id) return;
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = text || "(empty)";
    if (atEnd) pre.scrollTop = pre.scrollHeight;
    const running = this.app.stateOf(id) === "running";
    this.body.querySelector("#log-follow").textContent = running ? "following…" : "";
    this.stopLog();
    if (running) this.timer = setTimeout(() => this.readLog(), LOG_POLL);
  }

  // -- one rule of the rule graph ---------------------------------------------------------------
  showRule(rule) {
    this.stopLog();
    this.kind = "rule";
    this.id = rule;
    this.filter = null;
    this.root.hidden = false;
    this.renderRule();
  }

  renderRule() {
    const rule = this.id;
    const ids = this.app.jobsOfRule(rule);
    const counts = {};
    for (const [id, s] of ids) counts[s] = (counts[s] || 0) + 1;
    const chips = el("p", { class: "chips" },
      el("button", { class: this.filter ? "chip" : "chip on", onclick: () => this.setFilter(null) }, `all ${ids.length}`),
      STATES.filter(([s]) => counts[s]).map(([s, label]) => el("button", {
        class: `chip st-${s}${this.filter === s ? " on" : ""}`, onclick: () => this.setFilter(s) },
      `${label} ${counts[s]}`)));
    this.rows = this.filter ? ids.filter(([, s]) => s === this.filter) : ids;
    const drawable = ids.length > 0 && ids.length <= this.app.maxDrawn;
    this.list = el("div", { class: "vlist", id: "rule-jobs" }, el("div", { class: "spacer" }));
    this.list.addEventListener("scroll", () => this.paintRows());
    this.body.replaceChildren(...[
      el("h2", {}, `rule ${rule}`),
      el("p", {}, plural(ids.length, "job"), " in this view. Click one for its details; Shift-click picks it as a run target."),
      drawable ? el("button", { onclick: () => this.app.drawRule(rule) }, `Draw these ${ids.length} jobs`) : null,
      chips, this.list].filter(Boolean));
    this.paintRows();
  }

  setFilter(s) {
    this.filter = s;
    this.renderRule();
  }

  rulesChanged() {
    if (this.kind !== "rule") return;
    const ids = this.app.jobsOfRule(this.id);
    this.rows = this.filter ? ids.filter(([, s]) => s === this.filter) : ids;
    this.paintRows();
  }

  // Only the rows in sight are in the DOM.
  paintRows() {
    const list = this.list;
    if (!list) return;
    const spacer = list.firstChild;
    spacer.style.height = `${this.rows.length * ROW}px`;
    const first = Math.floor(list.scrollTop / ROW);
    const last = Math.min(this.rows.length, first + Math.ceil((list.clientHeight || 400) / ROW) + 2);
    const rows = [];
    for (let i = first; i < last; i++) {
      const [id, s] = this.rows[i];
      const row = el("div", { class: `row${this.app.isTarget(id) ? " target" : ""}`, "data-id": id },
        el("span", { class: `dot st-${s}` }), el("span", { class: "mono" }, id), el("span", { class: "muted" }, stateLabel(s)));
      row.style.top = `${i * ROW}px`;
      row.addEventListener("click", (e) => {
        if (e.shiftKey || e.ctrlKey || e.metaKey) {
          this.app.toggleTarget(id);
          this.paintRows();
        } else this.showJob(id, this.id);
      });
      rows.push(row);
    }
    spacer.replaceChildren(...rows);
  }
}
