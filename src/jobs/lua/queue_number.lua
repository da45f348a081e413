-- The queue's number, given out on first use. KEYS: queues, queue names, sequence.
-- ARGV: queue.

local n = redis.call('HGET', KEYS[1], ARGV[1])
if n then return tonumber(n) end
n = redis.call('INCR', KEYS[3])
if n > 65535 then return redis.error_reply('ERR orca: more than 65535 queues') end
redis.call('HSET', KEYS[1], ARGV[1], n)
redis.call('HSET', KEYS[2], n, ARGV[1])
return n
