-- A node's heartbeat in the registry: its load and the time.
-- KEYS: nodes. ARGV: id, load. Returns 1, or 0 if the node is not alive in the registry.

local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local n = cjson.decode(raw)
if n.state ~= 0 then return 0 end
n.load = tonumber(ARGV[2])
n.heartbeat = now_ms()
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(n))
return 1
