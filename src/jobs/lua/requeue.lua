-- Failed or dead jobs -> pending again, their attempts back to 0: requeue (one job),
-- requeue_dead (a batch of a queue's dead jobs).
-- KEYS: counts, unique, finished, dead, dead_at, then per job: job, audit,
-- pending(type).
-- ARGV: actor ('' none), only ('8': dead jobs only; '': failed or dead), n, ids...
-- Returns per job: 0, -1 not found, -2 not failed or dead (or not `only`), -4 a live
-- job holds its unique key.

local now = now_ms()
local now_s = istr(now)
local n = tonumber(ARGV[3])
local out = {}
local any = false
for i = 1, n do
  local id = ARGV[3 + i]
  local k = 5 + (i - 1) * 3
  local f = redis.call('HMGET', KEYS[k + 1], 'state', 'prio', 'uk')
  local state = tonumber(f[1])
  if not state then
    out[i] = -1
  elseif (state ~= 6 and state ~= 8) or (ARGV[2] ~= '' and f[1] ~= ARGV[2]) then
    out[i] = -2
  elseif f[3] ~= '' and redis.call('HEXISTS', KEYS[2], f[3]) == 1 then
    out[i] = -4
  else
    if f[3] ~= '' then redis.call('HSET', KEYS[2], f[3], id) end
    local pm = pmember(now, id)
    redis.call('HSET', KEYS[k + 1], 'state', '0', 'att', '0', 'node', '', 'cr', '0', 'lease', '0',
      'pm', pm, 'upd', now_s, 'ready', now_s, 'fin', '')
    redis.call('ZADD', KEYS[k + 3], neg(f[2]), pm)
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
    redis.call('ZREM', KEYS[5], id)
    count(state, 0)
    audit(KEYS[k + 2], state, 0, '', 0, now_s, 'requeued', ARGV[1])
    out[i] = 0
    any = true
  end
end
flush(KEYS[1])
if any then announce(KEYS[1]) end
return out
