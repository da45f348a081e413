-- Cancels a job: one not running is cancelled here; a running one gets a cancel
-- request, published on the cancel channel for its node to act on.
-- KEYS: job, audit, counts, unique, pending(type), delayed, active, node set(node),
-- finished, cancels, leased(node). ARGV: id, node (as read before), cancel channel,
-- actor ('' none).
-- Returns the state after, -1 not found, -2 finished, -3 the node changed (read again).

local now_s = istr(now_ms())
local id = ARGV[1]
local f = redis.call('HMGET', KEYS[1], 'state', 'node', 'att', 'cr', 'pm', 'uk')
if not f[1] then return -1 end
local state, node = tonumber(f[1]), f[2]
if state >= 5 then return -2 end
if node ~= ARGV[2] then return -3 end
if state == 4 then
  if f[4] ~= '1' then
    redis.call('HSET', KEYS[1], 'cr', '1', 'upd', now_s)
    redis.call('HSET', KEYS[10], id, node)
    audit(KEYS[2], 4, 4, node, f[3], now_s, 'cancel requested', ARGV[4])
    flush(KEYS[3])
    redis.call('PUBLISH', ARGV[3], id .. ' ' .. node)
  end
  return 4
end
if state == 0 then redis.call('ZREM', KEYS[5], f[5])
elseif state == 1 or state == 2 then redis.call('ZREM', KEYS[6], id)
elseif state == 3 then
  redis.call('ZREM', KEYS[7], id)
  redis.call('SREM', KEYS[8], id)
  redis.call('SREM', KEYS[11], id)
end
finish(KEYS[1], id, 7, now_s, '', KEYS[9], nil, nil, KEYS[4], f[6])
count(state, 7)
audit(KEYS[2], state, 7, node, f[3], now_s, 'cancelled', ARGV[4])
flush(KEYS[3])
return 7
