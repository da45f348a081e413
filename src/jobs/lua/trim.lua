-- Deletes finished jobs with their specs and trails. A failed or dead job met in
-- finished (stores written before dead letters had their own retention kept them
-- there) is moved to dead_at instead, to be bounded as a dead letter.
-- KEYS: counts, finished, dead, all, dead_at, then per job: job, audit, spec.
-- ARGV: n, ids... Returns {jobs deleted, audit rows deleted, jobs moved}.

local n = tonumber(ARGV[1])
local jobs, rows, moved = 0, 0, 0
for i = 1, n do
  local id = ARGV[1 + i]
  local jk, ak = KEYS[5 + (i - 1) * 3 + 1], KEYS[5 + (i - 1) * 3 + 2]
  local f = redis.call('HMGET', jk, 'state', 'fin')
  local state = f[1]
  if (state == '6' or state == '8') and redis.call('ZSCORE', KEYS[2], id) then
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZADD', KEYS[5], f[2], id)
    moved = moved + 1
  elseif state and tonumber(state) >= 5 then
    local an = lines(redis.call('GET', ak))
    redis.call('DEL', jk, ak, KEYS[5 + (i - 1) * 3 + 3])
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
    redis.call('ZREM', KEYS[5], id)
    redis.call('HINCRBY', KEYS[1], state, '-1')
    redis.call('HINCRBY', KEYS[1], 'audit', istr(-an))
    jobs = jobs + 1
    rows = rows + an
  end
end
return {jobs, rows, moved}
