-- A failed or dead job -> pending again, its attempts back to 0.
-- KEYS: job, audit, counts, unique, pending(type), finished, dead, dead_at. ARGV: id,
-- actor ('' none).
-- Returns 0, -1 not found, -2 not failed or dead, -4 a live job holds its unique key.

local now = now_ms()
local id = ARGV[1]
local f = redis.call('HMGET', KEYS[1], 'state', 'prio', 'uk')
if not f[1] then return -1 end
local state = tonumber(f[1])
if state ~= 6 and state ~= 8 then return -2 end
if f[3] ~= '' then
  if redis.call('HEXISTS', KEYS[4], f[3]) == 1 then return -4 end
  redis.call('HSET', KEYS[4], f[3], id)
end
local pm = pmember(now, id)
local now_s = istr(now)
redis.call('HSET', KEYS[1], 'state', '0', 'att', '0', 'node', '', 'cr', '0', 'lease', '0', 'pm', pm,
  'upd', now_s, 'ready', now_s, 'fin', '')
redis.call('ZADD', KEYS[5], neg(f[2]), pm)
redis.call('ZREM', KEYS[6], id)
redis.call('ZREM', KEYS[7], id)
redis.call('ZREM', KEYS[8], id)
count(state, 0)
audit(KEYS[2], state, 0, '', 0, now_s, 'requeued', ARGV[2])
flush(KEYS[3])
announce(KEYS[3])
return 0
