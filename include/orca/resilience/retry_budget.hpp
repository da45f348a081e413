// RetryBudget: how many retries a group of callers may make, as Finagle budgets
// them: at most `ratio` of the calls made within the last `ttl`, plus a floor of
// `min_per_second`, so that during an outage retries add at most ratio (e.g. 10%) to
// the load instead of multiplying it by the attempt count.
//
//   orca::resilience::RetryBudget budget({.ratio = 0.1, .min_per_second = 10});
//   // shared by every Retry (and hedge) that names it in its options
//
// Balance = min_per_second * ttl + ratio * (calls in ttl) - (retries in ttl); a retry
// is allowed while the balance is at least 1. Calls and retries are counted in 10
// time buckets of ttl/10, so the window slides in steps of a tenth.
//
// Thread safety: every member from any thread. deposit() is one relaxed add on a
// shared counter; try_withdraw() takes a short lock so that concurrent retries cannot
// overdraw the balance together.
// Errors: the constructor throws std::invalid_argument for bad options (validate()).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "orca/resilience/time_source.hpp"

namespace orca::resilience {

struct RetryBudgetOptions {
  double ratio = 0.1;                                       // retries per call; 0..1000
  double min_per_second = 10;                               // retries always allowed; >= 0
  std::chrono::nanoseconds ttl = std::chrono::seconds(10);  // the window; >= 10 ns
  const TimeSource* clock = nullptr;
};

std::string validate(const RetryBudgetOptions& options);

struct RetryBudgetMetrics {
  double balance;           // retries allowed right now
  std::uint64_t withdrawn;  // retries granted since construction
  std::uint64_t refused;    // retries refused since construction
};

class RetryBudget {
 public:
  explicit RetryBudget(RetryBudgetOptions options = {});
  RetryBudget(const RetryBudget&) = delete;
  RetryBudget& operator=(const RetryBudget&) = delete;

  // Counts one call (every first attempt).
  void deposit() noexcept;
  // Takes one retry from the balance; false (nothing taken) if it is below 1.
  bool try_withdraw() noexcept;
  double balance() const noexcept;
  RetryBudgetMetrics metrics() const noexcept;

 private:
  static constexpr int kBuckets = 10;
  struct Slot {
    std::atomic<std::int64_t> epoch{-1};
    std::atomic<std::int64_t> count{0};
  };
  std::int64_t epoch_now() const noexcept;
  static void add(Slot (&ring)[kBuckets], std::int64_t epoch) noexcept;
  static std::int64_t sum(const Slot (&ring)[kBuckets], std::int64_t epoch) noexcept;
  double balance_at(std::int64_t epoch) const noexcept;

  const RetryBudgetOptions options_;
  std::int64_t bucket_ns_;
  double reserve_;  // min_per_second * ttl
  Slot deposits_[kBuckets];
  Slot withdrawals_[kBuckets];
  std::mutex withdraw_mu_;
  std::atomic<std::uint64_t> withdrawn_{0};
  std::atomic<std::uint64_t> refused_{0};
};

}  // namespace orca::resilience
