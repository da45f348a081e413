// The dashboard: hash routes (#/, #/queue/NAME, #/jobs, #/job/ID, #/trace/ID, #/nodes,
// #/periodic, #/resilience), one view at a time, kept up to date by the API's event
// stream (or, on a server without one, by one poll of the current view every 5 s).
// Every action is a call of the public JSON API; a section whose endpoint the server
// does not have (404) says so instead of failing.
import { get, post, subscribe, ApiError } from "./api.js";
import { h, table, STATES, FINISHED, badge, time, duration, ago, clip, link, unavailable }
  from "./dom.js";
import { SeriesStore, makeCharts } from "./charts.js";

const main = document.getElementById("main");
const liveLabel = document.getElementById("live");
const notice = document.getElementById("notice");
const PAGE = 50;
const POLL_MS = 5000;

let view = null;        // the current view: {refresh(), onEvent(name, data), destroy()}
let polling = null;     // the poll timer, when the server has no event stream
const series = new SeriesStore();  // throughput and latency points, kept across views

// --- notices --------------------------------------------------------------------------

let noticeTimer = null;
function say(text, kind) {
  notice.hidden = false;
  notice.className = "notice " + (kind || "info");
  notice.textContent = text;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { notice.hidden = true; }, kind === "error" ? 10000 : 4000);
}

function explain(e) {
  if (e instanceof ApiError) {
    if (e.status === 403) return "Refused: " + e.message;
    if (e.status === 404) return "Not found: " + e.message;
    return e.message;
  }
  return String(e);
}

// Runs an action; says what happened; refreshes the view.
async function act(what, fn) {
  try {
    const result = await fn();
    say(what + ": done", "ok");
    if (view && view.refresh) await view.refresh();
    return result;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404 && /no such|Not Found|unknown path/i.test(e.message))
      say(what + ": this server does not support it (no such endpoint)", "error");
    else say(what + ": " + explain(e), "error");
    return undefined;
  }
}

// --- routing --------------------------------------------------------------------------

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params };
}

export function hashFor(path, params) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v) query.set(k, v);
  const s = query.toString();
  return "#" + path + (s ? "?" + s : "");
}

async function route(focus) {
  if (view && view.destroy) view.destroy();
  view = null;
  const { parts, params } = parseHash();
  const name = parts[0] || "overview";
  for (const a of document.querySelectorAll("nav a")) {
    const current = a.dataset.view === name || (name === "queue" && a.dataset.view === "jobs") ||
      (name === "job" && a.dataset.view === "jobs");
    if (current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const views = {
    overview: () => overviewView(),
    queue: () => jobsView(parts[1] || "", params),
    jobs: () => jobsView("", params),
    job: () => jobView(parts[1]),
    trace: () => traceView(parts[1]),
    nodes: () => nodesView(),
    periodic: () => periodicView(),
    resilience: () => resilienceView(),
  };
  const make = views[name];
  main.replaceChildren();
  if (focus) notice.hidden = true;
  if (!make) {
    main.append(h("h1", {}, "Not found"), h("p", {}, "No view ", h("code", {}, location.hash), "."));
    return;
  }
  view = make();
  document.title = "orca · " + view.title;
  await view.refresh();
  if (focus) main.focus({ preventScroll: false });
}

// A view's render: drawing nothing once the view is no longer the current one (a
// refresh or a throttled live update still in flight when the user moved on must not
// draw over the new view).
function renderFor(v) {
  return (...nodes) => { if (view === v) renderMain(...nodes); };
}

// Replaces the view's content, keeping the keyboard focus on the same control when
// it is still there (a live refresh must not throw the user out of a table).
function renderMain(...nodes) {
  const active = document.activeElement;
  const key = active && active.dataset ? active.dataset.key : null;
  main.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));
  if (key) {
    const again = main.querySelector('[data-key="' + CSS.escape(key) + '"]');
    if (again) again.focus({ preventScroll: true });
  }
}

// Calls fn at most once per `ms`, the last call winning (live refreshes).
function throttle(fn, ms) {
  let timer = null;
  let pending = false;
  return () => {
    if (timer) { pending = true; return; }
    fn();
    timer = setTimeout(() => { timer = null; if (pending) { pending = false; fn(); } }, ms);
  };
}

// --- overview -------------------------------------------------------------------------

function totalsOf(queues) {
  const out = {};
  for (const q of queues) for (const [s, n] of Object.entries(q.counts || {})) out[s] = (out[s] || 0) + n;
  return out;
}

function queueRows(queues) {
  return queues.map((q) => h("tr", { "data-queue": q.queue },
    h("th", { scope: "row" }, link(hashFor("/queue/" + encodeURIComponent(q.queue)), q.queue, { "data-key": "q-" + q.queue }),
      q.paused ? h("span", { class: "badge paused" }, "paused") : null,
      q.throttled ? h("span", { class: "badge throttled", title: "rate limited now" }, "throttled") : null),
    STATES.map((s) => {
      const n = (q.counts || {})[s] || 0;
      return h("td", { class: "num" + (n ? "" : " zero"), "data-state": s },
        n ? link(hashFor("/queue/" + encodeURIComponent(q.queue), { state: s }), n.toLocaleString()) : "0");
    })));
}

function overviewView() {
  let queues = [];
  let nodes = [];
  let charts = null;
  let seriesAvailable = true;
  const v = { title: "Overview" };
  const render = renderFor(v);

  const draw = () => {
    if (view !== v) return;  // moved on: the charts below would take the new view's canvases
    const totals = totalsOf(queues);
    const alive = nodes.filter((n) => n.state === "alive").length;
    const dead = nodes.filter((n) => n.state === "dead").length;
    const cards = h("ul", { class: "cards", "aria-label": "Totals" },
      ["pending", "running", "succeeded", "retrying", "dead", "failed"].map((s) =>
        h("li", { class: "card state-" + s }, h("span", { class: "card-n", "data-total": s }, (totals[s] || 0).toLocaleString()), h("span", { class: "card-label" }, s))),
      h("li", { class: "card" }, h("span", { class: "card-n", "data-total": "nodes-alive" }, String(alive)),
        h("span", { class: "card-label" }, link("#/nodes", "nodes alive"))),
      h("li", { class: "card" + (dead ? " state-dead" : "") }, h("span", { class: "card-n", "data-total": "nodes-dead" }, String(dead)),
        h("span", { class: "card-label" }, "nodes dead")));
    const queueTable = queues.length
      ? table("Queues: jobs per state", ["Queue", ...STATES], queueRows(queues), { id: "queues" })
      : h("p", { class: "muted", id: "queues" }, "No queues yet: submit a job.");
    const select = h("select", { id: "chart-queue", "aria-label": "Queue the charts show", onchange: () => charts && charts.update(series, select.value) },
      h("option", { value: "" }, "all queues"),
      queues.map((q) => h("option", { value: q.queue }, q.queue)));
    const chartBox = seriesAvailable
      ? h("section", { class: "charts", "aria-label": "Throughput and latency" },
        h("div", { class: "chart-head" }, h("h2", {}, "Last 15 minutes"), select),
        h("figure", {}, h("figcaption", {}, "Throughput (jobs/s)"), h("div", { class: "chart" }, h("canvas", { id: "throughput", role: "img", "aria-label": "jobs finished and failed per second" }))),
        h("figure", {}, h("figcaption", {}, "Latency (ms)"), h("div", { class: "chart" }, h("canvas", { id: "latency", role: "img", "aria-label": "wait and run time, P50 and P99" }))))
      : h("section", { class: "charts" }, h("h2", {}, "Throughput and latency"), unavailable("The time series (GET /api/stats/series)"));
    const old = charts ? charts.selected() : "";
    if (charts) charts.destroy();
    charts = null;
    render(h("h1", {}, "Overview"), cards, queueTable, chartBox);
    if (seriesAvailable) {
      select.value = old;
      charts = makeCharts(document.getElementById("throughput"), document.getElementById("latency"));
      charts.update(series, select.value);
    }
  };

  // Only the parts that change, so the charts are not rebuilt on every event.
  const redrawCounts = () => {
    const old = document.getElementById("queues");
    if (!old || old.tagName === "P" || queues.length !== old.querySelectorAll("tbody tr").length) return draw();
    old.querySelector("tbody").replaceChildren(...queueRows(queues));
    const totals = totalsOf(queues);
    for (const el of main.querySelectorAll("[data-total]")) {
      const k = el.dataset.total;
      if (k === "nodes-alive") el.textContent = String(nodes.filter((n) => n.state === "alive").length);
      else if (k === "nodes-dead") el.textContent = String(nodes.filter((n) => n.state === "dead").length);
      else el.textContent = (totals[k] || 0).toLocaleString();
    }
  };

  v.refresh = async () => {
    const [q, n] = await Promise.all([get("/api/queues"), get("/api/nodes")]);
    queues = q;
    nodes = n;
    try {
      series.load(await get("/api/stats/series?minutes=15"));
      seriesAvailable = true;
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
      seriesAvailable = false;
    }
    draw();
  };
  v.onEvent = (name, data) => {
    if (name === "queues") { queues = data; redrawCounts(); }
    else if (name === "nodes") { nodes = data; redrawCounts(); }
    else if (name === "series" && charts) { charts.update(series, charts.selected()); }
  };
  v.destroy = () => { if (charts) charts.destroy(); };
  return v;
}

// --- jobs of a queue (or of all queues) ------------------------------------------------

const pageStack = new Map();  // query (without before) -> the `before`s of newer pages

function jobsView(queue, params) {
  const filters = {
    state: params.get("state") || "",
    type: params.get("type") || "",
    node: params.get("node") || "",
    trace_id: params.get("trace_id") || "",
    error: params.get("error") || "",
  };
  const before = params.get("before") || "";
  const base = queue ? "/queue/" + encodeURIComponent(queue) : "/jobs";
  const stackKey = base + "?" + JSON.stringify(filters);
  const selected = new Set();
  let status = null;     // the queue's entry of GET /api/queues
  let brokerApi = false; // the server has pause/resume, delete and bulk actions
  let jobs = [];
  let listError = null;
  const v = { title: queue ? "Queue " + queue : "Jobs" };
  const render = renderFor(v);

  const go = (extra) => { location.hash = hashFor(base, Object.assign({}, filters, extra)); };

  const stateTabs = () => {
    const counts = status ? status.counts || {} : {};
    const tab = (s, label) => h("li", {}, link(hashFor(base, Object.assign({}, filters, { state: s })),
      label + (s && counts[s] !== undefined ? " " + counts[s].toLocaleString() : ""),
      { "aria-current": filters.state === s ? "page" : null, class: "tab", "data-key": "tab-" + s }));
    return h("ul", { class: "tabs", "aria-label": "Job state" }, tab("", "all"), STATES.map((s) => tab(s, s)));
  };

  const filterForm = () => {
    const field = (key, label, attrs) => h("label", {}, label,
      h("input", Object.assign({ name: key, value: filters[key], type: "search", "data-key": "f-" + key, autocomplete: "off" }, attrs || {})));
    return h("form", { class: "filters", role: "search", "aria-label": "Filter jobs", onsubmit: (e) => {
      e.preventDefault();
      const data = new FormData(e.target);
      go({ type: data.get("type"), node: data.get("node"), trace_id: data.get("trace_id"), error: data.get("error") || "", before: "" });
    } },
      field("type", "Type"), field("node", "Node"), field("trace_id", "Trace id"),
      field("error", "Error text", brokerApi ? {} : { disabled: true, title: "this server cannot filter by error text" }),
      h("button", { type: "submit" }, "Filter"),
      h("button", { type: "button", onclick: () => { location.hash = hashFor(base, { state: filters.state }); } }, "Clear"));
  };

  const actions = () => {
    if (!queue) {
      return h("div", { class: "actions" },
        h("button", { type: "button", id: "cancel-selected", disabled: selected.size === 0, onclick: cancelSelected }, "Cancel selected"));
    }
    const paused = status && status.paused;
    const finishedState = h("select", { id: "delete-state", "aria-label": "Which finished jobs" },
      h("option", { value: "" }, "all finished"), ["succeeded", "dead", "cancelled"].map((s) => h("option", { value: s }, s)));
    return h("div", { class: "actions" },
      brokerApi ? h("button", { type: "button", id: "pause", class: paused ? "primary" : "",
        onclick: () => act(paused ? "Resume " + queue : "Pause " + queue,
          () => post("/api/queues/" + encodeURIComponent(queue) + (paused ? "/resume" : "/pause"))) },
      paused ? "Resume queue" : "Pause queue") : null,
      h("button", { type: "button", id: "cancel-selected", disabled: selected.size === 0, onclick: cancelSelected }, "Cancel selected"),
      brokerApi ? h("button", { type: "button", id: "requeue-dead", onclick: () => {
        if (confirm("Requeue every dead job of " + queue + "?"))
          act("Requeue dead jobs", async () => {
            const r = await post("/api/queues/" + encodeURIComponent(queue) + "/requeue-dead");
            say(r.requeued + " job(s) requeued", "ok");
          });
      } }, "Requeue all dead") : null,
      brokerApi ? h("span", { class: "group" }, finishedState, h("button", { type: "button", id: "delete-finished", onclick: () => {
        const s = finishedState.value;
        if (confirm("Delete " + (s || "all finished") + " jobs of " + queue + "?"))
          act("Delete finished jobs", () => post("/api/queues/" + encodeURIComponent(queue) + "/delete-finished", s ? { state: s } : {}));
      } }, "Delete")) : null);
  };

  // Cancels the selected jobs: one bulk call, or one call per job on a server without
  // POST /api/jobs/cancel.
  async function cancelSelected() {
    const ids = [...selected].map(Number);
    if (!ids.length || !confirm("Cancel " + ids.length + " job(s)?")) return;
    await act("Cancel " + ids.length + " job(s)", async () => {
      let results;
      try {
        results = (await post("/api/jobs/cancel", { ids })).results;
      } catch (e) {
        if (!(e instanceof ApiError && (e.status === 404 || e.status === 405))) throw e;
        results = [];
        for (const id of ids) {
          try {
            results.push(await post("/api/jobs/" + id + "/cancel"));
          } catch (err) {
            results.push({ id, error: explain(err) });
          }
        }
      }
      selected.clear();
      const failed = results.filter((r) => r.error);
      if (failed.length) throw new Error(failed.map((r) => r.id + ": " + r.error).join("; "));
    });
  }

  const rows = () => jobs.map((j) => h("tr", { "data-job": j.id, class: "state-row-" + j.state },
    h("td", {}, h("input", { type: "checkbox", "aria-label": "select job " + j.id, checked: selected.has(j.id), "data-key": "sel-" + j.id,
      onchange: (e) => { if (e.target.checked) selected.add(j.id); else selected.delete(j.id); updateSelection(); } })),
    h("td", { class: "num" }, link("#/job/" + j.id, "#" + j.id, { "data-key": "job-" + j.id })),
    h("td", {}, j.type),
    queue ? null : h("td", {}, link(hashFor("/queue/" + encodeURIComponent(j.queue)), j.queue)),
    h("td", {}, badge(j.state)),
    h("td", { class: "num" }, j.attempt + "/" + j.max_attempts),
    h("td", {}, j.node ? link(hashFor("/jobs", { node: j.node }), clip(j.node, 24), { title: j.node }) : "-"),
    h("td", {}, ago(j.created_ms)),
    h("td", { class: "error-text" }, clip(j.last_error, 80))));

  const updateSelection = () => {
    const b = document.getElementById("cancel-selected");
    if (b) b.disabled = selected.size === 0;
  };

  const pager = () => {
    const stack = pageStack.get(stackKey) || [];
    const last = jobs.length ? jobs[jobs.length - 1].id : null;
    return h("nav", { class: "pager", "aria-label": "Pages" },
      h("button", { type: "button", disabled: !before, "data-key": "newest", onclick: () => { pageStack.set(stackKey, []); go({ before: "" }); } }, "Newest"),
      h("button", { type: "button", disabled: !before, "data-key": "newer", onclick: () => {
        const s = pageStack.get(stackKey) || [];
        const prev = s.pop() || "";
        pageStack.set(stackKey, s);
        go({ before: prev });
      } }, "Newer"),
      h("button", { type: "button", disabled: jobs.length < PAGE, "data-key": "older", onclick: () => {
        stack.push(before);
        pageStack.set(stackKey, stack);
        go({ before: String(last) });
      } }, "Older"));
  };

  const draw = () => {
    const head = ["", "Job", "Type", queue ? null : "Queue", "State", "Attempt", "Node", "Created", "Last error"].filter((x) => x !== null);
    const allBox = h("input", { type: "checkbox", "aria-label": "select all jobs on this page", "data-key": "sel-all", onchange: (e) => {
      for (const j of jobs) if (e.target.checked) selected.add(j.id); else selected.delete(j.id);
      draw();
    } });
    const list = listError
      ? h("p", { class: "error" }, listError)
      : jobs.length ? table(null, head, rows(), { id: "jobs" }) : h("p", { class: "muted", id: "jobs" }, "No jobs.");
    if (!listError && jobs.length) list.querySelector("thead th").replaceChildren(allBox);
    const title = queue ? h("h1", {}, "Queue ", h("span", { class: "mono" }, queue),
      status && status.paused ? h("span", { class: "badge paused" }, "paused") : null) : h("h1", {}, "Jobs");
    render(title,
      status && status.breaker_held_types && status.breaker_held_types.length
        ? h("p", { class: "warn" }, "Held back by an open breaker: " + status.breaker_held_types.join(", ")) : null,
      stateTabs(), filterForm(), actions(), list, pager());
  };

  v.refresh = async () => {
    const queues = await get("/api/queues");
    brokerApi = queues.length > 0 && "paused" in queues[0];
    status = queue ? queues.find((q) => q.queue === queue) || { queue, counts: {} }
      : { counts: totalsOf(queues) };
    const query = new URLSearchParams();
    if (queue) query.set("queue", queue);
    for (const [k, val] of Object.entries(filters)) if (val) query.set(k, val);
    query.set("limit", String(PAGE));
    if (before) query.set("before", before);
    try {
      jobs = await get("/api/jobs?" + query.toString());
      listError = null;
    } catch (e) {
      jobs = [];
      listError = explain(e);
    }
    draw();
  };
  const live = throttle(() => v.refresh(), 1000);
  v.onEvent = (name, data) => {
    if (name === "queues") {
      const q = queue ? data.find((x) => x.queue === queue) : null;
      if (q) { status = q; }
      if (!before) live();
    } else if (name === "job" && (!queue || data.queue === queue) && !before) {
      live();
    }
  };
  return v;
}

// --- one job ---------------------------------------------------------------------------

// The payload as the page shows it: JSON pretty-printed, text as text, binary as base64.
function payloadView(job) {
  if (job.payload_base64 !== undefined)
    return [h("p", { class: "muted" }, "binary (base64)"), h("pre", { class: "payload", id: "payload", "data-format": "base64" }, job.payload_base64)];
  const text = job.payload || "";
  try {
    const parsed = JSON.parse(text);
    if (parsed !== null && typeof parsed === "object")
      return [h("p", { class: "muted" }, "JSON"), h("pre", { class: "payload", id: "payload", "data-format": "json" }, JSON.stringify(parsed, null, 2))];
  } catch (_) {
    // not JSON: text
  }
  return [h("p", { class: "muted" }, text ? "text" : "empty"), h("pre", { class: "payload", id: "payload", "data-format": "text" }, text)];
}

function jobView(idText) {
  const id = Number(idText);
  const v = { title: "Job " + idText };
  const render = renderFor(v);
  let brokerApi = false;

  const draw = (job, audit) => {
    const dl = (pairs) => h("dl", { class: "facts" }, pairs.filter(Boolean).map(([k, val]) => [h("dt", {}, k), h("dd", {}, val)]));
    const live = ["pending", "scheduled", "retrying", "leased", "running"].includes(job.state);
    const buttons = h("div", { class: "actions" },
      live ? h("button", { type: "button", id: "cancel", "data-key": "cancel", onclick: () => {
        if (confirm("Cancel job " + id + "?")) act("Cancel job " + id, () => post("/api/jobs/" + id + "/cancel"));
      } }, "Cancel") : null,
      job.state === "dead" || job.state === "failed" ? h("button", { type: "button", id: "requeue", class: "primary", "data-key": "requeue",
        onclick: () => act("Requeue job " + id, () => post("/api/jobs/" + id + "/requeue")) }, "Requeue") : null,
      brokerApi && FINISHED.includes(job.state) ? h("button", { type: "button", id: "delete", class: "danger", "data-key": "delete", onclick: () => {
        if (confirm("Delete job " + id + " and its audit trail?"))
          act("Delete job " + id, async () => { await post("/api/jobs/" + id + "/delete"); location.hash = hashFor("/queue/" + encodeURIComponent(job.queue)); });
      } }, "Delete") : null);
    const timeline = h("ol", { class: "timeline", id: "audit" }, audit.map((e) => h("li", { class: "state-" + e.to, "data-to": e.to },
      h("time", { datetime: new Date(e.at_ms).toISOString() }, time(e.at_ms) + "." + String(e.at_ms % 1000).padStart(3, "0")),
      h("span", { class: "transition" }, e.from ? badge(e.from) : h("span", { class: "muted" }, "new"), " → ", badge(e.to)),
      h("span", { class: "meta" }, [e.attempt ? "attempt " + e.attempt : null, e.node ? "on " + e.node : null, e.actor ? "by " + e.actor : null].filter(Boolean).join(", ")),
      e.error ? h("pre", { class: "error-text" }, e.error) : null)));
    render(
      h("h1", {}, "Job #" + job.id, " ", badge(job.state), job.cancel_requested ? h("span", { class: "badge" }, "cancel requested") : null),
      buttons,
      h("div", { class: "columns" },
        h("section", {}, h("h2", {}, "Spec"), dl([
          ["Type", job.type],
          ["Queue", link(hashFor("/queue/" + encodeURIComponent(job.queue)), job.queue)],
          ["Attempts", job.attempt + " of " + job.max_attempts],
          ["Node", job.node ? link(hashFor("/jobs", { node: job.node }), job.node) : "-"],
          ["Priority", String(job.priority)],
          ["Created", time(job.created_ms)],
          ["Ready at", time(job.ready_ms)],
          ["Updated", time(job.updated_ms)],
          ["Finished", time(job.finished_ms)],
          job.finished_ms ? ["Took", duration(job.finished_ms - job.created_ms)] : null,
          ["Timeout", job.timeout_ms ? duration(job.timeout_ms) : "none"],
          ["Backoff", duration(job.backoff_base_ms) + " × " + job.backoff_multiplier + ", at most " + duration(job.backoff_max_ms)],
          job.unique_key ? ["Unique key", job.unique_key] : null,
          ["Trace", job.trace_id ? h("span", {}, link("#/trace/" + encodeURIComponent(job.trace_id), job.trace_id, { id: "trace-link", class: "mono" }), " · ",
            link(hashFor("/jobs", { trace_id: job.trace_id }), "jobs of this trace")) : "-"],
        ]),
        job.last_error ? [h("h2", {}, "Last error"), h("pre", { class: "error-text", id: "last-error" }, job.last_error)] : null,
        h("h2", {}, "Payload"), payloadView(job),
        job.headers && Object.keys(job.headers).length ? [h("h2", {}, "Headers"), h("pre", { class: "payload" }, JSON.stringify(job.headers, null, 2))] : null),
        h("section", {}, h("h2", {}, "Audit timeline"), timeline)));
  };

  v.refresh = async () => {
    try {
      const [job, audit, queues] = await Promise.all([get("/api/jobs/" + id), get("/api/jobs/" + id + "/audit"), get("/api/queues")]);
      brokerApi = queues.length > 0 && "paused" in queues[0];
      draw(job, audit);
    } catch (e) {
      render(h("h1", {}, "Job #" + idText), h("p", { class: "error" }, explain(e)));
    }
  };
  const live = throttle(() => v.refresh(), 500);
  v.onEvent = (name, data) => { if (name === "job" && Number(data.id) === id) live(); };
  return v;
}

// --- one trace ---------------------------------------------------------------------------

function traceView(traceId) {
  const v = { title: "Trace " + traceId };
  const render = renderFor(v);
  v.refresh = async () => {
    let trace = null;
    let problem = null;
    try {
      trace = await get("/api/traces/" + encodeURIComponent(traceId));
    } catch (e) {
      problem = e instanceof ApiError && e.status === 404
        ? "No spans of this trace are known to the center (or this server keeps no spans)."
        : explain(e);
    }
    let jobs = [];
    try {
      jobs = await get("/api/jobs?" + new URLSearchParams({ trace_id: traceId, limit: "100" }));
    } catch (_) {
      // the spans are the point here; the jobs list is a bonus
    }
    const spans = trace ? trace.spans || [] : [];
    const start = Math.min(...spans.map((s) => s.start_ms));
    const end = Math.max(...spans.map((s) => s.end_ms || s.start_ms));
    const total = Math.max(1, end - start);
    const depth = new Map();
    const byId = new Map(spans.map((s) => [s.span_id, s]));
    const depthOf = (s) => {
      if (depth.has(s.span_id)) return depth.get(s.span_id);
      depth.set(s.span_id, 0);
      const parent = s.parent_span_id ? byId.get(s.parent_span_id) : null;
      const d = parent ? Math.min(depthOf(parent) + 1, 8) : 0;
      depth.set(s.span_id, d);
      return d;
    };
    const sorted = [...spans].sort((a, b) => a.start_ms - b.start_ms);
    const rows = sorted.map((s) => {
      const bar = h("span", { class: "span-bar" + (s.status === "error" ? " error" : "") });
      bar.style.marginLeft = ((s.start_ms - start) / total * 100).toFixed(2) + "%";
      bar.style.width = Math.max(0.5, ((s.end_ms || s.start_ms) - s.start_ms) / total * 100).toFixed(2) + "%";
      const name = h("span", { class: "span-name depth-" + depthOf(s), title: JSON.stringify(s.attributes || {}) }, s.name);
      return h("li", { class: "span" + (s.status === "error" ? " error" : "") },
        h("span", { class: "span-label" }, name, h("span", { class: "muted" }, " " + (s.service || ""))),
        h("span", { class: "span-track" }, bar),
        h("span", { class: "num" }, duration((s.end_ms || s.start_ms) - s.start_ms), s.status === "error" ? h("span", { class: "badge state-dead" }, "error") : null));
    });
    render(h("h1", {}, "Trace ", h("span", { class: "mono" }, traceId)),
      problem ? h("p", { class: "muted", id: "trace-problem" }, problem)
        : h("section", {}, h("h2", {}, spans.length + " span(s) over " + duration(total)), h("ol", { class: "spans", id: "spans" }, rows)),
      h("h2", {}, "Jobs of this trace"),
      jobs.length ? table(null, ["Job", "Type", "Queue", "State", "Attempt"], jobs.map((j) => h("tr", {},
        h("td", {}, link("#/job/" + j.id, "#" + j.id)), h("td", {}, j.type), h("td", {}, j.queue), h("td", {}, badge(j.state)), h("td", { class: "num" }, String(j.attempt)))))
        : h("p", { class: "muted" }, "No jobs carry this trace id."));
  };
  return v;
}

// --- nodes --------------------------------------------------------------------------------

function nodesView() {
  const v = { title: "Nodes" };
  const render = renderFor(v);
  let nodes = [];
  const draw = () => {
    const rows = nodes.map((n) => h("tr", { class: n.state === "alive" ? "" : "gone", "data-node": n.id },
      h("th", { scope: "row", class: "mono" }, n.id),
      h("td", {}, h("span", { class: "badge node-" + n.state }, n.state)),
      h("td", {}, h("span", { class: "load" }, h("meter", { min: 0, max: Math.max(1, n.capacity), value: n.active, "aria-label": "load of " + n.id }),
        " " + n.active + "/" + n.capacity)),
      h("td", {}, (n.types || []).join(", ")),
      h("td", {}, (n.tags || []).join(", ") || "-"),
      h("td", {}, ago(n.heartbeat_ms)),
      h("td", { class: "num" }, String(n.pid || "-")),
      h("td", {}, n.host || hostOf(n.id)),
      h("td", {}, n.active ? link(hashFor("/jobs", { node: n.id, state: "running" }), "running jobs") : "-")));
    const alive = nodes.filter((n) => n.state === "alive").length;
    render(h("h1", {}, "Nodes"), h("p", {}, alive + " alive, " + (nodes.length - alive) + " dead or left"),
      nodes.length ? table(null, ["Node", "State", "Load", "Types", "Tags", "Heartbeat", "PID", "Host", "Jobs"], rows, { id: "nodes" })
        : h("p", { class: "muted" }, "No node has registered."));
  };
  v.refresh = async () => { nodes = await get("/api/nodes"); draw(); };
  v.onEvent = (name, data) => { if (name === "nodes") { nodes = data; draw(); } };
  return v;
}

// A node's default id is HOST-PID-RANDOM.
function hostOf(id) {
  const m = /^(.*)-\d+-[0-9a-f]+$/.exec(id || "");
  return m ? m[1] : "-";
}

// --- periodic jobs --------------------------------------------------------------------------

function periodicView() {
  const v = { title: "Periodic jobs" };
  const render = renderFor(v);
  v.refresh = async () => {
    let list;
    try {
      list = await get("/api/periodic");
    } catch (e) {
      if (e instanceof ApiError && e.status === 404)
        return render(h("h1", {}, "Periodic jobs"), unavailable("The list of periodic jobs (GET /api/periodic)"));
      throw e;
    }
    render(h("h1", {}, "Periodic jobs"), list.length ? table(null, ["Name", "Schedule", "Queue", "Type", "Next run", "Last run", "Last job"],
      list.map((p) => h("tr", {},
        h("th", { scope: "row" }, p.name), h("td", { class: "mono" }, p.schedule), h("td", {}, p.queue), h("td", {}, p.type),
        h("td", {}, p.next_run_ms ? time(p.next_run_ms) + " (in " + duration(p.next_run_ms - Date.now()) + ")" : "-"),
        h("td", {}, time(p.last_run_ms)),
        h("td", {}, p.last_job_id ? [link("#/job/" + p.last_job_id, "#" + p.last_job_id), " ", p.last_state ? badge(p.last_state) : null] : "-"))),
      { id: "periodic" }) : h("p", { class: "muted" }, "No periodic jobs."));
  };
  return v;
}

// --- breakers and limiters --------------------------------------------------------------------

function resilienceView() {
  const v = { title: "Breakers and limiters" };
  const render = renderFor(v);
  v.refresh = async () => {
    const queues = await get("/api/queues");
    let r = null;
    try {
      r = await get("/api/resilience");
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    }
    const generic = (items, first) => {
      const keys = [...new Set(items.flatMap((x) => Object.keys(x)))].filter((k) => k !== first);
      return table(null, [first, ...keys], items.map((x) => h("tr", { class: x.state === "open" ? "state-row-dead" : "" },
        h("th", { scope: "row" }, String(x[first])),
        keys.map((k) => h("td", {}, k === "state" ? badge(String(x[k])) : typeof x[k] === "object" ? JSON.stringify(x[k]) : String(x[k] ?? "-"))))));
    };
    const held = queues.filter((q) => q.throttled || (q.breaker_held_types || []).length || q.rate_limit);
    render(h("h1", {}, "Breakers and limiters"),
      h("h2", {}, "Queues held back now"),
      held.length ? table(null, ["Queue", "Rate limit", "Throttled", "Types held by an open breaker"], held.map((q) => h("tr", {},
        h("th", { scope: "row" }, link(hashFor("/queue/" + encodeURIComponent(q.queue)), q.queue)),
        h("td", {}, q.rate_limit ? q.rate_limit.rates.join(", ") + " (" + q.rate_limit.scope + ")" : "-"),
        h("td", {}, q.throttled ? "yes, on " + (q.throttled_nodes || []).join(", ") : "no"),
        h("td", {}, (q.breaker_held_types || []).join(", ") || "-"))))
        : h("p", { class: "muted" }, "No queue is rate limited or held by a breaker."),
      h("h2", {}, "Circuit breakers"),
      r ? (r.breakers && r.breakers.length ? generic(r.breakers, "name") : h("p", { class: "muted" }, "No breakers.")) : unavailable("The breakers' state (GET /api/resilience)"),
      h("h2", {}, "Rate limiters"),
      r ? (r.limiters && r.limiters.length ? generic(r.limiters, "name") : h("p", { class: "muted" }, "No limiters.")) : unavailable("The limiters' state (GET /api/resilience)"));
  };
  return v;
}

// --- live updates -----------------------------------------------------------------------------

function setLive(state) {
  const text = { live: "live", reconnecting: "reconnecting…", unavailable: "polling every 5 s" }[state] || state;
  liveLabel.textContent = text;
  liveLabel.dataset.state = state;
  if (state === "unavailable" && !polling) {
    polling = setInterval(() => { if (view && view.refresh && !document.hidden) view.refresh().catch(() => {}); }, POLL_MS);
  }
}

function onEvent(name) {
  return (data) => {
    if (name === "series") series.add(data);
    if (view && view.onEvent) view.onEvent(name, data);
  };
}

window.addEventListener("hashchange", () => route(true).catch((e) => say(explain(e), "error")));
route(false).catch((e) => say(explain(e), "error"));
subscribe({ queues: onEvent("queues"), nodes: onEvent("nodes"), job: onEvent("job"), series: onEvent("series") }, setLive);
