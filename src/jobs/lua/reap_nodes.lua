-- Live nodes without a heartbeat for ARGV[1] ms -> dead, and into the dying set
-- (KEYS[2]) until the caller has reclaimed their jobs in every queue and removes them:
-- a pass that fails midway leaves them there, and the next pass does the rest.
-- Nodes gone for longer than ARGV[2] ms (retention; -1: none) are deleted, unless
-- still dying. A dying node that registered again is alive: it leaves the set (the
-- jobs it holds are its own).
-- KEYS: nodes, dying. Returns {dying ids..., '', deleted}: every node still dying,
-- those declared dead now and those an earlier pass left.

local now = now_ms()
local timeout, keep = tonumber(ARGV[1]), tonumber(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local deleted = 0
for i = 1, #all, 2 do
  local n = cjson.decode(all[i + 1])
  if n.state == 0 and n.heartbeat < now - timeout then
    n.state = 2
    redis.call('HSET', KEYS[1], all[i], cjson.encode(n))
    redis.call('SADD', KEYS[2], all[i])
  elseif n.state ~= 0 and keep >= 0 and n.heartbeat < now - keep and
      redis.call('SISMEMBER', KEYS[2], all[i]) == 0 then
    redis.call('HDEL', KEYS[1], all[i])
    deleted = deleted + 1
  end
end
local dying = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local raw = redis.call('HGET', KEYS[1], id)
  if raw and cjson.decode(raw).state == 0 then
    redis.call('SREM', KEYS[2], id)
  else
    dying[#dying + 1] = id
  end
end
dying[#dying + 1] = ''
dying[#dying + 1] = deleted
return dying
