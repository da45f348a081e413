// Throughput and latency charts (Chart.js, from Debian's libjs-chart.js, loaded by
// index.html as window.Chart) over the center's time series: GET /api/stats/series
// gives up to 60 minutes of points per queue, one per interval; each `series` event
// of the stream adds the newest point per queue.

const KEEP_MS = 15 * 60 * 1000;

export class SeriesStore {
  constructor() {
    this.interval = 5000;
    this.queues = new Map();  // queue -> points by time, oldest first
  }

  // A whole GET /api/stats/series answer.
  load(body) {
    this.interval = body.interval_ms || 5000;
    this.queues = new Map(Object.entries(body.queues || {}).map(([q, points]) => [q, points.slice()]));
  }

  // One `series` event: {queue: point} (or {"queues": {queue: point or [points]}}).
  add(event) {
    const byQueue = event && event.queues ? event.queues : event || {};
    for (const [q, value] of Object.entries(byQueue)) {
      const points = this.queues.get(q) || [];
      for (const p of Array.isArray(value) ? value : [value]) {
        if (!p || typeof p.t !== "number") continue;
        if (points.length && points[points.length - 1].t >= p.t) continue;
        points.push(p);
      }
      const oldest = Date.now() - KEEP_MS;
      while (points.length && points[0].t < oldest) points.shift();
      this.queues.set(q, points);
    }
  }

  // Points of one queue, or of all summed (counts) and maxed (latencies) by time.
  points(queue) {
    if (queue) return this.queues.get(queue) || [];
    const byTime = new Map();
    for (const points of this.queues.values()) {
      for (const p of points) {
        const a = byTime.get(p.t) || { t: p.t, finished: 0, failed: 0, wait_p50_ms: 0, wait_p99_ms: 0, run_p50_ms: 0, run_p99_ms: 0 };
        a.finished += p.finished || 0;
        a.failed += p.failed || 0;
        for (const k of ["wait_p50_ms", "wait_p99_ms", "run_p50_ms", "run_p99_ms"]) a[k] = Math.max(a[k], p[k] || 0);
        byTime.set(p.t, a);
      }
    }
    return [...byTime.values()].sort((x, y) => x.t - y.t);
  }
}

function color(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

function clock(ms) {
  const d = new Date(ms);
  return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
}

function lineChart(canvas, datasets) {
  const grid = color("--grid");
  const text = color("--muted");
  return new window.Chart(canvas, {
    type: "line",
    data: { datasets: datasets.map((d) => ({ label: d.label, data: [], borderColor: color(d.color), backgroundColor: color(d.color),
      borderWidth: 2, tension: 0.2, borderDash: d.dash || [],
      // A line needs two points: the first minutes' few points are drawn as dots.
      pointRadius: (ctx) => (ctx.dataset.data.length < 30 ? 2.5 : 0) })) },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { labels: { color: text, boxWidth: 12 } }, tooltip: { callbacks: { title: (items) => items.length ? new Date(items[0].parsed.x).toLocaleTimeString() : "" } } },
      scales: {
        x: { type: "linear", ticks: { color: text, maxTicksLimit: 8, callback: (v) => clock(v) }, grid: { color: grid } },
        y: { beginAtZero: true, ticks: { color: text }, grid: { color: grid } },
      },
    },
  });
}

// The two charts, or stand-ins that draw nothing when Chart.js did not load.
export function makeCharts(throughputCanvas, latencyCanvas) {
  if (!window.Chart) {
    for (const c of [throughputCanvas, latencyCanvas]) c.replaceWith(Object.assign(document.createElement("p"), { className: "muted", textContent: "Chart.js did not load." }));
    return { update() {}, destroy() {}, selected: () => "" };
  }
  const throughput = lineChart(throughputCanvas, [
    { label: "finished/s", color: "--ok" },
    { label: "failed/s", color: "--bad" },
  ]);
  const latency = lineChart(latencyCanvas, [
    { label: "wait P50", color: "--accent" },
    { label: "wait P99", color: "--accent", dash: [4, 3] },
    { label: "run P50", color: "--ok" },
    { label: "run P99", color: "--ok", dash: [4, 3] },
  ]);
  let selected = "";
  return {
    update(store, queue) {
      selected = queue || "";
      const points = store.points(selected);
      const perSecond = 1000 / store.interval;
      const set = (chart, i, key, scale) => { chart.data.datasets[i].data = points.map((p) => ({ x: p.t, y: (p[key] || 0) * scale })); };
      set(throughput, 0, "finished", perSecond);
      set(throughput, 1, "failed", perSecond);
      set(latency, 0, "wait_p50_ms", 1);
      set(latency, 1, "wait_p99_ms", 1);
      set(latency, 2, "run_p50_ms", 1);
      set(latency, 3, "run_p99_ms", 1);
      // Always the whole window, so the time axis reads the same however few points.
      const now = Date.now();
      for (const chart of [throughput, latency]) {
        chart.options.scales.x.min = now - KEEP_MS;
        chart.options.scales.x.max = now;
      }
      throughput.update("none");
      latency.update("none");
    },
    destroy() { throughput.destroy(); latency.destroy(); },
    selected: () => selected,
  };
}
