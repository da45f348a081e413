'use strict';
// queue_rate_limit, BullMQ's side (orca's: bench/jobs_redis_workloads.cpp). Parent:
// FLUSHALL, 15,000 no-op jobs, 3 worker processes (ROLE=worker) x 50 with the queue
// limiter {max: 1000, duration: 1000}; "go", then after 11 s "report": each sends the
// start time of every job it ran (performance.timeOrigin + performance.now(), ms, one
// clock for every process of the machine); prints one JSON line.
const { fork } = require('child_process');
const { performance } = require('perf_hooks');
const { Queue, Worker } = require('bullmq');
const IORedis = require('ioredis');
const PORT = parseInt(process.env.REDIS_PORT || '6390', 10);
const connection = { host: '127.0.0.1', port: PORT };
const QNAME = 'limited';
const JOBS = 15000, WORKERS = 3, CONC = 50, MAX = 1000, DURATION = 1000, WINDOW_MS = 10000;

async function worker() {
  const starts = [];
  const w = new Worker(QNAME, async () => { starts.push(performance.timeOrigin + performance.now()); },
    { connection, concurrency: CONC, autorun: false, limiter: { max: MAX, duration: DURATION } });
  w.on('error', (e) => console.error('worker error', e.message));
  process.on('message', async (m) => {
    if (m === 'go') w.run();
    if (m === 'report') {
      process.send(starts, () => {
        // Measured already: a close that waits on the limiter's delay must not hold the run.
        setTimeout(() => process.exit(0), 2000).unref();
        w.close().finally(() => process.exit(0));
      });
    }
  });
  w.waitUntilReady().then(() => process.send('ready'));
}

async function parent() {
  const r = new IORedis(connection);
  await r.flushall();
  await r.quit();
  const q = new Queue(QNAME, { connection });
  for (let off = 0; off < JOBS; off += 1000) {
    const jobs = [];
    for (let i = off; i < Math.min(JOBS, off + 1000); i++) jobs.push({ name: 'j', data: { i, s: 'x'.repeat(80) } });
    await q.addBulk(jobs);
  }
  const children = Array.from({ length: WORKERS }, () => fork(__filename, [], { env: { ...process.env, ROLE: 'worker' } }));
  await Promise.all(children.map((c) => new Promise((res) => c.once('message', (m) => m === 'ready' && res()))));
  children.forEach((c) => c.send('go'));
  await new Promise((res) => setTimeout(res, WINDOW_MS + 1000));
  const reports = await Promise.all(children.map((c) => new Promise((res) => { c.once('message', res); c.send('report'); })));
  const starts = [].concat(...reports).sort((a, b) => a - b);
  const end = starts[0] + WINDOW_MS;
  let total = 0, most = 0;
  for (let i = 0, j = 0; i < starts.length && starts[i] < end; i++) {
    while (starts[i] - starts[j] >= 1000) j++;
    most = Math.max(most, i - j + 1);
    total++;
  }
  console.error(`queue_rate_limit bullmq: ${total} starts in 10 s, ${most} at most in 1 s`);
  console.log(JSON.stringify({ maxPerSecond: most, totalFraction: total / (MAX * WINDOW_MS / DURATION) }));
  await Promise.all(children.map((c) => new Promise((res) => (c.exitCode !== null ? res() : c.once('exit', res)))));
  await q.close();
}

(process.env.ROLE === 'worker' ? worker() : parent()).catch((e) => { console.error(e); process.exit(1); });
