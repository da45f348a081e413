// shed_load(): wraps a Router so that requests beyond the concurrency the handlers can
// serve are refused at once instead of queueing: an AdaptiveLimiter
// (orca/resilience/adaptive_limiter.hpp) finds that concurrency from the latency it
// observes. Invariant: no route of the inner router runs for a shed request, and a
// shed request is a 503 with Retry-After and a JSON body {"error": "..."}; at most
// limit() requests run at once, of which low-priority ones at most
// floor(low_priority_share * limit()).
//
//   LoadSheddingOptions shedding;
//   shedding.limiter = std::make_shared<resilience::AdaptiveLimiter>(
//       resilience::AdaptiveLimiterOptions{.min_limit = 8});
//   Server server(protect(shed_load(std::move(routes), shedding), access));
//
// Priority: a request whose priority_header equals low_priority_value (compared
// without case; default "X-Priority: low": batch jobs, dashboards' refreshes) is
// shed first: it is admitted only while the requests in flight, itself included, are
// at most low_priority_share of the limit; the others may use all of it. So under
// load low-priority traffic goes first and the rest keeps the capacity.
//
// What the limiter learns from a response (its latency is measured from admission):
//  - below 400: a sample of the handler's latency;
//  - 503 or 504 (the handler's own dependency is overloaded or timed out): a drop,
//    which lowers the limit;
//  - any other 4xx or 5xx, or an exception: no sample (a bad request or a bug says
//    nothing about capacity), the permit is given back.
// Put it innermost, around the routes and inside protect() and rate_limit(): requests
// those refuse cost microseconds and would teach the limiter a latency the handlers
// never have.
//
// Thread safety: the returned Router is as any Router; the limiter is shared by
// every request (its own thread safety); the counters are relaxed atomics.
// Cancel safety: a request cancelled in its handler gives its permit back when the
// handler returns (as the response it returns says, by the rules above).
// Errors: shed_load throws std::invalid_argument for bad options (validate()).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "orca/net/http/router.hpp"
#include "orca/resilience/adaptive_limiter.hpp"

namespace orca::http {

// Refusals since the router was built, for metrics (the limiter's own metrics() has
// its limit and in-flight count). relaxed: counts, read alone.
struct LoadSheddingCounters {
  std::atomic<std::uint64_t> shed{0};               // 503: the limit was reached
  std::atomic<std::uint64_t> shed_low_priority{0};  // 503: low priority over its share
};

struct LoadSheddingOptions {
  std::shared_ptr<resilience::AdaptiveLimiter> limiter;  // required
  std::string priority_header = "X-Priority";
  std::string low_priority_value = "low";
  double low_priority_share = 0.5;                 // 0..1 of the limit
  std::chrono::seconds retry_after{1};             // the 503's Retry-After; >= 1 s
  std::shared_ptr<LoadSheddingCounters> counters;  // null: a private set
};

// Empty if usable, else one line naming the value and the rule.
std::string validate(const LoadSheddingOptions& options);

// `routes` behind the limiter (see above).
Router shed_load(Router routes, LoadSheddingOptions options);

}  // namespace orca::http
