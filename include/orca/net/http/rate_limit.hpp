// rate_limit(): wraps a Router so that every request first passes request-rate limits
// (orca/resilience limiters): one per client, and one for the whole server. Invariant:
// no route of the inner router runs for a request a limit refused, and a refusal is a
// 429 with Retry-After (whole seconds, rounded up, at least 1) and a JSON body
// {"error": "..."}.
//
//   RateLimitOptions limits;
//   limits.per_client = std::make_shared<resilience::KeyedRateLimiter>(
//       resilience::KeyedRateLimiterOptions{.limit = {.events = 50, .burst = 50}});
//   limits.global = std::make_shared<resilience::RateLimiter>(
//       resilience::RateLimiterOptions{.events = 1000, .burst = 1000});
//   Server server(rate_limit(protect(std::move(routes), access), limits));
//
// The checks, in order:
//  1. The client's limit (per_client, keyed by RateLimitOptions::key, below): past it,
//     429 "too many requests from this client". Checked first so that a greedy
//     client's refused requests take nothing from the global limit: one client cannot
//     spend everyone's budget, only its own.
//  2. The global limit: past it, 429 "the server's request rate limit is reached".
//     A request refused here has spent its unit of its client's limit (it was sent).
// Any limiter that implements resilience::Limiter works, a fleet-wide one on Redis
// included. A limiter that fails (its store is down) admits the request and counts
// the error: the limit is a protection, and must not take the API down with its store.
//
// Keys (RateLimitKey):
//  - kClientAddress: Request::remote_address without the port; an IPv6 client by its
//    /64, as the failure limiter does (one host usually owns a whole /64).
//  - kHeader: the value of key_header (e.g. X-Api-Key), at most its first 256 bytes; a
//    request without it is keyed by its address. A header is as trustworthy as whoever
//    sets it: key by one only behind a proxy that sets or checks it, since a client
//    that may choose it gets a fresh budget with every new value.
//  - kPrincipal: the name of the API token (principal_of(ctx)): wrap the routes inside
//    protect() for it; a request without a principal is keyed by its address.
// Keys of different kinds never meet: "a:"/"h:"/"t:" prefixes keep a header value
// "10.0.0.1" from spending the budget of the address 10.0.0.1.
//
// Where to put it relative to protect() (access_policy.hpp): outside it, a limit
// counts every request, refused ones and token guesses included, before any work is
// done for it; inside it, only authenticated requests, by token name. `orca serve`
// puts the global limit outside, and the per-client limit outside by address when it
// has no tokens, inside by token name when it has (docs/JOBS.md). Refusals made
// outside protect() do not carry its browser headers (their body is fixed text) but
// nosniff (Response::error's) and Cache-Control: no-store, so that no cache keeps a
// momentary refusal.
//
// Thread safety: the returned Router is as any Router (read-only once serving); the
// limiters are shared by every request (their own thread safety, resilience/*.hpp);
// the counters are relaxed atomics, readable from any thread.
// Cancel safety: a request whose context ends while a store's limiter decides gets
// the context's error from that limiter, which admits it (see above); local limiters
// never wait.
// Errors: none at wrap time; a limiter's configuration errors are its constructor's.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "orca/context/context.hpp"
#include "orca/net/http/request.hpp"
#include "orca/net/http/router.hpp"
#include "orca/resilience/limiter.hpp"

namespace orca::http {

enum class RateLimitKey : std::uint8_t { kClientAddress, kHeader, kPrincipal };

// Refusals since the router was built, for metrics. relaxed: counts, read alone.
struct RateLimitCounters {
  std::atomic<std::uint64_t> rejected_per_client{0};  // 429 by the client's limit
  std::atomic<std::uint64_t> rejected_global{0};      // 429 by the global limit
  std::atomic<std::uint64_t> limiter_errors{0};       // a limiter failed: admitted
};

struct RateLimitOptions {
  // Each client's limit, decided for the request's key (resilience::KeyedRateLimiter,
  // or a store's limiter). Null: none.
  std::shared_ptr<resilience::Limiter> per_client;
  // One limit for every request (resilience::RateLimiter). Null: none.
  std::shared_ptr<resilience::Limiter> global;
  RateLimitKey key = RateLimitKey::kClientAddress;
  std::string key_header = "X-Api-Key";  // for kHeader
  // Where the refusals are counted; null: a private set (give one to read it).
  std::shared_ptr<RateLimitCounters> counters;

  bool empty() const noexcept { return per_client == nullptr && global == nullptr; }
};

// The key per_client is decided for (see "Keys" above): "a:10.0.0.1",
// "a:2001:db8:1:2::/64", "h:<value>", "t:<token name>".
std::string rate_limit_key(const Context& ctx, const Request& req, const RateLimitOptions& options);

// `routes` behind the limits (see above); `routes` itself when options.empty().
Router rate_limit(Router routes, RateLimitOptions options);

}  // namespace orca::http
