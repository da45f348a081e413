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

}  // namespace

FleetRateLimiter::FleetRateLimiter(Client& client, std::string prefix,
                                   resilience::RateLimiterOptions options)
    : client_(client), prefix_(std::move(prefix)), options_(options) {
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

Task<Result<resilience::Decision>> FleetRateLimiter::decide(const Context& ctx,
                                                            std::string_view key, std::int64_t n) {
  if (n < 0 || n > options_.burst)
    co_return resilience::make_error_code(resilience::errc::too_large);
  std::string k = prefix_;
  k.append("{").append(key).append("}");
  std::vector<std::string> keys{std::move(k)};
  std::vector<std::string> args{std::to_string(interval_us_), std::to_string(tolerance_us_),
                                std::to_string(n)};
  auto reply = co_await kDecide.eval(ctx, client_, std::move(keys), std::move(args));
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

}  // namespace orca::redis
