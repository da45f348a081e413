// rate_limit() (rate_limit.hpp): an outer router whose catch-all routes ask the
// client's limiter, then the global one, and dispatch to the inner router only when
// both admit.
#include "orca/net/http/rate_limit.hpp"

#include <chrono>
#include <optional>
#include <string_view>
#include <utility>

#include "catch_all.hpp"
#include "orca/net/http/access_policy.hpp"
#include "orca/net/http/failure_limiter.hpp"
#include "orca/net/http/retry_after.hpp"

namespace orca::http {

namespace {

// A header value longer than this keys by its first bytes: real API keys are far
// shorter, and it bounds a key's memory (max_keys of them are kept).
constexpr std::size_t kMaxHeaderKey = 256;

struct RouteLimits {
  explicit RouteLimits(RateLimitOptions o) : options(std::move(o)) {
    if (!options.counters) options.counters = std::make_shared<RateLimitCounters>();
  }
  RateLimitOptions options;
  Router routes;
};

Response too_many(std::string_view message, std::chrono::nanoseconds wait) {
  const std::string seconds = retry_after_seconds(wait);
  std::string m(message);
  m.append(": retry after ").append(seconds).append(" s");
  Response r = Response::error(429, m);
  r.headers.set("Retry-After", seconds);
  r.headers.set("Cache-Control", "no-store");
  return r;
}

// The limiter's verdict on `key`: nothing if admitted (or the limiter failed: counted,
// admitted), else how long to wait.
Task<std::optional<std::chrono::nanoseconds>> refused(resilience::Limiter& limiter,
                                                      const Context& ctx, std::string key,
                                                      RateLimitCounters& counters) {
  Task<Result<resilience::Decision>> deciding = limiter.decide(ctx, key);  // GCC PR 101367
  Result<resilience::Decision> d = co_await std::move(deciding);
  if (!d) {
    counters.limiter_errors.fetch_add(1, std::memory_order_relaxed);
    co_return std::nullopt;
  }
  if (d->allowed) co_return std::nullopt;
  co_return d->retry_after;
}

Task<Response> admit(std::shared_ptr<RouteLimits> l, Context ctx, Request req) {
  RateLimitCounters& counters = *l->options.counters;
  if (l->options.per_client) {
    std::string key = rate_limit_key(ctx, req, l->options);
    Task<std::optional<std::chrono::nanoseconds>> asked =
        refused(*l->options.per_client, ctx, std::move(key), counters);
    const std::optional<std::chrono::nanoseconds> wait = co_await std::move(asked);
    if (wait) {
      counters.rejected_per_client.fetch_add(1, std::memory_order_relaxed);
      co_return too_many("too many requests from this client", *wait);
    }
  }
  if (l->options.global) {
    Task<std::optional<std::chrono::nanoseconds>> asked =
        refused(*l->options.global, ctx, std::string(), counters);
    const std::optional<std::chrono::nanoseconds> wait = co_await std::move(asked);
    if (wait) {
      counters.rejected_global.fetch_add(1, std::memory_order_relaxed);
      co_return too_many("the server's request rate limit is reached", *wait);
    }
  }
  Task<Response> handled = l->routes.dispatch(std::move(ctx), std::move(req));  // GCC PR 101367
  co_return co_await std::move(handled);
}

}  // namespace

std::string rate_limit_key(const Context& ctx, const Request& req, const RateLimitOptions& o) {
  std::string key;
  if (o.key == RateLimitKey::kHeader && !o.key_header.empty()) {
    const std::optional<std::string_view> value = req.headers.get(o.key_header);
    if (value && !value->empty()) {
      key = "h:";
      key.append(value->substr(0, kMaxHeaderKey));
      return key;
    }
  } else if (o.key == RateLimitKey::kPrincipal) {
    if (const Principal* who = principal_of(ctx); who != nullptr) {
      key = "t:";
      key.append(who->name);
      return key;
    }
  }
  key = "a:";
  key.append(FailureLimiter::client_of(req.remote_address));
  return key;
}

Router rate_limit(Router routes, RateLimitOptions options) {
  if (options.empty()) return routes;
  auto l = std::make_shared<RouteLimits>(std::move(options));
  l->routes = std::move(routes);
  return detail::catch_all(
      [l](Context ctx, Request req) { return admit(l, std::move(ctx), std::move(req)); });
}

}  // namespace orca::http
