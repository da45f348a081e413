-- scheduled/retrying whose time has come -> pending.
-- KEYS: counts, delayed, then per job: job, audit, pending(type). ARGV: n, ids...
-- Returns how many moved.

local now = now_ms()
local now_s = istr(now)
local n = tonumber(ARGV[1])
local moved = 0
for i = 1, n do
  local k = 2 + (i - 1) * 3
  local id = ARGV[1 + i]
  local due = redis.call('ZSCORE', KEYS[2], id)
  if due and tonumber(due) <= now then
    local f = redis.call('HMGET', KEYS[k + 1], 'state', 'att', 'ready', 'prio')
    local state = tonumber(f[1])
    if state == 1 or state == 2 then
      local pm = pmember(tonumber(f[3]), id)
      redis.call('ZREM', KEYS[2], id)
      redis.call('HSET', KEYS[k + 1], 'state', '0', 'node', '', 'pm', pm, 'upd', now_s)
      redis.call('ZADD', KEYS[k + 3], neg(f[4]), pm)
      count(state, 0)
      audit(KEYS[k + 2], state, 0, '', f[2], now_s, '')
      moved = moved + 1
    end
  end
end
flush(KEYS[1])
if moved > 0 then announce(KEYS[1]) end
return moved
