// FleetRateLimiter: GCRA in one Lua script on one key (rate_limiter.hpp).
#include "orca/redis/rate_limiter.hpp"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "orca/redis/error.hpp"
#include "orca/redis/script.hpp"

namespace orca::redis {

namespace {

// KEYS[1]: the limit's TAT (microseconds of the server's clock). ARGV: T, burst * T
// (microseconds), n. Returns {allowed, retry_after_us, remaining}. A refusal writes
// nothing. TIME before a write is allowed: scripts replicate their effects (Redis 5+).
const Script kDecide(R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new = tat + n * interval
local wait = new - tolerance - now
if wait > 0 then return {0, wait, 0} end
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1)
return {1, 0, math.floor((tolerance - (new - now)) / interval)}
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

}  // namespace

FleetRateLimiter::FleetRateLimiter(Client& client, std::string prefix,
                                   resilience::RateLimiterOptions options)
    : FleetRateLimiter(&client, nullptr, std::move(prefix), options) {}

FleetRateLimiter::FleetRateLimiter(ClusterClient& cluster, std::string prefix,
                                   resilience::RateLimiterOptions options)
    : FleetRateLimiter(nullptr, &cluster, std::move(prefix), options) {}

FleetRateLimiter::FleetRateLimiter(Client* client, ClusterClient* cluster, std::string prefix,
                                   resilience::RateLimiterOptions options)
    : client_(client), cluster_(cluster), prefix_(std::move(prefix)), options_(options) {
  const std::string why = resilience::validate(options_);
  if (!why.empty()) throw std::invalid_argument(why);
  const double interval =
      std::chrono::duration<double, std::micro>(options_.per).count() / options_.events;
  if (interval < 1)
    throw std::invalid_argument("fleet rate limiter: " + std::to_string(options_.events) +
                                " events per " + std::to_string(options_.per.count()) +
                                " ns is more than one per microsecond, its resolution");
  interval_us_ = static_cast<std::int64_t>(std::llround(interval));
  tolerance_us_ = interval_us_ * options_.burst;
}

// (No ?: with a co_await in each arm: GCC 12 destroys both arms' temporaries.)
Task<Result<Reply>> FleetRateLimiter::eval(const Context& ctx, const Script& script,
                                           std::string_view key, std::vector<std::string> args) {
  std::string k = prefix_;
  k.append("{").append(key).append("}");
  std::vector<std::string> keys{std::move(k)};
  if (cluster_ != nullptr) {
    auto r = co_await script.eval(ctx, *cluster_, std::move(keys), std::move(args));
    co_return r;
  }
  auto r = co_await script.eval(ctx, *client_, std::move(keys), std::move(args));
  co_return r;
}

Task<Result<resilience::Decision>> FleetRateLimiter::decide(const Context& ctx,
                                                            std::string_view key, std::int64_t n) {
  if (n < 0 || n > options_.burst)
    co_return resilience::make_error_code(resilience::errc::too_large);
  std::vector<std::string> args{std::to_string(interval_us_), std::to_string(tolerance_us_),
                                std::to_string(n)};
  auto reply = co_await eval(ctx, kDecide, key, std::move(args));
  if (!reply) co_return reply.error();
  if (reply->is_error() || reply->elements().size() != 3)
    co_return make_error_code(errc::server_error);
  const auto& e = reply->elements();
  resilience::Decision d;
  d.allowed = e[0].integer() == 1;
  d.retry_after = std::chrono::microseconds(e[1].integer());
  d.remaining = e[2].integer();
  co_return d;
}

Task<Result<resilience::Grant>> FleetRateLimiter::take_up_to(const Context& ctx,
                                                             std::string_view key,
                                                             std::int64_t max) {
  if (max <= 0) co_return resilience::Grant{};
  if (auto err = ctx.err()) co_return err;
  std::vector<std::string> args{std::to_string(interval_us_), std::to_string(tolerance_us_),
                                std::to_string(max)};
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
  std::vector<std::string> args{std::to_string(interval_us_), std::to_string(n)};
  auto reply = co_await eval(ctx, kGiveBack, key, std::move(args));
  if (!reply) co_return reply.error();
  if (reply->is_error()) co_return make_error_code(errc::server_error);
  co_return Result<void>{};
}

}  // namespace orca::redis
