-- Adds jobs: pending, or scheduled when run_at is still ahead. A job whose unique key
-- a live job holds is not added: that job's id comes back, as a duplicate.
-- Every type enqueued goes into the queue's types set, so that queue statistics know
-- which pending zsets to look in (RedisBroker::queues).
-- KEYS: unique, counts, all, delayed, types, then per job: job, audit, pending(type), spec.
-- ARGV: n, actor ('' none), then per job: id, type, prio, spec, uk, run_at ('' none),
-- maxatt, dl.
-- Returns per job: id, duplicate (0/1).

local now = now_ms()
local now_s = istr(now)
local n = tonumber(ARGV[1])
local out = {}
local fresh = false
for i = 1, n do
  local k = 5 + (i - 1) * 4
  local a = 2 + (i - 1) * 8
  local id, typ, prio, spec, uk, run_at = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4],
    ARGV[a + 5], ARGV[a + 6]
  local existing = false
  if uk ~= '' then existing = redis.call('HGET', KEYS[1], uk) end
  if existing then
    out[#out + 1] = existing
    out[#out + 1] = 1
  else
    local ready, ready_s, state = now, now_s, 0
    if run_at ~= '' and tonumber(run_at) > now then
      ready, ready_s, state = tonumber(run_at), run_at, 1
    end
    local pm = pmember(ready, id)
    redis.call('SET', KEYS[k + 4], spec)
    redis.call('HSET', KEYS[k + 1], 'state', SN[state], 'att', '0', 'node', '', 'cr', '0',
      'lease', '0', 'pm', pm, 'err', '', 'ready', ready_s, 'created', now_s, 'uk', uk,
      'maxatt', ARGV[a + 7], 'dl', ARGV[a + 8], 'prio', prio, 'type', typ, 'id', id,
      'upd', now_s, 'fin', '')
    if state == 0 then
      redis.call('ZADD', KEYS[k + 3], neg(prio), pm)
    else
      redis.call('ZADD', KEYS[4], ready_s, id)
    end
    redis.call('ZADD', KEYS[3], id, id)
    redis.call('SADD', KEYS[5], typ)
    if uk ~= '' then redis.call('HSET', KEYS[1], uk, id) end
    count(-1, state)
    audit(KEYS[k + 2], -1, state, '', 0, now_s, '', ARGV[2])
    out[#out + 1] = id
    out[#out + 1] = 0
    if state == 0 then fresh = true end
  end
end
flush(KEYS[2])
if fresh then announce(KEYS[2]) end
return out
