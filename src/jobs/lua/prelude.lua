-- Prepended to every script (redis_broker.cpp, Scripts::make): the helpers they
-- share. README.md has the conventions every script keeps.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Numbers go to redis.call and into rows as strings made here: Lua's own
-- conversion (%.14g) runs the C library's float printer, slower than most commands.
local function istr(x) return string.format('%d', x) end
local SN = {[-1] = '-1', [0] = '0', '1', '2', '3', '4', '5', '6', '7', '8'}
local function s(v)
  if type(v) == 'number' then return SN[v] or istr(v) end
  return v
end
-- A pending score: minus the priority (a decimal integer string).
local function neg(p)
  if p == '0' then return p end
  if string.sub(p, 1, 1) == '-' then return string.sub(p, 2) end
  return '-' .. p
end
-- Changes to the queue's counts hash, applied once at the end (flush).
local deltas = {}
local quoted = {}
local function jstr(v)
  local q = quoted[v]
  if q then return q end
  if string.find(v, '^[%w%._:%- ]*$') then q = '"' .. v .. '"' else q = cjson.encode(v) end
  quoted[v] = q
  return q
end
-- One audit row, a JSON array on its own line: from, to, node, attempt, at, error,
-- and the actor when there is one (rows without it read as no actor).
local function audit(akey, from, to, node, attempt, at, err, actor)
  local tail = ']\n'
  if actor and actor ~= '' then tail = ',' .. jstr(actor) .. ']\n' end
  redis.call('APPEND', akey, '[' .. s(from) .. ',' .. s(to) .. ',' .. jstr(node) .. ',' ..
    s(attempt) .. ',' .. s(at) .. ',' .. jstr(err) .. tail)
  deltas['audit'] = (deltas['audit'] or 0) + 1
end
local function count(from, to)
  if from >= 0 then deltas[from] = (deltas[from] or 0) - 1 end
  deltas[to] = (deltas[to] or 0) + 1
end
local function flush(ckey)
  for field, d in pairs(deltas) do
    if d ~= 0 then redis.call('HINCRBY', ckey, s(field), istr(d)) end
  end
  deltas = {}
end
local function lines(text)
  if not text then return 0 end
  local _, n = string.gsub(text, '\n', '\n')
  return n
end
local function pmember(ready, id)
  return string.format('%015d:', ready) .. string.rep('0', 20 - #id) .. id
end
-- Tells nodes waiting for work (<prefix>:work) that jobs became pending; the prefix
-- is read off any of the queue's keys ("<prefix>:{queue}:...").
local function announce(queue_key)
  local prefix, queue = string.match(queue_key, '^(.-):{(.-)}')
  redis.call('PUBLISH', prefix .. ':work', queue)
end
local function release_unique(ukey, uk, id)
  if uk ~= '' and redis.call('HGET', ukey, uk) == id then redis.call('HDEL', ukey, uk) end
end
-- A job's move to a final state (5 succeeded, 6 failed, 7 cancelled, 8 dead); an
-- empty error keeps the job's last one. KEYS it needs: the job, finished, dead,
-- dead_at, unique (dead and dead_at only for 6 and 8). Succeeded and cancelled jobs go
-- to finished, failed and dead ones to dead (by id) and dead_at (by time): each class
-- is retained by its own bounds.
local function finish(jk, id, to, now_s, err, finished, dead, dead_at, unique, uk)
  if err ~= '' then
    redis.call('HSET', jk, 'state', SN[to], 'upd', now_s, 'fin', now_s, 'lease', '0', 'cr', '0',
      'err', err)
  else
    redis.call('HSET', jk, 'state', SN[to], 'upd', now_s, 'fin', now_s, 'lease', '0', 'cr', '0')
  end
  if to == 6 or to == 8 then
    redis.call('ZADD', dead, id, id)
    redis.call('ZADD', dead_at, now_s, id)
  else
    redis.call('ZADD', finished, now_s, id)
  end
  release_unique(unique, uk, id)
end
