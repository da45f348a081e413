-- A node takes jobs to run: pending ones (pull) or ones leased to it -> running,
-- under a lease. A paused queue gives no pending job (its leased ones still run).
-- KEYS: counts, active, node set, leased(node), paused, then per job: job, audit,
-- pending(type), spec.
-- ARGV: lease ms, node, n, then per job: id, expected state (0 pending, 3 leased).
-- Returns the lease's end and the time, then per job taken: id, attempt, last error,
-- created, ready, spec. (Not the whole hash: turning a hash into a Lua table and
-- back costs more than every write of the claim.)

local now = now_ms()
local now_s = istr(now)
local lease = istr(now + tonumber(ARGV[1]))
local node = ARGV[2]
local n = tonumber(ARGV[3])
local out = {lease, now_s}
local paused = redis.call('EXISTS', KEYS[5]) == 1
for i = 1, n do
  local k = 5 + (i - 1) * 4
  local a = 3 + (i - 1) * 2
  local id, expect = ARGV[a + 1], ARGV[a + 2]
  local f = redis.call('HMGET', KEYS[k + 1], 'state', 'att', 'node', 'pm', 'err', 'ready',
    'created')
  if f[1] == expect and (expect == '0' and not paused or expect ~= '0' and f[3] == node) then
    local from = tonumber(expect)
    if from == 0 then redis.call('ZREM', KEYS[k + 3], f[4]) else redis.call('SREM', KEYS[4], id) end
    local att = istr(tonumber(f[2]) + 1)
    redis.call('HSET', KEYS[k + 1], 'state', '4', 'att', att, 'node', node, 'lease', lease,
      'upd', now_s)
    redis.call('ZADD', KEYS[2], lease, id)
    redis.call('SADD', KEYS[3], id)
    count(from, 4)
    audit(KEYS[k + 2], from, 4, node, att, now_s, '')
    out[#out + 1] = id
    out[#out + 1] = att
    out[#out + 1] = f[5]
    out[#out + 1] = f[7]
    out[#out + 1] = f[6]
    out[#out + 1] = redis.call('GET', KEYS[k + 4])
  end
end
flush(KEYS[1])
return out
