-- A leased or running job whose node is gone or whose lease expired (broker.hpp):
-- pending again at its place in the queue (the member it had in the pending set),
-- unless it was running and its cancel was requested (cancelled) or its attempts are
-- exhausted (dead). A running job's attempt counts.
-- KEYS: counts, active, finished, dead, unique, cancels, dead_at, then per job: job,
-- audit, pending(type), node set(node), leased(node). ARGV: n, then per job: id,
-- node, only if expired (0/1), reason. Returns how many moved.

local now = now_ms()
local now_s = istr(now)
local n = tonumber(ARGV[1])
local moved = 0
local pending = false
for i = 1, n do
  local k = 7 + (i - 1) * 5
  local a = 1 + (i - 1) * 4
  local id, node, only_expired, why = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local jk = KEYS[k + 1]
  local f = redis.call('HMGET', jk, 'state', 'att', 'node', 'cr', 'lease', 'uk', 'maxatt', 'prio',
    'pm')
  local state = tonumber(f[1])
  local expired = f[5] and tonumber(f[5]) < now
  if (state == 3 or state == 4) and f[3] == node and (only_expired == '0' or expired) then
    local att = f[2]
    redis.call('ZREM', KEYS[2], id)
    redis.call('SREM', KEYS[k + 4], id)
    redis.call('SREM', KEYS[k + 5], id)
    redis.call('HDEL', KEYS[6], id)
    local to, out_node = 0, ''
    if state == 4 and (f[4] == '1' or tonumber(att) >= tonumber(f[7])) then
      to, out_node = 8, node
      if f[4] == '1' then to = 7 end
      finish(jk, id, to, now_s, why, KEYS[3], KEYS[4], KEYS[7], KEYS[5], f[6])
    else
      redis.call('HSET', jk, 'state', '0', 'node', '', 'lease', '0', 'err', why, 'upd', now_s)
      redis.call('ZADD', KEYS[k + 3], neg(f[8]), f[9])
      pending = true
    end
    count(state, to)
    audit(KEYS[k + 2], state, to, out_node, att, now_s, why)
    moved = moved + 1
  end
end
flush(KEYS[1])
if pending then announce(KEYS[1]) end
return moved
