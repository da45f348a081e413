// ScalingPolicy: the rules of scaling_policy.hpp.
#include "orca/jobs/scaling_policy.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace orca::jobs {

ScalingPolicy::ScalingPolicy(ScalingOptions options) : options_(options) {
  if (options_.min_workers < 0) throw std::invalid_argument("scaling: min workers is negative");
  if (options_.max_workers < options_.min_workers || options_.max_workers < 1)
    throw std::invalid_argument("scaling: max workers must be at least 1 and at least min (" +
                                std::to_string(options_.min_workers) + ")");
  if (options_.slots_per_worker < 1)
    throw std::invalid_argument("scaling: a worker must have at least one slot");
  if (!(options_.target_utilization > 0.0 && options_.target_utilization <= 1.0))
    throw std::invalid_argument("scaling: target utilization must be within (0, 1]");
  if (!(options_.tolerance >= 0.0 && options_.tolerance < 1.0))
    throw std::invalid_argument("scaling: tolerance must be within [0, 1)");
  if (options_.scale_down_delay.count() < 0)
    throw std::invalid_argument("scaling: scale-down delay is negative");
}

int ScalingPolicy::wanted(const PoolLoad& load) const noexcept {
  const double demand = static_cast<double>(std::max<std::int64_t>(0, load.running + load.ready));
  const double slots = demand / options_.target_utilization -
                       static_cast<double>(std::max<std::int64_t>(0, load.other_slots));
  const double workers = std::ceil(std::max(0.0, slots) / options_.slots_per_worker);
  return static_cast<int>(std::clamp(workers, static_cast<double>(options_.min_workers),
                                     static_cast<double>(options_.max_workers)));
}

int ScalingPolicy::decide(const PoolLoad& load, Clock::time_point now) {
  const int current = std::clamp(load.workers, options_.min_workers, options_.max_workers);
  int want = wanted(load);
  // Rule 2: near the target use of the slots there are, stay.
  const double slots = static_cast<double>(std::max<std::int64_t>(0, load.other_slots)) +
                       static_cast<double>(load.workers) * options_.slots_per_worker;
  if (slots > 0) {
    const double demand = static_cast<double>(std::max<std::int64_t>(0, load.running + load.ready));
    const double use = demand / (slots * options_.target_utilization);
    if (std::abs(use - 1.0) <= options_.tolerance) want = current;
  }
  // Rule 4's window: what each observation within it wanted.
  recent_.emplace_back(now, want);
  while (!recent_.empty() && now - recent_.front().first > options_.scale_down_delay)
    recent_.pop_front();
  if (want >= current) return want;  // rule 3
  int highest = want;
  for (const auto& [at, wanted_then] : recent_)
    highest = std::max(highest, wanted_then);
  return std::min(current, highest);
}

}  // namespace orca::jobs
