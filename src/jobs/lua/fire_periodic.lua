-- Periodic entries: JSON {schedule, spec, next} under their name.
-- KEYS: periodic. ARGV: name, expected next ms, new next ms. Returns 1 if fired here.

local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local e = cjson.decode(raw)
if e.next ~= tonumber(ARGV[2]) then return 0 end
e.next = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(e))
return 1
