'use strict';
// limiter_redis, rate-limiter-flexible's side (orca's: bench/jobs_redis_workloads.cpp).
// Parent: FLUSHALL; throughput phase in this process; then forks 3 children for the
// accuracy phase and prints one JSON line. Child (ROLE=child): CALLERS loops consume one
// point of the 1000/s limit for 10 s from "go", then sends {admitted, first, last} (the
// server's TIME in microseconds around its calls).
const { fork } = require('child_process');
const IORedis = require('ioredis');
const { RateLimiterRedis } = require('rate-limiter-flexible');
const PORT = parseInt(process.env.REDIS_PORT || '6390', 10);
const CALLERS = 50;
const THROUGHPUT_MS = 5000;
const PROCESSES = 3;
const ACCURACY_MS = 10000;
const RATE = 1000;

// The library's documented setup: an ioredis client with the offline queue off.
function client() {
  return new IORedis({ host: '127.0.0.1', port: PORT, enableOfflineQueue: false });
}
async function ready(redis) {
  if (redis.status !== 'ready') await new Promise((r) => redis.once('ready', r));
}
async function serverTimeUs(redis) {
  const [s, us] = await redis.time();
  return Number(s) * 1e6 + Number(us);
}
// `callers` loops call consume(key) until `until` (ms); decisions and points admitted.
async function hammer(limiter, key, callers, until) {
  let decisions = 0, admitted = 0;
  const loop = async () => {
    while (Date.now() < until) {
      try {
        await limiter.consume(key);
        admitted++;
      } catch (e) {
        if (e instanceof Error) throw e;  // a store error, not a refusal (RateLimiterRes)
      }
      decisions++;
    }
  };
  await Promise.all(Array.from({ length: callers }, loop));
  return { decisions, admitted };
}

async function child() {
  const redis = client();
  await ready(redis);
  const limiter = new RateLimiterRedis({ storeClient: redis, keyPrefix: 'bench', points: RATE, duration: 1 });
  const callers = parseInt(process.env.CALLERS, 10);
  const go = new Promise((r) => process.once('message', (m) => m === 'go' && r()));
  process.send('ready');
  await go;
  const first = await serverTimeUs(redis);
  const { admitted } = await hammer(limiter, 'accuracy', callers, Date.now() + ACCURACY_MS);
  const last = await serverTimeUs(redis);
  process.send({ admitted, first, last });
  redis.disconnect();
}

async function parent() {
  const redis = client();
  await ready(redis);
  await redis.flushall();
  // Throughput: every decision admits (as orca's: a limit far above the calls).
  const fast = new RateLimiterRedis({ storeClient: redis, keyPrefix: 'bench', points: 1e9, duration: 1 });
  const t0 = Date.now();
  const { decisions } = await hammer(fast, 'throughput', CALLERS, t0 + THROUGHPUT_MS);
  const decisionsPerSec = decisions / ((Date.now() - t0) / 1000);
  await redis.flushall();
  const children = [];
  for (let i = 0; i < PROCESSES; i++) {
    const callers = Math.floor(CALLERS / PROCESSES) + (i < CALLERS % PROCESSES ? 1 : 0);
    children.push(fork(__filename, [], { env: { ...process.env, ROLE: 'child', CALLERS: String(callers) } }));
  }
  await Promise.all(children.map((c) => new Promise((r) => c.once('message', (m) => m === 'ready' && r()))));
  const reports = children.map((c) => new Promise((r) => c.once('message', r)));
  children.forEach((c) => c.send('go'));
  const got = await Promise.all(reports);
  const admitted = got.reduce((a, r) => a + r.admitted, 0);
  const first = Math.min(...got.map((r) => r.first));
  const last = Math.max(...got.map((r) => r.last));
  const allowed = RATE * (last - first) / 1e6;
  const admittedErrorPct = 100 * Math.abs(admitted - allowed) / allowed;
  console.error(`limiter_redis rlflex: ${decisions} decisions; ${admitted} admitted over ${((last - first) / 1e6).toFixed(3)} s, ${allowed.toFixed(0)} allowed`);
  console.log(JSON.stringify({ decisionsPerSec, admittedErrorPct, admitted, allowed }));
  redis.disconnect();
}

(process.env.ROLE === 'child' ? child() : parent()).catch((e) => { console.error(e); process.exit(1); });
