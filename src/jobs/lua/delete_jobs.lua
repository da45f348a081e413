-- Deletes finished jobs with their specs and trails (remove, delete_finished); a live
-- job, or one not in `only`, stays.
-- KEYS: counts, finished, dead, all, dead_at, then per job: job, audit, spec.
-- ARGV: only ('' any finished state, else one state's number), n, ids...
-- Returns per job: the state it was deleted in, -1 not found, -2 live or not `only`.

local n = tonumber(ARGV[2])
local out = {}
for i = 1, n do
  local id = ARGV[2 + i]
  local k = 5 + (i - 1) * 3
  local jk, ak = KEYS[k + 1], KEYS[k + 2]
  local state = redis.call('HGET', jk, 'state')
  if not state then
    out[i] = -1
  elseif tonumber(state) < 5 or (ARGV[1] ~= '' and state ~= ARGV[1]) then
    out[i] = -2
  else
    local an = lines(redis.call('GET', ak))
    redis.call('DEL', jk, ak, KEYS[k + 3])
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
    redis.call('ZREM', KEYS[5], id)
    redis.call('HINCRBY', KEYS[1], state, '-1')
    redis.call('HINCRBY', KEYS[1], 'audit', istr(-an))
    out[i] = tonumber(state)
  end
end
return out
