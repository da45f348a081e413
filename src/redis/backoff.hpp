// Backoff: the delays between reconnection attempts, private to orca_redis (the
// client pool, the subscriber and the cluster client share it).
//
// Exponential with "equal jitter": attempt k waits a delay drawn uniformly from
// [d/2, d] with d = min(max, min * 2^k). The lower half keeps attempts from
// hammering a server that is down; the random half spreads the clients that lost the
// same server over time, so they do not all come back in the same instant.
#pragma once

#include <algorithm>
#include <chrono>
#include <random>

namespace orca::redis::detail {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max)
      : min_(std::max(min, std::chrono::milliseconds(1))),
        max_(std::max(max, min_)),
        current_(min_),
        rng_(std::random_device{}()) {}

  // The delay before the next attempt; each call doubles the base up to the cap.
  std::chrono::milliseconds next() {
    const auto d = current_;
    current_ = std::min(max_, current_ * 2);
    std::uniform_int_distribution<long long> pick(d.count() / 2, d.count());
    return std::chrono::milliseconds(pick(rng_));
  }
  void reset() { current_ = min_; }

 private:
  std::chrono::milliseconds min_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds current_;
  std::minstd_rand rng_;
};

}  // namespace orca::redis::detail
