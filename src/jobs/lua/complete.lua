-- A node reports jobs it ran: running -> succeeded, failed, cancelled, dead,
-- retrying (after the delay) or pending again (handed back).
-- KEYS: counts, active, finished, dead, unique, delayed, cancels, dead_at, then per
-- completion: job, audit, node set, pending(type or any, when not handed back).
-- ARGV: n, then per completion: id, node, attempt, outcome (Outcome's number), error,
-- retry delay ms. Returns per completion the state after, -1 not found, -3 lease lost.

local now = now_ms()
local now_s = istr(now)
local n = tonumber(ARGV[1])
local out = {}
local handed_back = false
for i = 1, n do
  local k = 8 + (i - 1) * 4
  local a = 1 + (i - 1) * 6
  local id, node, seen, outcome, err, delay = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3],
    tonumber(ARGV[a + 4]), ARGV[a + 5], tonumber(ARGV[a + 6])
  local jk, ak = KEYS[k + 1], KEYS[k + 2]
  local f = redis.call('HMGET', jk, 'state', 'att', 'node', 'cr', 'uk')
  if not f[1] then
    out[#out + 1] = -1
  elseif f[1] ~= '4' or f[3] ~= node or f[2] ~= seen then
    out[#out + 1] = -3
  else
    local att = seen
    local cancel = f[4] == '1'
    local to, out_node, ready = 5, node, nil
    if outcome ~= 0 then
      local more = redis.call('HMGET', jk, 'maxatt', 'dl', 'prio', 'pm')
      f[6], f[7], f[8], f[9] = more[1], more[2], more[3], more[4]
    end
    if outcome == 1 then
      local retry_at = now + delay
      if cancel then to = 7
      elseif tonumber(att) >= tonumber(f[6]) or (f[7] ~= '' and retry_at >= tonumber(f[7])) then
        to = 8
      else to, out_node, ready = 2, '', istr(retry_at) end
    elseif outcome == 2 then
      if cancel then to = 7 else to = 6 end
    elseif outcome == 3 then to = 7
    elseif outcome == 4 then
      if cancel then to = 7
      else to, out_node, att = 0, '', istr(math.max(0, tonumber(att) - 1)) end
    end
    redis.call('ZREM', KEYS[2], id)
    redis.call('SREM', KEYS[k + 3], id)
    if cancel then redis.call('HDEL', KEYS[7], id) end
    if to >= 5 then
      finish(jk, id, to, now_s, err, KEYS[3], KEYS[4], KEYS[8], KEYS[5], f[5])
    else
      -- An empty error keeps the job's last one.
      local e = {}
      if err ~= '' then e = {'err', err} end
      if to == 2 then
        redis.call('HSET', jk, 'state', '2', 'node', '', 'lease', '0', 'upd', now_s, 'ready', ready,
          unpack(e))
        redis.call('ZADD', KEYS[6], ready, id)
      else
        -- Handed back, not failed: at its place in the queue (the member it had).
        redis.call('HSET', jk, 'state', '0', 'att', att, 'node', '', 'lease', '0', 'upd', now_s,
          unpack(e))
        redis.call('ZADD', KEYS[k + 4], neg(f[8]), f[9])
        handed_back = true
      end
    end
    count(4, to)
    audit(ak, 4, to, out_node, att, now_s, err)
    out[#out + 1] = to
  end
end
flush(KEYS[1])
if handed_back then announce(KEYS[1]) end
return out
