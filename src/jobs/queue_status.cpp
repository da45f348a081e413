// queue_status (include/orca/jobs/queue_status.hpp): the nodes' tags, read per queue.
#include "orca/jobs/queue_status.hpp"

#include <algorithm>
#include <map>
#include <string_view>

namespace orca::jobs {

namespace {

void add_once(std::vector<std::string>& list, const std::string& item) {
  if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
}

// "QUEUE=VALUE" after a prefix: the queue and the value.
bool split(std::string_view rest, std::string& queue, std::string& value) {
  const auto eq = rest.find('=');
  if (eq == std::string_view::npos || eq == 0) return false;
  queue = rest.substr(0, eq);
  value = rest.substr(eq + 1);
  return true;
}

}  // namespace

std::vector<QueueStatus> queue_status(const std::vector<QueueStats>& queues,
                                      const std::vector<NodeInfo>& nodes) {
  std::vector<QueueStatus> out;
  std::map<std::string, std::size_t> index;
  auto of = [&](const std::string& queue) -> QueueStatus& {
    auto [it, added] = index.emplace(queue, out.size());
    if (added) {
      out.emplace_back();
      out.back().stats.queue = queue;
    }
    return out[it->second];
  };
  for (const QueueStats& q : queues)
    of(q.queue).stats = q;
  for (const NodeInfo& n : nodes) {
    if (n.state != NodeState::kAlive) continue;
    for (const std::string& tag : n.tags) {
      const std::string_view t = tag;
      std::string queue, value;
      if (t.starts_with(kThrottledTag)) {
        queue = t.substr(kThrottledTag.size());
        if (!queue.empty()) ++of(queue).throttled_nodes;
      } else if (t.starts_with(kFleetRateTag) || t.starts_with(kNodeRateTag)) {
        const bool fleet = t.starts_with(kFleetRateTag);
        const auto prefix = fleet ? kFleetRateTag.size() : kNodeRateTag.size();
        if (!split(t.substr(prefix), queue, value)) continue;
        QueueStatus& s = of(queue);
        add_once(s.rates, value);
        s.fleet = s.fleet || fleet;
        ++s.limiting_nodes;
      } else if (t.starts_with(kBreakerHeldTag)) {
        if (split(t.substr(kBreakerHeldTag.size()), queue, value))
          add_once(of(queue).breaker_held_types, value);
      }
    }
  }
  return out;
}

}  // namespace orca::jobs
