// FleetRateLimiter: a rate limit shared by every process that uses the same key on one
// Redis server, as resilience::Limiter. GCRA, as resilience::RateLimiter, with the
// theoretical arrival time (TAT) kept in one Redis key and updated by one Lua script
// that reads the server's clock (TIME): one round trip per decision, atomic across any
// number of processes, and the processes' clocks do not matter.
//
//   orca::redis::FleetRateLimiter emails(client, "orca:limit:", {.events = 100, .per = 1s});
//   auto d = co_await emails.decide(ctx, "email");   // key "orca:limit:{email}"
//   if (d && !d->allowed) wait(d->retry_after);
//
// Keys: prefix + "{" + key + "}" (the key is its own hash tag, so a cluster runs each
// limit on one slot); the value is the TAT in microseconds of the server's clock, and it
// expires once the limit is idle (at the TAT), so idle limits cost no memory.
// Resolution: one microsecond, so rates above a million per second are refused.
//
// take_up_to(n) is one script too (one round trip, however many units it grants),
// and give_back(n) another, which moves the TAT back by n intervals (run only when a
// caller used fewer units than it was granted).
// Redis unreachable: every call fails at once with the client's error (the client
// does not queue commands while disconnected), and grants nothing: callers that
// treat an error as a refusal fail closed, and none waits for Redis to come back.
//
// Thread safety: every call from any task at once. Cancel safety: a call that ends
// with the context's error may have taken (or given back) the units (the script may
// have run).
// Errors: resilience::errc::too_large for n above the burst; the client's errors;
// redis::errc::server_error if the script fails (an error reply). The constructor
// throws std::invalid_argument for bad options.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "orca/redis/client.hpp"
#include "orca/redis/cluster.hpp"
#include "orca/redis/script.hpp"
#include "orca/resilience/limiter.hpp"
#include "orca/resilience/rate_limiter.hpp"

namespace orca::redis {

class FleetRateLimiter final : public resilience::Limiter {
 public:
  // `client` must outlive the limiter. options.clock is ignored: the server's clock
  // rules.
  FleetRateLimiter(Client& client, std::string prefix, resilience::RateLimiterOptions options);
  // The same on a Redis Cluster: each limit's key is its own hash tag (one slot).
  FleetRateLimiter(ClusterClient& cluster, std::string prefix,
                   resilience::RateLimiterOptions options);

  Task<Result<resilience::Decision>> decide(const Context& ctx, std::string_view key,
                                            std::int64_t n = 1) override;
  Task<Result<resilience::Grant>> take_up_to(const Context& ctx, std::string_view key,
                                             std::int64_t max) override;
  Task<Result<void>> give_back(const Context& ctx, std::string_view key, std::int64_t n) override;

  const resilience::RateLimiterOptions& options() const noexcept { return options_; }

 private:
  FleetRateLimiter(Client* client, ClusterClient* cluster, std::string prefix,
                   resilience::RateLimiterOptions options);
  Task<Result<Reply>> eval(const Context& ctx, const Script& script, std::string_view key,
                           std::vector<std::string> args);

  Client* client_ = nullptr;          // one of these two
  ClusterClient* cluster_ = nullptr;  // is set
  const std::string prefix_;
  const resilience::RateLimiterOptions options_;
  std::int64_t interval_us_;   // T
  std::int64_t tolerance_us_;  // burst * T
};

}  // namespace orca::redis
