-- Node registry: a node's record is JSON (id, types, tags, capacity, load, state,
-- pid, started, heartbeat) under its id in the nodes hash.
-- KEYS: nodes. ARGV: id, types JSON, tags JSON, capacity, pid.

local now = now_ms()
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({id = ARGV[1], types = cjson.decode(ARGV[2]),
  tags = cjson.decode(ARGV[3]), capacity = tonumber(ARGV[4]), load = 0, state = 0,
  pid = tonumber(ARGV[5]), started = now, heartbeat = now}))
return now
