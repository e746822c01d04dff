// Small helpers shared by the page's modules: DOM building (never innerHTML: job names, logs
// and params are data, not markup), the states and their labels, number formatting.

const SVGNS = "http://www.w3.org/2000/svg";

function setAttrs(e, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
}

function append(e, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : String(k));
  }
}

export function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  append(e, kids);
  return e;
}

export function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  setAttrs(e, attrs);
  append(e, kids);
  return e;
}

export const $ = (sel, root = document) => root.querySelector(sel);

// The states a job can show, in legend order, with the words people read.
export const STATES = [
  ["up_to_date", "up to date"],
  ["missing", "missing"],
  ["stale", "stale"],
  ["interrupted", "interrupted"],
  ["running", "running"],
  ["failed", "failed"],
  ["cleaned", "cleaned"],
];
const LABELS = Object.fromEntries([...STATES, ["not_required", "not required"], ["orphan", "orphan"]]);
export const stateLabel = (s) => LABELS[s] || String(s).replace(/_/g, " ");

// Which state colours a rule box: the one that most needs attention.
const PRIORITY = ["failed", "running", "interrupted", "stale", "missing", "cleaned", "up_to_date"];
export function worst(counts) {
  return PRIORITY.find((s) => counts[s] > 0) || "up_to_date";
}

export const plural = (n, word, many = word + "s") => `${n.toLocaleString("en")} ${n === 1 ? word : many}`;

export function fmtSeconds(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return "–";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(2)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

export function fmtTime(unix) {
  if (!unix) return "–";
  const d = new Date(unix * 1000);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// "necroalchemy_grid__sample+NA12878__ref+hg38" -> "sample=NA12878 · ref=hg38" (the job file
// is shown above it); any other name is shown as it is.
export function comboLabel(name, jobFile) {
  const stem = (jobFile.split("/").pop() || "").replace(/\.toml$/, "");
  if (stem && name.startsWith(stem + "__")) {
    return name.slice(stem.length + 2).split("__").map((p) => p.replace("+", "=")).join(" · ");
  }
  return name;
}

export function shorten(text, max) {
  return text.length <= max ? text : text.slice(0, max - 1) + "…";
}
