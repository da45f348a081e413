// Small DOM and formatting helpers. Text always goes in as text (textContent), never
// as HTML: job payloads, errors and names come from users.

// h("a", {href: "#/", class: "x"}, "text", child...): an element. Attributes whose
// name starts with "on" are listeners; null/undefined/false children are skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// A table in a horizontally scrolling box (narrow screens), with a caption.
export function table(caption, head, rows, attrs) {
  return h("div", { class: "table-box" },
    h("table", attrs || {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows)));
}

export const STATES = ["pending", "scheduled", "retrying", "leased", "running",
  "succeeded", "failed", "dead", "cancelled"];
export const FINISHED = ["succeeded", "failed", "dead", "cancelled"];

export function badge(state) {
  return h("span", { class: "badge state-" + state }, state);
}

// "2024-05-01 12:00:00" in the browser's time zone; "-" for 0/null (never).
export function time(ms) {
  if (!ms) return "-";
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
    pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
}

// "350 ms", "4.2 s", "3 min", "2 h".
export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "-";
  const a = Math.abs(ms);
  if (a < 1000) return Math.round(ms) + " ms";
  if (a < 60000) return (ms / 1000).toFixed(a < 10000 ? 1 : 0) + " s";
  if (a < 3600000) return Math.round(ms / 60000) + " min";
  return (ms / 3600000).toFixed(1) + " h";
}

// A time as an age ("4.2 s ago") with the full time as its tooltip.
export function ago(ms) {
  if (!ms) return h("span", {}, "-");
  return h("time", { datetime: new Date(ms).toISOString(), title: time(ms) },
    duration(Date.now() - ms) + " ago");
}

export function clip(text, n) {
  text = text || "";
  return text.length > n ? text.slice(0, n - 1) + "…" : text;
}

export function link(href, text, attrs) {
  return h("a", Object.assign({ href }, attrs || {}), text);
}

// A message in place of a section whose endpoint this server does not have (404).
export function unavailable(what) {
  return h("p", { class: "muted unavailable" }, what +
    " is not available from this server (its API has no such endpoint).");
}
