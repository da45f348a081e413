'use strict';
// redis_lock, redlock's side (orca's: bench/redis_lock_workload.cpp). CALLERS loops
// each lock their own resource for TTL_MS and unlock it again, for DURATION_MS after a
// warm-up; prints {pairsPerSec, pairs}. Each lock is a redlock Lock on one ioredis
// client (a single-instance Redlock, as its README shows), with redlock's defaults.
const IORedis = require('ioredis');
const Redlock = require('redlock');
const PORT = parseInt(process.env.REDIS_PORT || '6390', 10);
const CALLERS = 50;
const TTL_MS = 10000;
const WARMUP_MS = 500;
const DURATION_MS = 5000;

async function run(redlock, until) {
  let pairs = 0;
  const loop = async (i) => {
    const resource = `bench:lock:${i}`;
    while (Date.now() < until) {
      const lock = await redlock.lock(resource, TTL_MS);
      await lock.unlock();
      pairs++;
    }
  };
  await Promise.all(Array.from({ length: CALLERS }, (_, i) => loop(i)));
  return pairs;
}

(async () => {
  const redis = new IORedis({ host: '127.0.0.1', port: PORT });
  await redis.flushall();
  const redlock = new Redlock([redis]);
  await run(redlock, Date.now() + WARMUP_MS);
  const t0 = Date.now();
  const pairs = await run(redlock, t0 + DURATION_MS);
  const pairsPerSec = pairs / ((Date.now() - t0) / 1000);
  console.error(`redis_lock redlock: ${pairs} lock+unlock pairs`);
  console.log(JSON.stringify({ pairsPerSec, pairs }));
  redis.disconnect();
})().catch((e) => { console.error(e); process.exit(1); });
