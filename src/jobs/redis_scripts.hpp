// The Redis broker's Lua scripts (redis_broker.hpp has the key layout).
//
// Conventions shared by every script:
//  - KEYS declares every key the script touches; all of one queue's keys share its
//    hash tag, so a script runs on one slot (Redis Cluster).
//  - Job ids stay strings in Lua: an id can exceed 10^14, past which Lua 5.1 prints
//    numbers in exponent form.
//  - States are JobState's numbers; -1 stands for "none" (the enqueue's from).
//  - A job's hash: state, att, node, cr (cancel requested), lease, pm (its member in
//    the pending zset), err, ready, created, uk (unique key or ''), maxatt, dl
//    (deadline ms or ''), prio, type, id, upd, fin ('' until finished). Short values, so
//    Redis keeps it compact (a listpack, searched front to back: the fields every
//    transition reads come first); the spec (JSON, with the payload, written once)
//    is a string key of its own, <q>:spec:<id>.
//  - A pending member is "<ready ms, 15 digits>:<id, 20 digits>" under score
//    -priority, so ZRANGE gives priority first, then readiness, then id.
//  - <q>:leased:<node> holds the jobs leased to a node and not yet claimed, so a
//    claim finds them without reading every job the node holds.
//  - Scripts that make jobs pending publish the queue's name on <prefix>:work
//    (announce).
#pragma once

namespace orca::jobs::detail {

// Prepended to every script.
inline constexpr const char* kLuaPrelude = R"lua(
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
-- One audit row, a JSON array on its own line: from, to, node, attempt, at, error.
local function audit(akey, from, to, node, attempt, at, err)
  redis.call('APPEND', akey, '[' .. s(from) .. ',' .. s(to) .. ',' .. jstr(node) .. ',' ..
    s(attempt) .. ',' .. s(at) .. ',' .. jstr(err) .. ']\n')
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
-- empty error keeps the job's last one. KEYS it needs: the job, finished, dead, unique.
local function finish(jk, id, to, now_s, err, finished, dead, unique, uk)
  if err ~= '' then
    redis.call('HSET', jk, 'state', SN[to], 'upd', now_s, 'fin', now_s, 'lease', '0', 'cr', '0',
      'err', err)
  else
    redis.call('HSET', jk, 'state', SN[to], 'upd', now_s, 'fin', now_s, 'lease', '0', 'cr', '0')
  end
  redis.call('ZADD', finished, now_s, id)
  if to == 6 or to == 8 then redis.call('ZADD', dead, id, id) end
  release_unique(unique, uk, id)
end
)lua";

// KEYS: unique, counts, all, delayed, then per job: job, audit, pending(type), spec.
// ARGV: n, then per job: id, type, prio, spec, uk, run_at ('' none), maxatt, dl.
// Returns per job: id, duplicate (0/1).
inline constexpr const char* kEnqueue = R"lua(
local now = now_ms()
local now_s = istr(now)
local n = tonumber(ARGV[1])
local out = {}
local fresh = false
for i = 1, n do
  local k = 4 + (i - 1) * 4
  local a = 1 + (i - 1) * 8
  local id, typ, prio, spec, uk, run_at = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4],
    ARGV[a + 5], ARGV[a + 6]
  local existing = false
  if uk ~= '' then existing = redis.call('HGET', KEYS[1], uk) end
  if existing then
    out[#out + 1] = existing
    out[#out + 1] = 1
  else
    local ready, ready_s, state = now, now_s, 0
    if run_at ~= '' and tonumber(run_at) > now then
      ready, ready_s, state = tonumber(run_at), run_at, 1
    end
    local pm = pmember(ready, id)
    redis.call('SET', KEYS[k + 4], spec)
    redis.call('HSET', KEYS[k + 1], 'state', SN[state], 'att', '0', 'node', '', 'cr', '0',
      'lease', '0', 'pm', pm, 'err', '', 'ready', ready_s, 'created', now_s, 'uk', uk,
      'maxatt', ARGV[a + 7], 'dl', ARGV[a + 8], 'prio', prio, 'type', typ, 'id', id,
      'upd', now_s, 'fin', '')
    if state == 0 then
      redis.call('ZADD', KEYS[k + 3], neg(prio), pm)
    else
      redis.call('ZADD', KEYS[4], ready_s, id)
    end
    redis.call('ZADD', KEYS[3], id, id)
    if uk ~= '' then redis.call('HSET', KEYS[1], uk, id) end
    count(-1, state)
    audit(KEYS[k + 2], -1, state, '', 0, now_s, '')
    out[#out + 1] = id
    out[#out + 1] = 0
    if state == 0 then fresh = true end
  end
end
flush(KEYS[2])
if fresh then announce(KEYS[2]) end
return out
)lua";

// KEYS: job, audit, counts, unique, pending(type), delayed, active, node set(node),
// finished, cancels, leased(node). ARGV: id, node (as read before), cancel channel.
// Returns the state after, -1 not found, -2 finished, -3 the node changed (read again).
inline constexpr const char* kCancel = R"lua(
local now_s = istr(now_ms())
local id = ARGV[1]
local f = redis.call('HMGET', KEYS[1], 'state', 'node', 'att', 'cr', 'pm', 'uk')
if not f[1] then return -1 end
local state, node = tonumber(f[1]), f[2]
if state >= 5 then return -2 end
if node ~= ARGV[2] then return -3 end
if state == 4 then
  if f[4] ~= '1' then
    redis.call('HSET', KEYS[1], 'cr', '1', 'upd', now_s)
    redis.call('HSET', KEYS[10], id, node)
    audit(KEYS[2], 4, 4, node, f[3], now_s, 'cancel requested')
    flush(KEYS[3])
    redis.call('PUBLISH', ARGV[3], id .. ' ' .. node)
  end
  return 4
end
if state == 0 then redis.call('ZREM', KEYS[5], f[5])
elseif state == 1 or state == 2 then redis.call('ZREM', KEYS[6], id)
elseif state == 3 then
  redis.call('ZREM', KEYS[7], id)
  redis.call('SREM', KEYS[8], id)
  redis.call('SREM', KEYS[11], id)
end
finish(KEYS[1], id, 7, now_s, '', KEYS[9], nil, KEYS[4], f[6])
count(state, 7)
audit(KEYS[2], state, 7, node, f[3], now_s, 'cancelled')
flush(KEYS[3])
return 7
)lua";

// KEYS: job, audit, counts, unique, pending(type), finished, dead. ARGV: id.
// Returns 0, -1 not found, -2 not failed or dead, -4 a live job holds its unique key.
inline constexpr const char* kRequeue = R"lua(
local now = now_ms()
local id = ARGV[1]
local f = redis.call('HMGET', KEYS[1], 'state', 'prio', 'uk')
if not f[1] then return -1 end
local state = tonumber(f[1])
if state ~= 6 and state ~= 8 then return -2 end
if f[3] ~= '' then
  if redis.call('HEXISTS', KEYS[4], f[3]) == 1 then return -4 end
  redis.call('HSET', KEYS[4], f[3], id)
end
local pm = pmember(now, id)
local now_s = istr(now)
redis.call('HSET', KEYS[1], 'state', '0', 'att', '0', 'node', '', 'cr', '0', 'lease', '0', 'pm', pm,
  'upd', now_s, 'ready', now_s, 'fin', '')
redis.call('ZADD', KEYS[5], neg(f[2]), pm)
redis.call('ZREM', KEYS[6], id)
redis.call('ZREM', KEYS[7], id)
count(state, 0)
audit(KEYS[2], state, 0, '', 0, now_s, 'requeued')
flush(KEYS[3])
announce(KEYS[3])
return 0
)lua";

// KEYS: counts, active, then per assignment: job, audit, pending(type), node set,
// leased(node).
// ARGV: lease ms, n, then per assignment: id, attempt seen, node, start (0/1).
// Returns the ids assigned.
inline constexpr const char* kAssign = R"lua(
local now = now_ms()
local now_s = istr(now)
local lease = istr(now + tonumber(ARGV[1]))
local n = tonumber(ARGV[2])
local out = {}
for i = 1, n do
  local k = 2 + (i - 1) * 5
  local a = 2 + (i - 1) * 4
  local id, seen, node, start = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4])
  local f = redis.call('HMGET', KEYS[k + 1], 'state', 'att', 'pm')
  if f[1] == '0' and f[2] == seen then
    redis.call('ZREM', KEYS[k + 3], f[3])
    local to, att = 3, seen
    if start == 1 then to, att = 4, istr(tonumber(seen) + 1) end
    redis.call('HSET', KEYS[k + 1], 'state', SN[to], 'att', att, 'node', node, 'lease', lease,
      'upd', now_s)
    redis.call('ZADD', KEYS[2], lease, id)
    redis.call('SADD', KEYS[k + 4], id)
    if to == 3 then redis.call('SADD', KEYS[k + 5], id) end
    count(0, to)
    audit(KEYS[k + 2], 0, to, node, att, now_s, '')
    out[#out + 1] = id
  end
end
flush(KEYS[1])
return out
)lua";

// KEYS: counts, active, node set, leased(node), then per job: job, audit,
// pending(type), spec.
// ARGV: lease ms, node, n, then per job: id, expected state (0 pending, 3 leased).
// Returns the lease's end and the time, then per job taken: id, attempt, last error,
// created, ready, spec. (Not the whole hash: turning a hash into a Lua table and
// back costs more than every write of the claim.)
inline constexpr const char* kClaim = R"lua(
local now = now_ms()
local now_s = istr(now)
local lease = istr(now + tonumber(ARGV[1]))
local node = ARGV[2]
local n = tonumber(ARGV[3])
local out = {lease, now_s}
for i = 1, n do
  local k = 4 + (i - 1) * 4
  local a = 3 + (i - 1) * 2
  local id, expect = ARGV[a + 1], ARGV[a + 2]
  local f = redis.call('HMGET', KEYS[k + 1], 'state', 'att', 'node', 'pm', 'err', 'ready',
    'created')
  if f[1] == expect and (expect == '0' or f[3] == node) then
    local from = tonumber(expect)
    if from == 0 then redis.call('ZREM', KEYS[k + 3], f[4]) else redis.call('SREM', KEYS[4], id) end
    local att = istr(tonumber(f[2]) + 1)
    redis.call('HSET', KEYS[k + 1], 'state', '4', 'att', att, 'node', node, 'lease', lease,
      'upd', now_s)
    redis.call('ZADD', KEYS[2], lease, id)
    redis.call('SADD', KEYS[3], id)
    count(from, 4)
    audit(KEYS[k + 2], from, 4, node, att, now_s, '')
    out[#out + 1] = id
    out[#out + 1] = att
    out[#out + 1] = f[5]
    out[#out + 1] = f[7]
    out[#out + 1] = f[6]
    out[#out + 1] = redis.call('GET', KEYS[k + 4])
  end
end
flush(KEYS[1])
return out
)lua";

// KEYS: counts, active, finished, dead, unique, delayed, cancels, then per completion:
// job, audit, node set, pending(type or any, when not handed back).
// ARGV: n, then per completion: id, node, attempt, outcome (Outcome's number), error,
// retry delay ms. Returns per completion the state after, -1 not found, -3 lease lost.
inline constexpr const char* kComplete = R"lua(
local now = now_ms()
local now_s = istr(now)
local n = tonumber(ARGV[1])
local out = {}
local handed_back = false
for i = 1, n do
  local k = 7 + (i - 1) * 4
  local a = 1 + (i - 1) * 6
  local id, node, seen, outcome, err, delay = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3],
    tonumber(ARGV[a + 4]), ARGV[a + 5], tonumber(ARGV[a + 6])
  local jk, ak = KEYS[k + 1], KEYS[k + 2]
  local f = redis.call('HMGET', jk, 'state', 'att', 'node', 'cr', 'uk')
  if not f[1] then
    out[#out + 1] = -1
  elseif f[1] ~= '4' or f[3] ~= node or f[2] ~= seen then
    out[#out + 1] = -3
  else
    local att = seen
    local cancel = f[4] == '1'
    local to, out_node, ready = 5, node, nil
    if outcome ~= 0 then
      local more = redis.call('HMGET', jk, 'maxatt', 'dl', 'prio')
      f[6], f[7], f[8] = more[1], more[2], more[3]
    end
    if outcome == 1 then
      local retry_at = now + delay
      if cancel then to = 7
      elseif tonumber(att) >= tonumber(f[6]) or (f[7] ~= '' and retry_at >= tonumber(f[7])) then
        to = 8
      else to, out_node, ready = 2, '', istr(retry_at) end
    elseif outcome == 2 then
      if cancel then to = 7 else to = 6 end
    elseif outcome == 3 then to = 7
    elseif outcome == 4 then
      if cancel then to = 7
      else to, out_node, att, ready = 0, '', istr(math.max(0, tonumber(att) - 1)), now end
    end
    redis.call('ZREM', KEYS[2], id)
    redis.call('SREM', KEYS[k + 3], id)
    if cancel then redis.call('HDEL', KEYS[7], id) end
    if to >= 5 then
      finish(jk, id, to, now_s, err, KEYS[3], KEYS[4], KEYS[5], f[5])
    else
      -- An empty error keeps the job's last one.
      local e = {}
      if err ~= '' then e = {'err', err} end
      if to == 2 then
        redis.call('HSET', jk, 'state', '2', 'node', '', 'lease', '0', 'upd', now_s, 'ready', ready,
          unpack(e))
        redis.call('ZADD', KEYS[6], ready, id)
      else
        local pm = pmember(ready, id)
        redis.call('HSET', jk, 'state', '0', 'att', att, 'node', '', 'lease', '0', 'pm', pm,
          'upd', now_s, 'ready', now_s, unpack(e))
        redis.call('ZADD', KEYS[k + 4], neg(f[8]), pm)
        handed_back = true
      end
    end
    count(4, to)
    audit(ak, 4, to, out_node, att, now_s, err)
    out[#out + 1] = to
  end
end
flush(KEYS[1])
if handed_back then announce(KEYS[1]) end
return out
)lua";

// scheduled/retrying whose time has come -> pending.
// KEYS: counts, delayed, then per job: job, audit, pending(type). ARGV: n, ids...
// Returns how many moved.
inline constexpr const char* kPromote = R"lua(
local now = now_ms()
local now_s = istr(now)
local n = tonumber(ARGV[1])
local moved = 0
for i = 1, n do
  local k = 2 + (i - 1) * 3
  local id = ARGV[1 + i]
  local due = redis.call('ZSCORE', KEYS[2], id)
  if due and tonumber(due) <= now then
    local f = redis.call('HMGET', KEYS[k + 1], 'state', 'att', 'ready', 'prio')
    local state = tonumber(f[1])
    if state == 1 or state == 2 then
      local pm = pmember(tonumber(f[3]), id)
      redis.call('ZREM', KEYS[2], id)
      redis.call('HSET', KEYS[k + 1], 'state', '0', 'node', '', 'pm', pm, 'upd', now_s)
      redis.call('ZADD', KEYS[k + 3], neg(f[4]), pm)
      count(state, 0)
      audit(KEYS[k + 2], state, 0, '', f[2], now_s, '')
      moved = moved + 1
    end
  end
end
flush(KEYS[1])
if moved > 0 then announce(KEYS[1]) end
return moved
)lua";

// A leased or running job whose node is gone or whose lease expired (broker.hpp):
// leased -> pending; running -> cancelled (cancel requested), dead (attempts
// exhausted) or retrying after the delay given.
// KEYS: counts, active, delayed, finished, dead, unique, cancels, then per job: job,
// audit, pending(type), node set(node), leased(node). ARGV: n, then per job: id,
// node, only if expired (0/1), retry delay ms, reason. Returns how many moved.
inline constexpr const char* kReclaim = R"lua(
local now = now_ms()
local now_s = istr(now)
local n = tonumber(ARGV[1])
local moved = 0
local pending = false
for i = 1, n do
  local k = 7 + (i - 1) * 5
  local a = 1 + (i - 1) * 5
  local id, node, only_expired, delay, why = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3],
    tonumber(ARGV[a + 4]), ARGV[a + 5]
  local jk = KEYS[k + 1]
  local f = redis.call('HMGET', jk, 'state', 'att', 'node', 'cr', 'lease', 'uk', 'maxatt', 'prio')
  local state = tonumber(f[1])
  local expired = f[5] and tonumber(f[5]) < now
  if (state == 3 or state == 4) and f[3] == node and (only_expired == '0' or expired) then
    local att = f[2]
    redis.call('ZREM', KEYS[2], id)
    redis.call('SREM', KEYS[k + 4], id)
    redis.call('SREM', KEYS[k + 5], id)
    redis.call('HDEL', KEYS[7], id)
    local to, out_node = 0, ''
    if state == 3 then
      local pm = pmember(now, id)
      redis.call('HSET', jk, 'state', '0', 'node', '', 'lease', '0', 'pm', pm, 'err', why,
        'upd', now_s, 'ready', now_s)
      redis.call('ZADD', KEYS[k + 3], neg(f[8]), pm)
      pending = true
    elseif f[4] == '1' or tonumber(att) >= tonumber(f[7]) then
      to, out_node = 8, node
      if f[4] == '1' then to = 7 end
      finish(jk, id, to, now_s, why, KEYS[4], KEYS[5], KEYS[6], f[6])
    else
      to = 2
      local ready = istr(now + delay)
      redis.call('HSET', jk, 'state', '2', 'node', '', 'lease', '0', 'err', why, 'upd', now_s,
        'ready', ready)
      redis.call('ZADD', KEYS[3], ready, id)
    end
    count(state, to)
    audit(KEYS[k + 2], state, to, out_node, att, now_s, why)
    moved = moved + 1
  end
end
flush(KEYS[1])
if pending then announce(KEYS[1]) end
return moved
)lua";

// Extends the leases of the jobs leased to a node and of the running ones it holds
// (broker.hpp, heartbeat), and reports its cancel requests.
// KEYS: active, cancels, then per job: job. ARGV: node, lease ms, n, then per job: id,
// held (0/1). Returns the ids of its running jobs with a cancel requested.
inline constexpr const char* kExtend = R"lua(
local node = ARGV[1]
local lease = istr(now_ms() + tonumber(ARGV[2]))
local n = tonumber(ARGV[3])
local cancels = {}
for i = 1, n do
  local id, held = ARGV[2 + 2 * i], ARGV[3 + 2 * i]
  local f = redis.call('HMGET', KEYS[2 + i], 'state', 'node', 'cr')
  if (f[1] == '3' or (f[1] == '4' and held == '1')) and f[2] == node then
    redis.call('HSET', KEYS[2 + i], 'lease', lease)
    redis.call('ZADD', KEYS[1], lease, id)
    if f[1] == '4' and f[3] == '1' then cancels[#cancels + 1] = id end
  end
end
return cancels
)lua";

// Deletes finished jobs with their specs and trails.
// KEYS: counts, finished, dead, all, then per job: job, audit, spec. ARGV: n, ids...
// Returns {jobs deleted, audit rows deleted}.
inline constexpr const char* kTrim = R"lua(
local n = tonumber(ARGV[1])
local jobs, rows = 0, 0
for i = 1, n do
  local id = ARGV[1 + i]
  local jk, ak = KEYS[4 + (i - 1) * 3 + 1], KEYS[4 + (i - 1) * 3 + 2]
  local state = redis.call('HGET', jk, 'state')
  if state and tonumber(state) >= 5 then
    local n = lines(redis.call('GET', ak))
    redis.call('DEL', jk, ak, KEYS[4 + (i - 1) * 3 + 3])
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
    redis.call('HINCRBY', KEYS[1], state, '-1')
    redis.call('HINCRBY', KEYS[1], 'audit', istr(-n))
    jobs = jobs + 1
    rows = rows + n
  end
end
return {jobs, rows}
)lua";

// Drops up to ARGV[1] audit rows, the oldest first, from the trails of the jobs
// given (oldest jobs first). KEYS: counts, then per job: job, audit. ARGV: rows, ids...
// Returns the rows dropped.
inline constexpr const char* kTrimAudit = R"lua(
local want = tonumber(ARGV[1])
local dropped = 0
local i = 1
while dropped < want and KEYS[1 + (i - 1) * 2 + 1] do
  local jk, ak = KEYS[1 + (i - 1) * 2 + 1], KEYS[1 + (i - 1) * 2 + 2]
  local text = redis.call('GET', ak)
  local an = lines(text)
  if an > 0 then
    local take = math.min(an, want - dropped)
    if take == an then
      redis.call('DEL', ak)
    else
      local pos = 0
      for _ = 1, take do pos = string.find(text, '\n', pos + 1, true) end
      redis.call('SET', ak, string.sub(text, pos + 1))
    end
    redis.call('HINCRBY', KEYS[1], 'audit', istr(-take))
    dropped = dropped + take
  end
  i = i + 1
end
return dropped
)lua";

// The queue's number, given out on first use. KEYS: queues, queue names, sequence.
// ARGV: queue.
inline constexpr const char* kQueueNumber = R"lua(
local n = redis.call('HGET', KEYS[1], ARGV[1])
if n then return tonumber(n) end
n = redis.call('INCR', KEYS[3])
if n > 65535 then return redis.error_reply('ERR orca: more than 65535 queues') end
redis.call('HSET', KEYS[1], ARGV[1], n)
redis.call('HSET', KEYS[2], n, ARGV[1])
return n
)lua";

// Node registry: a node's record is JSON (id, types, tags, capacity, load, state,
// pid, started, heartbeat) under its id in the nodes hash.
// KEYS: nodes. ARGV: id, types JSON, tags JSON, capacity, pid.
inline constexpr const char* kRegister = R"lua(
local now = now_ms()
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({id = ARGV[1], types = cjson.decode(ARGV[2]),
  tags = cjson.decode(ARGV[3]), capacity = tonumber(ARGV[4]), load = 0, state = 0,
  pid = tonumber(ARGV[5]), started = now, heartbeat = now}))
return now
)lua";

// KEYS: nodes. ARGV: id, load. Returns 1, or 0 if the node is not alive in the registry.
inline constexpr const char* kBeat = R"lua(
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local n = cjson.decode(raw)
if n.state ~= 0 then return 0 end
n.load = tonumber(ARGV[2])
n.heartbeat = now_ms()
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(n))
return 1
)lua";

// KEYS: nodes. ARGV: id, new state (1 left, 2 dead).
inline constexpr const char* kNodeState = R"lua(
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local n = cjson.decode(raw)
n.state = tonumber(ARGV[2])
n.load = 0
n.heartbeat = now_ms()
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(n))
return 1
)lua";

// Live nodes without a heartbeat for ARGV[1] ms -> dead; nodes gone for longer than
// ARGV[2] ms (retention) are deleted. KEYS: nodes. Returns {dead ids..., '', deleted}.
inline constexpr const char* kReapNodes = R"lua(
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
)lua";

// Periodic entries: JSON {schedule, spec, next} under their name.
// KEYS: periodic. ARGV: name, expected next ms, new next ms. Returns 1 if fired here.
inline constexpr const char* kFirePeriodic = R"lua(
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local e = cjson.decode(raw)
if e.next ~= tonumber(ARGV[2]) then return 0 end
e.next = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(e))
return 1
)lua";

}  // namespace orca::jobs::detail
