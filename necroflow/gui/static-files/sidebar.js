// The job files and their combos: choose one to see its DAG (or "everything"), tick combos to
// run them, pick a combo's requested outputs as run targets.  A grid of thousands of combos
// shows the first SHOWN that match the filter.

import { $, comboLabel, el, plural } from "./util.js";

const SHOWN = 200;

export class Sidebar {
  constructor(app) {
    this.app = app; // choose(combo|null), comboChecked(), toggleTarget(id), isTarget(id)
    this.combos = [];
    this.checked = new Set();
    this.current = null;
    this.filter = "";
    $("#combo-filter").addEventListener("input", (e) => {
      this.filter = e.target.value.trim().toLowerCase();
      this.render();
    });
  }

  set(combos) {
    this.combos = combos;
    const names = new Set(combos.map((c) => c.name));
    for (const n of [...this.checked]) if (!names.has(n)) this.checked.delete(n);
    this.render();
  }

  render() {
    const list = $("#combos");
    const files = new Map();
    let shown = 0, hidden = 0;
    for (const c of this.combos) {
      const text = `${c.name} ${c.job_file}`.toLowerCase();
      if (this.filter && !text.includes(this.filter)) continue;
      if (shown >= SHOWN) {
        hidden += 1;
        continue;
      }
      shown += 1;
      if (!files.has(c.job_file)) files.set(c.job_file, []);
      files.get(c.job_file).push(c);
    }
    const items = [el("li", { class: `combo everything${this.current === null ? " current" : ""}`, "data-combo": "" },
      el("a", { href: "#", onclick: (e) => this.choose(e, null) }, "everything"),
      el("span", { class: "muted" }, ` ${plural(this.combos.length, "combo")}`))];
    for (const [file, combos] of files) {
      items.push(el("li", { class: "job-file", title: file }, file));
      for (const c of combos) items.push(this.item(c));
    }
    if (hidden) items.push(el("li", { class: "muted" }, `… ${hidden.toLocaleString("en")} more: type to filter`));
    list.replaceChildren(...items);
  }

  item(c) {
    const current = this.current === c.name;
    const box = el("input", { type: "checkbox", title: "run this combo", checked: this.checked.has(c.name) || null,
      onchange: (e) => {
        if (e.target.checked) this.checked.add(c.name);
        else this.checked.delete(c.name);
        this.app.comboChecked();
      } });
    const li = el("li", { class: `combo${current ? " current" : ""}`, "data-combo": c.name, title: c.name },
      box, " ", el("a", { href: "#", onclick: (e) => this.choose(e, c.name) }, comboLabel(c.name, c.job_file)),
      el("span", { class: "muted" }, ` ${c.jobs}`));
    if (current) li.append(this.requests(c));
    return li;
  }

  // The combo's requested outputs: each one's job can be picked as a run target.
  requests(c) {
    return el("ul", { class: "requests" }, Object.entries(c.requests).map(([label, rel]) => {
      const job = rel.split("/").slice(0, 2).join("/");
      return el("li", {}, el("label", { title: rel },
        el("input", { type: "checkbox", "data-job": job, checked: this.app.isTarget(job) || null,
          onchange: () => this.app.toggleTarget(job) }), ` ${label} `,
        el("a", { href: "#", class: "job-link", onclick: (e) => {
          e.preventDefault();
          this.app.openJob(job);
        } }, job)));
    }));
  }

  choose(e, name) {
    e.preventDefault();
    this.current = name;
    this.render();
    this.app.choose(name);
  }

  label(name) {
    const c = this.combos.find((x) => x.name === name);
    return c ? comboLabel(c.name, c.job_file) : name;
  }
}
