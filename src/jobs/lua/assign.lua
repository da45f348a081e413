-- The center's assignments: pending jobs -> leased to a node, or running on it
-- (start 1). A job no longer pending at the attempt read is skipped, and every job
-- of a paused queue.
-- KEYS: counts, active, paused, then per assignment: job, audit, pending(type), node
-- set, leased(node).
-- ARGV: lease ms, n, then per assignment: id, attempt seen, node, start (0/1), its
-- own lease ms (0: the call's).
-- Returns the ids assigned.

local now = now_ms()
local now_s = istr(now)
local n = tonumber(ARGV[2])
local out = {}
if redis.call('EXISTS', KEYS[3]) == 1 then return out end
for i = 1, n do
  local k = 3 + (i - 1) * 5
  local a = 2 + (i - 1) * 5
  local id, seen, node, start = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4])
  local own = tonumber(ARGV[a + 5])
  local lease = istr(now + (own > 0 and own or tonumber(ARGV[1])))
  local f = redis.call('HMGET', KEYS[k + 1], 'state', 'att', 'pm')
  if f[1] == '0' and f[2] == seen then
    redis.call('ZREM', KEYS[k + 3], f[3])
    local to, att = 3, seen
    if start == 1 then to, att = 4, istr(tonumber(seen) + 1) end
    redis.call('HSET', KEYS[k + 1], 'state', SN[to], 'att', att, 'node', node, 'lease', lease,
      'upd', now_s)
    redis.call('ZADD', KEYS[2], lease, id)
    redis.call('SADD', KEYS[k + 4], id)
    if to == 3 then redis.call('SADD', KEYS[k + 5], id) end
    count(0, to)
    audit(KEYS[k + 2], 0, to, node, att, now_s, '')
    out[#out + 1] = id
  end
end
flush(KEYS[1])
return out
