-- Live nodes without a heartbeat for ARGV[1] ms -> dead; nodes gone for longer than
-- ARGV[2] ms (retention) are deleted. KEYS: nodes. Returns {dead ids..., '', deleted}.

local now = now_ms()
local timeout, keep = tonumber(ARGV[1]), tonumber(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local dead, deleted = {}, 0
for i = 1, #all, 2 do
  local n = cjson.decode(all[i + 1])
  if n.state == 0 and n.heartbeat < now - timeout then
    n.state = 2
    redis.call('HSET', KEYS[1], all[i], cjson.encode(n))
    dead[#dead + 1] = all[i]
  elseif n.state ~= 0 and keep >= 0 and n.heartbeat < now - keep then
    redis.call('HDEL', KEYS[1], all[i])
    deleted = deleted + 1
  end
end
dead[#dead + 1] = ''
dead[#dead + 1] = deleted
return dead
