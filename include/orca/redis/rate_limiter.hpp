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
// Coalescing (group commit): while a decide() call for a key is in flight from this
// limiter, further decide() calls for that key queue, and the next call carries all
// of them (up to kMaxBatch): the script evaluates each request in turn, in arrival
// order and with its own n, exactly as one call each would at that instant, and
// returns one decision per request. A lone caller goes out at once; a batch forms
// only behind calls in flight (at most kMaxInFlight per key), so coalescing adds no
// wait, and it saves the server the per-call cost (script entry, arguments, reply)
// that bounds a hot limit. Batches are sent by a task of their own, so a caller who
// leaves does not fail the others. Queued callers per key are capped at kMaxQueued;
// past it a caller goes out alone, as if nothing were in flight.
// Redis unreachable: every call fails at once with the client's error (the client
// does not queue commands while disconnected), and grants nothing: callers that
// treat an error as a refusal fail closed, and none waits for Redis to come back.
//
// Thread safety: every call from any task at once. Cancel safety: a caller whose
// context ends leaves at once with its error. A decide() still queued (its batch not
// sent) leaves the queue and takes nothing. Otherwise the call may have taken (or
// given back) the units: the script may have run; a queued decide() whose batch was
// sent is decided with the batch, and its units, if admitted, stay taken.
// A batch is bounded by `batch_timeout` (default kBatchTimeout), whatever its callers'
// deadlines.
// Lifetime: the client must outlive the limiter; the limiter must outlive its calls.
// A batch whose callers all left runs to its end on its own, holding the client's
// connections (not the Client object); closing the client ends it.
// Errors: resilience::errc::too_large for n above the burst; the client's errors;
// redis::errc::server_error if the script fails (an error reply). The constructor
// throws std::invalid_argument for bad options.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
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
  // rules. `batch_timeout` must be positive.
  FleetRateLimiter(Client& client, std::string prefix, resilience::RateLimiterOptions options,
                   std::chrono::milliseconds batch_timeout = kBatchTimeout);
  // The same on a Redis Cluster: each limit's key is its own hash tag (one slot).
  FleetRateLimiter(ClusterClient& cluster, std::string prefix,
                   resilience::RateLimiterOptions options,
                   std::chrono::milliseconds batch_timeout = kBatchTimeout);
  ~FleetRateLimiter() override;

  Task<Result<resilience::Decision>> decide(const Context& ctx, std::string_view key,
                                            std::int64_t n = 1) override;
  Task<Result<resilience::Grant>> take_up_to(const Context& ctx, std::string_view key,
                                             std::int64_t max) override;
  Task<Result<void>> give_back(const Context& ctx, std::string_view key, std::int64_t n) override;

  const resilience::RateLimiterOptions& options() const noexcept { return options_; }
  // decide() calls on `key` queued for a batch right now (not yet sent).
  std::size_t queued(std::string_view key) const;
  // Calls on `key` holding one of its kMaxInFlight slots right now (sent or sending).
  int in_flight(std::string_view key) const;

  // The most decisions one script call carries, the calls in flight per key before
  // callers queue, and the callers queued per key before one goes out alone. A
  // batch of 128 costs the server tens of microseconds (one Lua loop step each),
  // short enough not to stall other clients; two in flight keep the server busy
  // while the other's reply travels back and its callers come round again.
  static constexpr std::size_t kMaxBatch = 128;
  static constexpr int kMaxInFlight = 2;
  static constexpr std::size_t kMaxQueued = 1024;
  // The longest a batch waits for its answer, by default: past it, its callers get
  // deadline_exceeded (the units may have been taken) and the key's slot is free
  // again, so a stalled server cannot hold a key for good.
  static constexpr std::chrono::milliseconds kBatchTimeout{5000};

 private:
  struct Shared;
  struct Pending;
  FleetRateLimiter(std::shared_ptr<Shared> shared, std::string prefix,
                   resilience::RateLimiterOptions options, std::chrono::milliseconds batch_timeout);
  Task<Result<Reply>> eval(const Context& ctx, const Script& script, std::string_view key,
                           std::vector<std::string> args);
  static Task<void> run_batches(std::shared_ptr<Shared> shared, std::string key,
                                std::vector<std::shared_ptr<Pending>> batch);

  std::shared_ptr<Shared> shared_;  // the client's pool, the per-key queues
  const std::string prefix_;
  const resilience::RateLimiterOptions options_;
};

}  // namespace orca::redis
