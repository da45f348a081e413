// KeyedRateLimiter (include/orca/resilience/keyed_rate_limiter.hpp).
#include "orca/resilience/keyed_rate_limiter.hpp"

#include <stdexcept>

namespace orca::resilience {

std::string validate(const KeyedRateLimiterOptions& options) {
  if (options.max_keys < 1) return "keyed rate limiter: max_keys is 0; it must be at least 1";
  return validate(options.limit);
}

namespace {
const KeyedRateLimiterOptions& checked(const KeyedRateLimiterOptions& options) {
  if (std::string why = validate(options); !why.empty()) throw std::invalid_argument(why);
  return options;
}
}  // namespace

KeyedRateLimiter::KeyedRateLimiter(KeyedRateLimiterOptions options)
    : options_(checked(options)), map_(options_.max_keys, [this](std::string_view) {
        return std::make_shared<RateLimiter>(options_.limit);
      }) {}

Task<Result<Decision>> KeyedRateLimiter::decide(const Context& ctx, std::string_view key,
                                                std::int64_t n) {
  if (n > options_.limit.burst || n < 0) co_return make_error_code(errc::too_large);
  if (auto err = ctx.err()) co_return err;
  Decision d = map_.get(key)->decide_now(n);
  if (!d.allowed) rejected_.fetch_add(1, std::memory_order_relaxed);
  co_return d;
}

Task<Result<Grant>> KeyedRateLimiter::take_up_to(const Context& ctx, std::string_view key,
                                                 std::int64_t max) {
  if (auto err = ctx.err()) co_return err;
  Grant g = map_.get(key)->take_up_to_now(max);
  if (g.granted == 0 && max > 0) rejected_.fetch_add(1, std::memory_order_relaxed);
  co_return g;
}

Task<Result<void>> KeyedRateLimiter::give_back(const Context&, std::string_view key,
                                               std::int64_t n) {
  map_.get(key)->give_back_now(n);
  co_return Result<void>{};
}

}  // namespace orca::resilience
