// shed_load() (load_shedding.hpp): an outer router whose catch-all routes take a
// permit of the adaptive limiter, run the inner router under it, and report the
// response's latency (or a drop) when it returns.
#include "orca/net/http/load_shedding.hpp"

#include <cmath>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "catch_all.hpp"
#include "orca/runtime/clock.hpp"

namespace orca::http {

namespace {

struct Shedder {
  explicit Shedder(LoadSheddingOptions o) : options(std::move(o)) {
    if (!options.counters) options.counters = std::make_shared<LoadSheddingCounters>();
  }
  LoadSheddingOptions options;
  Router routes;

  Clock::time_point now() const {
    const resilience::TimeSource* clock = options.limiter->options().clock;
    return clock == nullptr ? Clock::now() : clock->now();
  }
};

Response shed(const Shedder& s, std::string_view message) {
  Response r = Response::error(503, message);
  r.headers.set("Retry-After", std::to_string(s.options.retry_after.count()));
  r.headers.set("Cache-Control", "no-store");
  return r;
}

Task<Response> admit(std::shared_ptr<Shedder> s, Context ctx, Request req) {
  resilience::AdaptiveLimiter& limiter = *s->options.limiter;
  LoadSheddingCounters& counters = *s->options.counters;
  resilience::AdaptiveLimiter::Permit permit = limiter.try_acquire();
  if (!permit) {
    counters.shed.fetch_add(1, std::memory_order_relaxed);
    co_return shed(*s, "the server is overloaded: request shed");
  }
  const std::optional<std::string_view> priority = req.headers.get(s->options.priority_header);
  if (priority && iequals(*priority, s->options.low_priority_value)) {
    // Counted after taking the permit, so that it includes this request: two low
    // ones racing at the edge are both shed rather than both admitted over the share.
    const auto share = static_cast<int>(
        std::floor(s->options.low_priority_share * static_cast<double>(limiter.limit())));
    if (limiter.inflight() > share) {
      permit.release();
      counters.shed_low_priority.fetch_add(1, std::memory_order_relaxed);
      co_return shed(*s, "the server is busy: low-priority request shed");
    }
  }
  const Clock::time_point start = s->now();
  Task<Response> handled = s->routes.dispatch(std::move(ctx), std::move(req));  // GCC PR 101367
  Response r = co_await std::move(handled);  // an exception: the permit's destructor releases
  if (r.status < 400) {
    permit.record(s->now() - start);
  } else if (r.status == 503 || r.status == 504) {
    permit.record_dropped();
  } else {
    permit.release();
  }
  co_return r;
}

}  // namespace

std::string validate(const LoadSheddingOptions& o) {
  // Appended, not "lit" + std::string: that trips GCC's -Wrestrict at -O3.
  std::string why = "load shedding: ";
  if (o.limiter == nullptr) return why.append("no limiter given");
  if (!(o.low_priority_share >= 0 && o.low_priority_share <= 1))
    return why.append("low_priority_share is ")
        .append(std::to_string(o.low_priority_share))
        .append("; it must be within 0..1");
  if (o.retry_after.count() < 1)
    return why.append("retry_after is ")
        .append(std::to_string(o.retry_after.count()))
        .append(" s; it must be at least 1 s");
  if (o.priority_header.empty()) return why.append("priority_header is empty");
  return {};
}

Router shed_load(Router routes, LoadSheddingOptions options) {
  if (std::string why = validate(options); !why.empty()) throw std::invalid_argument(why);
  auto s = std::make_shared<Shedder>(std::move(options));
  s->routes = std::move(routes);
  return detail::catch_all(
      [s](Context ctx, Request req) { return admit(s, std::move(ctx), std::move(req)); });
}

}  // namespace orca::http
