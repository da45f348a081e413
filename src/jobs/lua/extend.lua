-- Extends the leases of the jobs leased to a node and of the running ones it holds
-- (broker.hpp, heartbeat), and reports its cancel requests.
-- KEYS: active, cancels, then per job: job. ARGV: node, lease ms, n, then per job: id,
-- held (0/1). Returns the ids of its running jobs with a cancel requested, held or
-- not.

local node = ARGV[1]
local lease = istr(now_ms() + tonumber(ARGV[2]))
local n = tonumber(ARGV[3])
local cancels = {}
for i = 1, n do
  local id, held = ARGV[2 + 2 * i], ARGV[3 + 2 * i]
  local f = redis.call('HMGET', KEYS[2 + i], 'state', 'node', 'cr')
  if f[2] == node then
    if f[1] == '3' or (f[1] == '4' and held == '1') then
      redis.call('HSET', KEYS[2 + i], 'lease', lease)
      redis.call('ZADD', KEYS[1], lease, id)
    end
    -- Every running job of the node, held or not (state_machine.hpp, broker.hpp).
    if f[1] == '4' and f[3] == '1' then cancels[#cancels + 1] = id end
  end
end
return cancels
