-- Deletes finished jobs with their specs and trails.
-- KEYS: counts, finished, dead, all, then per job: job, audit, spec. ARGV: n, ids...
-- Returns {jobs deleted, audit rows deleted}.

local n = tonumber(ARGV[1])
local jobs, rows = 0, 0
for i = 1, n do
  local id = ARGV[1 + i]
  local jk, ak = KEYS[4 + (i - 1) * 3 + 1], KEYS[4 + (i - 1) * 3 + 2]
  local state = redis.call('HGET', jk, 'state')
  if state and tonumber(state) >= 5 then
    local an = lines(redis.call('GET', ak))
    redis.call('DEL', jk, ak, KEYS[4 + (i - 1) * 3 + 3])
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
    redis.call('HINCRBY', KEYS[1], state, '-1')
    redis.call('HINCRBY', KEYS[1], 'audit', istr(-an))
    jobs = jobs + 1
    rows = rows + an
  end
end
return {jobs, rows}
