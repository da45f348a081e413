// FailureLimiter: counts failed authentication attempts per client address and tells
// when an address has had too many, so that guessing tokens over the network is
// throttled to max_failures per window. Invariant: the table holds at most
// max_clients addresses, whatever the number of clients (the oldest windows go
// first when it is full).
//
//   FailureLimiter limiter;
//   if (auto wait = limiter.retry_after(client, Clock::now()); wait.count() > 0) ...429...
//   if (!valid) limiter.record_failure(client, Clock::now());
//
// A client is its IP address without the port; an IPv6 client is its /64 (one host
// usually owns a whole /64, and would otherwise get 2^64 fresh budgets). Each
// address has a fixed window that its first failure opens: max_failures failures in
// it block the address until the window ends. Successes do not reset the count.
//
// Thread safety: every member may be called from any thread (one mutex, held for a
// hash lookup; when the table is full, for one scan of it).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "orca/runtime/clock.hpp"

namespace orca::http {

struct FailureLimiterOptions {
  int max_failures = 10;
  Clock::duration window = std::chrono::minutes(1);
  // About 100 bytes each: 10,000 addresses are about 1 MB.
  std::size_t max_clients = 10'000;
};

class FailureLimiter {
 public:
  explicit FailureLimiter(FailureLimiterOptions options = {}) : options_(options) {}

  // How long `remote_address` ("1.2.3.4:5678", "[::1]:5678") must wait before it may
  // try again: zero if it may now, else at least one second (for Retry-After).
  std::chrono::seconds retry_after(std::string_view remote_address, Clock::time_point now);
  void record_failure(std::string_view remote_address, Clock::time_point now);
  // Addresses held (blocked or counting).
  std::size_t size();

  // The client key of an address: its IP without the port, an IPv6 one cut to its
  // /64 ("2001:db8:1:2::/64"). Exposed for tests.
  static std::string client_of(std::string_view remote_address);

 private:
  struct Window {
    Clock::time_point start;
    int failures = 0;
  };
  void evict(Clock::time_point now);

  FailureLimiterOptions options_;
  std::mutex mu_;
  std::unordered_map<std::string, Window> clients_;
};

}  // namespace orca::http
