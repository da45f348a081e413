-- A leadership lease: a hash of holder, token (the last one granted, kept for ever so
-- tokens only grow) and exp (ms, the server's clock). Granted when free, expired, or
-- already this holder's (a renewal keeps the token); a new holder gets token + 1.
-- KEYS: the lease. ARGV: holder, ttl ms.
-- Returns {1, token, exp} when granted, {0, token, exp, holder} when another holds it.

local now = now_ms()
local cur = redis.call('HMGET', KEYS[1], 'holder', 'token', 'exp')
local holder = cur[1] or ''
local token = tonumber(cur[2] or '0')
local exp = tonumber(cur[3] or '0')
if holder ~= '' and holder ~= ARGV[1] and exp > now then
  return {0, istr(token), istr(exp), holder}
end
-- The holder of record keeps its token even past expiry: nobody held it in between.
if holder ~= ARGV[1] then token = token + 1 end
exp = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', istr(token), 'exp', istr(exp))
return {1, istr(token), istr(exp)}
