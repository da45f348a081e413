// ScalingPolicy: how many worker processes a pool should run for the load it sees,
// with hysteresis — the decision of `orca serve --workers MIN..MAX`, usable by any
// supervisor.
//
//   ScalingPolicy policy(options);
//   int want = policy.decide(load, steady_clock::now());   // once per observation
//
// The rule is Kubernetes' Horizontal Pod Autoscaler's, on jobs instead of CPU:
//   1. demand = jobs running plus jobs ready to run (pending, in queues not paused);
//      the pool is sized so that demand fills `target_utilization` of the slots:
//      wanted = ceil((demand / target - slots outside the pool) / slots per worker),
//      within min..max;
//   2. tolerance: while demand is within `tolerance` of the target use of the slots
//      there are (pool and others), the count stays;
//   3. up at once: more workers start as soon as one observation asks for them;
//   4. down slowly: the count falls only to the highest wanted over the last
//      `scale_down_delay`, so a lull shorter than that stops nothing, and a pool
//      does not flap between two sizes as bursts come and go.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <utility>

namespace orca::jobs {

struct ScalingOptions {
  int min_workers = 1;
  int max_workers = 4;
  int slots_per_worker = 10;        // the jobs one worker runs at once
  double target_utilization = 0.8;  // of the slots, 0 < t <= 1
  double tolerance = 0.1;           // no change within this share of the target
  std::chrono::milliseconds scale_down_delay{std::chrono::seconds(60)};
};

// What the pool's supervisor observed.
struct PoolLoad {
  std::int64_t running = 0;      // jobs running on every live node (the pool's and others)
  std::int64_t ready = 0;        // jobs pending, in queues not paused
  std::int64_t other_slots = 0;  // slots of live nodes outside the pool
  int workers = 0;               // the pool's workers now, started and not stopping
};

class ScalingPolicy {
 public:
  using Clock = std::chrono::steady_clock;

  // Throws std::invalid_argument for bounds or a target that cannot work.
  explicit ScalingPolicy(ScalingOptions options);

  // The number of workers the pool should have, within min..max.
  int decide(const PoolLoad& load, Clock::time_point now);

  // Rule 1 alone (no tolerance, no delay): the count this load asks for.
  int wanted(const PoolLoad& load) const noexcept;

  const ScalingOptions& options() const noexcept { return options_; }

 private:
  ScalingOptions options_;
  std::deque<std::pair<Clock::time_point, int>> recent_;  // within scale_down_delay
};

}  // namespace orca::jobs
