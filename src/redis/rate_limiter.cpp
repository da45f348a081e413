// FleetRateLimiter: GCRA in one Lua script on one key (rate_limiter.hpp), with
// concurrent decisions on one key coalesced into one script call.
//
// Protocol (Shared::mu guards every lane; a lane exists while a call for its key is
// in flight). Invariant: a lane's queue is non-empty only while its in_flight is
// kMaxInFlight, so nobody waits while the key has a free slot.
//   1. decide(): under mu, if the key's lane has fewer than kMaxInFlight calls in
//      flight (or no lane: make one), take a slot and send this decision alone, in
//      the caller's task, under its context. Else, if fewer than kMaxQueued wait,
//      queue a Pending and wait on its channel under the caller's context. Else send
//      alone without a slot (the queue stays bounded; the lane is left alone).
//   2. When a call holding a slot ends (the lone caller's, whatever its outcome, or
//      a batch's), under mu: if the queue is empty, give the slot back (the last
//      one out erases the lane); else take up to kMaxBatch from its front, mark
//      them sent, and keep the slot for them. A lone caller hands such a batch to a
//      new task (run_batches) and returns; a batch task sends it itself.
//   3. run_batches sends each batch without cancellation (its callers may leave,
//      the others still want the answer), delivers one Result to each Pending's
//      one-slot channel (try_send: it never waits; a Pending whose caller left
//      drops it), and goes back to 2.
//   4. A queued caller whose context ends takes mu: if its Pending was not sent, it
//      leaves the queue (nothing taken); if it was, it leaves with its context's
//      error and the batch decides for it anyway.
#include "orca/redis/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core_send.hpp"
#include "orca/redis/error.hpp"
#include "orca/redis/script.hpp"
#include "orca/runtime/spawn.hpp"
#include "orca/sync/channel.hpp"

namespace orca::redis {

namespace {

// KEYS[1]: the limit's TAT (microseconds of the server's clock). ARGV: T, burst * T
// (microseconds), then n of each request, in order. Each request is decided as its
// own call would be at this instant, on the TAT the ones before it left. Returns
// one integer per request: the units still free after it (>= 0) if admitted, or
// minus the microseconds to wait (< 0) if refused. A refusal writes nothing; the TAT
// is written once, after the last request. TIME before a write is allowed: scripts
// replicate their effects (Redis 5+).
const Script kDecide(R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local out = {}
local wrote = false
for i = 3, #ARGV do
  local new = tat + tonumber(ARGV[i]) * interval
  local wait = new - tolerance - now
  if wait > 0 then
    out[i - 2] = -wait
  else
    tat = new
    wrote = true
    out[i - 2] = math.floor((tolerance - (new - now)) / interval)
  end
end
if wrote then
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
end
return out
)lua");

// KEYS[1]: the limit's TAT. ARGV: T, burst * T (microseconds), max. Takes
// k = min(max, the units that fit under the tolerance now) in one step. Returns
// {k, retry_after_us}: retry_after_us > 0 only when k is 0. Granting nothing writes
// nothing.
const Script kTakeUpTo(R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local k = math.floor((tolerance - (tat - now)) / interval)
if k > max then k = max end
if k <= 0 then return {0, tat + interval - tolerance - now} end
local new = tat + k * interval
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1)
return {k, 0}
)lua");

// KEYS[1]: the limit's TAT. ARGV: T, n. Moves the TAT back by n intervals; a TAT
// that falls to now or before means "idle": the key goes.
const Script kGiveBack(R"lua(
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local new = tat - tonumber(ARGV[2]) * tonumber(ARGV[1])
if new <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1)
end
return 1
)lua");

// One request's decision from the script's integer (see kDecide).
resilience::Decision decision_of(std::int64_t v) {
  resilience::Decision d;
  d.allowed = v >= 0;
  d.retry_after = std::chrono::microseconds(v < 0 ? -v : 0);
  d.remaining = v >= 0 ? v : 0;
  return d;
}

}  // namespace

// A queued decide(): what it asks and where its decision goes.
struct FleetRateLimiter::Pending {
  std::int64_t n = 1;
  Channel<Result<resilience::Decision>> reply{1};  // one slot: delivery never waits
  bool sent = false;                               // guarded by Shared::mu
};

struct FleetRateLimiter::Shared {
  struct Lane {
    int in_flight = 0;
    std::deque<std::shared_ptr<Pending>> queue;
  };
  detail::CoreSend send;
  std::string interval;   // T, microseconds, as the script's argument
  std::string tolerance;  // burst * T
  std::chrono::milliseconds batch_timeout{kBatchTimeout};
  std::mutex mu;
  std::unordered_map<std::string, Lane> lanes;  // by full key; guarded by mu

  // Step 2 for `key`: the next batch for the slot just freed, or none (the slot
  // given back).
  std::vector<std::shared_ptr<Pending>> next_batch(const std::string& key) {
    std::vector<std::shared_ptr<Pending>> batch;
    std::lock_guard lock(mu);
    auto it = lanes.find(key);
    if (it == lanes.end()) return batch;
    Lane& lane = it->second;
    if (lane.queue.empty()) {
      if (--lane.in_flight == 0) lanes.erase(it);
      return batch;
    }
    const std::size_t k = std::min(lane.queue.size(), kMaxBatch);
    batch.reserve(k);
    for (std::size_t i = 0; i < k; ++i) {
      lane.queue.front()->sent = true;
      batch.push_back(std::move(lane.queue.front()));
      lane.queue.pop_front();
    }
    return batch;
  }

  // One script call deciding `ns` in order on `key`.
  Task<Result<std::vector<resilience::Decision>>> decide(Context ctx, std::string key,
                                                         std::vector<std::int64_t> ns) {
    std::vector<std::string> args;
    args.reserve(2 + ns.size());
    args.push_back(interval);
    args.push_back(tolerance);
    for (std::int64_t n : ns)
      args.push_back(std::to_string(n));
    Script::Send via = [this, key](Context c, std::vector<std::string> a) {
      return send(std::move(c), key, std::move(a));
    };
    std::vector<std::string> keys{std::move(key)};
    auto reply =
        co_await kDecide.eval(std::move(ctx), std::move(via), std::move(keys), std::move(args));
    if (!reply) co_return reply.error();
    if (reply->is_error() || reply->elements().size() != ns.size())
      co_return make_error_code(errc::server_error);
    std::vector<resilience::Decision> out;
    out.reserve(ns.size());
    for (const Reply& e : reply->elements())
      out.push_back(decision_of(e.integer()));
    co_return out;
  }
};

FleetRateLimiter::FleetRateLimiter(Client& client, std::string prefix,
                                   resilience::RateLimiterOptions options,
                                   std::chrono::milliseconds batch_timeout)
    : FleetRateLimiter(std::make_shared<Shared>(), std::move(prefix), options, batch_timeout) {
  shared_->send = detail::core_send(client.core_);
}

FleetRateLimiter::FleetRateLimiter(ClusterClient& cluster, std::string prefix,
                                   resilience::RateLimiterOptions options,
                                   std::chrono::milliseconds batch_timeout)
    : FleetRateLimiter(std::make_shared<Shared>(), std::move(prefix), options, batch_timeout) {
  shared_->send = detail::core_send(cluster.core_);
}

FleetRateLimiter::FleetRateLimiter(std::shared_ptr<Shared> shared, std::string prefix,
                                   resilience::RateLimiterOptions options,
                                   std::chrono::milliseconds batch_timeout)
    : shared_(std::move(shared)), prefix_(std::move(prefix)), options_(options) {
  const std::string why = resilience::validate(options_);
  if (!why.empty()) throw std::invalid_argument(why);
  if (batch_timeout <= std::chrono::milliseconds::zero())
    throw std::invalid_argument("fleet rate limiter: batch timeout must be positive");
  shared_->batch_timeout = batch_timeout;
  const double interval =
      std::chrono::duration<double, std::micro>(options_.per).count() / options_.events;
  if (interval < 1)
    throw std::invalid_argument("fleet rate limiter: " + std::to_string(options_.events) +
                                " events per " + std::to_string(options_.per.count()) +
                                " ns is more than one per microsecond, its resolution");
  const auto interval_us = static_cast<std::int64_t>(std::llround(interval));
  shared_->interval = std::to_string(interval_us);
  shared_->tolerance = std::to_string(interval_us * options_.burst);
}

FleetRateLimiter::~FleetRateLimiter() = default;

Task<Result<Reply>> FleetRateLimiter::eval(const Context& ctx, const Script& script,
                                           std::string_view key, std::vector<std::string> args) {
  std::string k = prefix_;
  k.append("{").append(key).append("}");
  std::shared_ptr<Shared> shared = shared_;
  Script::Send via = [shared, k](Context c, std::vector<std::string> a) {
    return shared->send(std::move(c), k, std::move(a));
  };
  std::vector<std::string> keys{std::move(k)};
  auto r = co_await script.eval(ctx, std::move(via), std::move(keys), std::move(args));
  co_return r;
}

Task<Result<resilience::Decision>> FleetRateLimiter::decide(const Context& ctx,
                                                            std::string_view key, std::int64_t n) {
  if (n < 0 || n > options_.burst)
    co_return resilience::make_error_code(resilience::errc::too_large);
  if (auto err = ctx.err()) co_return err;
  std::string k = prefix_;
  k.append("{").append(key).append("}");
  std::shared_ptr<Shared> shared = shared_;
  std::shared_ptr<Pending> pending;
  bool slot = false;  // step 1: a slot of the lane (else: queued, or alone past the cap)
  {
    std::lock_guard lock(shared->mu);
    Shared::Lane& lane = shared->lanes[k];
    if (lane.in_flight < kMaxInFlight) {
      ++lane.in_flight;
      slot = true;
    } else if (lane.queue.size() < kMaxQueued) {
      pending = std::make_shared<Pending>();
      pending->n = n;
      lane.queue.push_back(pending);
    }
  }
  if (pending) {
    // Step 4: wait for the batch that carries it, or leave.
    auto got = co_await pending->reply.recv(ctx);
    if (got) co_return std::move(*got);
    {
      std::lock_guard lock(shared->mu);
      if (!pending->sent) {
        auto it = shared->lanes.find(k);
        if (it != shared->lanes.end()) {
          auto& q = it->second.queue;
          q.erase(std::find(q.begin(), q.end(), pending));
        }
      }
    }
    // The batch may have delivered between the wake-up and the lock: keep its answer.
    auto late = pending->reply.try_recv();
    if (late) co_return std::move(*late);
    co_return got.error();
  }
  std::vector<std::int64_t> ns(1, n);
  auto decided = co_await shared->decide(ctx, k, std::move(ns));
  if (slot) {
    // Step 2: hand the slot on to the callers that queued meanwhile.
    std::vector<std::shared_ptr<Pending>> next = shared->next_batch(k);
    if (!next.empty())
      go([shared, k, next = std::move(next)]() mutable {
        return run_batches(std::move(shared), std::move(k), std::move(next));
      });
  }
  if (!decided) co_return decided.error();
  co_return decided->front();
}

std::size_t FleetRateLimiter::queued(std::string_view key) const {
  std::string k = prefix_;
  k.append("{").append(key).append("}");
  std::lock_guard lock(shared_->mu);
  auto it = shared_->lanes.find(k);
  return it == shared_->lanes.end() ? 0 : it->second.queue.size();
}

int FleetRateLimiter::in_flight(std::string_view key) const {
  std::string k = prefix_;
  k.append("{").append(key).append("}");
  std::lock_guard lock(shared_->mu);
  auto it = shared_->lanes.find(k);
  return it == shared_->lanes.end() ? 0 : it->second.in_flight;
}

Task<void> FleetRateLimiter::run_batches(std::shared_ptr<Shared> shared, std::string key,
                                         std::vector<std::shared_ptr<Pending>> batch) {
  while (!batch.empty()) {
    std::vector<std::int64_t> ns;
    ns.reserve(batch.size());
    for (const auto& p : batch)
      ns.push_back(p->n);
    // Step 3: not under any caller's context (a caller who leaves does not end it),
    // but bounded: a stalled server or a half-open connection must not hold the
    // key's slot, and every caller queued behind it, for good.
    auto [batch_ctx, stop] = with_timeout(background(), shared->batch_timeout);
    auto decided = co_await shared->decide(batch_ctx, key, std::move(ns));
    stop();
    std::vector<std::shared_ptr<Pending>> next = shared->next_batch(key);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      Result<resilience::Decision> r = decided ? Result<resilience::Decision>((*decided)[i])
                                               : Result<resilience::Decision>(decided.error());
      (void)batch[i]->reply.try_send(std::move(r));
    }
    batch = std::move(next);
  }
}

Task<Result<resilience::Grant>> FleetRateLimiter::take_up_to(const Context& ctx,
                                                             std::string_view key,
                                                             std::int64_t max) {
  if (max <= 0) co_return resilience::Grant{};
  if (auto err = ctx.err()) co_return err;
  std::vector<std::string> args{shared_->interval, shared_->tolerance, std::to_string(max)};
  auto reply = co_await eval(ctx, kTakeUpTo, key, std::move(args));
  if (!reply) co_return reply.error();
  if (reply->is_error() || reply->elements().size() != 2)
    co_return make_error_code(errc::server_error);
  const auto& e = reply->elements();
  resilience::Grant g;
  g.granted = e[0].integer();
  g.retry_after = std::chrono::microseconds(e[1].integer());
  co_return g;
}

Task<Result<void>> FleetRateLimiter::give_back(const Context& ctx, std::string_view key,
                                               std::int64_t n) {
  if (n <= 0) co_return Result<void>{};
  std::vector<std::string> args{shared_->interval, std::to_string(n)};
  auto reply = co_await eval(ctx, kGiveBack, key, std::move(args));
  if (!reply) co_return reply.error();
  if (reply->is_error()) co_return make_error_code(errc::server_error);
  co_return Result<void>{};
}

}  // namespace orca::redis
