-- A node leaves, or is declared dead, in the registry.
-- KEYS: nodes. ARGV: id, new state (1 left, 2 dead).

local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local n = cjson.decode(raw)
n.state = tonumber(ARGV[2])
n.load = 0
n.heartbeat = now_ms()
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(n))
return 1
