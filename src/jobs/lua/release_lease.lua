-- Frees a leadership lease (acquire_lease.lua) if ARGV's holder still holds it with
-- ARGV's token; the token stays, so the next holder's is larger.
-- KEYS: the lease. ARGV: holder, token. Returns 1 if released, 0 if not held so.

local cur = redis.call('HMGET', KEYS[1], 'holder', 'token')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'holder', '', 'exp', '0')
return 1
