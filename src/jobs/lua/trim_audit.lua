-- Drops up to ARGV[1] audit rows, the oldest first, from the trails of the jobs
-- given (oldest jobs first). KEYS: counts, then per job: job, audit. ARGV: rows.
-- Returns the rows dropped.

local want = tonumber(ARGV[1])
local dropped = 0
local i = 1
while dropped < want and KEYS[1 + (i - 1) * 2 + 1] do
  local ak = KEYS[1 + (i - 1) * 2 + 2]
  local text = redis.call('GET', ak)
  local an = lines(text)
  if an > 0 then
    local take = math.min(an, want - dropped)
    if take == an then
      redis.call('DEL', ak)
    else
      local pos = 0
      for _ = 1, take do pos = string.find(text, '\n', pos + 1, true) end
      redis.call('SET', ak, string.sub(text, pos + 1))
    end
    redis.call('HINCRBY', KEYS[1], 'audit', istr(-take))
    dropped = dropped + take
  end
  i = i + 1
end
return dropped
