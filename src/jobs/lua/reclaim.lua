-- A leased or running job whose node is gone or whose lease expired (broker.hpp):
-- leased -> pending; running -> cancelled (cancel requested), dead (attempts
-- exhausted) or retrying after the delay given.
-- KEYS: counts, active, delayed, finished, dead, unique, cancels, dead_at, then per
-- job: job, audit, pending(type), node set(node), leased(node). ARGV: n, then per
-- job: id, node, only if expired (0/1), retry delay ms, reason. Returns how many
-- moved.

local now = now_ms()
local now_s = istr(now)
local n = tonumber(ARGV[1])
local moved = 0
local pending = false
for i = 1, n do
  local k = 8 + (i - 1) * 5
  local a = 1 + (i - 1) * 5
  local id, node, only_expired, delay, why = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3],
    tonumber(ARGV[a + 4]), ARGV[a + 5]
  local jk = KEYS[k + 1]
  local f = redis.call('HMGET', jk, 'state', 'att', 'node', 'cr', 'lease', 'uk', 'maxatt', 'prio')
  local state = tonumber(f[1])
  local expired = f[5] and tonumber(f[5]) < now
  if (state == 3 or state == 4) and f[3] == node and (only_expired == '0' or expired) then
    local att = f[2]
    redis.call('ZREM', KEYS[2], id)
    redis.call('SREM', KEYS[k + 4], id)
    redis.call('SREM', KEYS[k + 5], id)
    redis.call('HDEL', KEYS[7], id)
    local to, out_node = 0, ''
    if state == 3 then
      local pm = pmember(now, id)
      redis.call('HSET', jk, 'state', '0', 'node', '', 'lease', '0', 'pm', pm, 'err', why,
        'upd', now_s, 'ready', now_s)
      redis.call('ZADD', KEYS[k + 3], neg(f[8]), pm)
      pending = true
    elseif f[4] == '1' or tonumber(att) >= tonumber(f[7]) then
      to, out_node = 8, node
      if f[4] == '1' then to = 7 end
      finish(jk, id, to, now_s, why, KEYS[4], KEYS[5], KEYS[8], KEYS[6], f[6])
    else
      to = 2
      local ready = istr(now + delay)
      redis.call('HSET', jk, 'state', '2', 'node', '', 'lease', '0', 'err', why, 'upd', now_s,
        'ready', ready)
      redis.call('ZADD', KEYS[3], ready, id)
    end
    count(state, to)
    audit(KEYS[k + 2], state, to, out_node, att, now_s, why)
    moved = moved + 1
  end
end
flush(KEYS[1])
if pending then announce(KEYS[1]) end
return moved
