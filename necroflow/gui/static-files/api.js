// Talking to the server.  The token comes once in the URL (?token=...): it is kept in this
// tab's sessionStorage, taken out of the address bar (no token in history or screenshots), and
// sent as an Authorization header with every call.  The cookie the page visit set carries it
// for what cannot send headers (the event stream, file links).

const KEY = "necroflow-token";
let token = null;

export function initToken() {
  const url = new URL(location.href);
  const given = url.searchParams.get("token");
  if (given) {
    sessionStorage.setItem(KEY, given);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  token = sessionStorage.getItem(KEY);
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path, { method = "GET", json, text = false } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  let r;
  try {
    r = await fetch(path, { method, headers, body, credentials: "same-origin", cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, "the necroflow gui server does not answer (stopped?)");
  }
  const type = r.headers.get("content-type") || "";
  const data = type.includes("json") ? await r.json() : await r.text();
  if (!r.ok) {
    const why = data && typeof data === "object" && data.error ? data.error : String(data || r.statusText);
    throw new ApiError(r.status, why);
  }
  return text && typeof data !== "string" ? JSON.stringify(data) : data;
}

export const jobPath = (id) => `/api/jobs/${id.split("/").map(encodeURIComponent).join("/")}`;
export const filePath = (rel) => `/api/files/${rel.split("/").map(encodeURIComponent).join("/")}`;
export const q = (params) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined) s.set(k, v);
  const t = s.toString();
  return t ? `?${t}` : "";
};
