// QueueStatus: a queue's counts with what holds its jobs back now, as far as the
// center can know: the rate limits nodes run it under and whether they are
// throttled, and the job types that circuit breakers hold back in it. All of it
// comes from the nodes' registrations (the tags of broker.hpp: kFleetRateTag,
// kNodeRateTag, kThrottledTag, kBreakerHeldTag), so it is as fresh as their last
// registration (a node registers again at its next heartbeat after a change), and it
// counts live nodes only.
//
//   auto queues = co_await broker.queues(ctx);
//   auto nodes = co_await broker.nodes(ctx);
//   for (const QueueStatus& q : queue_status(*queues, *nodes)) ...
//
// Thread safety: a pure function of its arguments.
#pragma once

#include <string>
#include <vector>

#include "orca/jobs/broker.hpp"

namespace orca::jobs {

struct QueueStatus {
  QueueStats stats;
  // The rate the live nodes limit it to (resilience::format_rate's text), or empty
  // if none does. Nodes that disagree: each rate once, in `rates`.
  std::vector<std::string> rates;
  bool fleet = false;       // the limit is shared by the fleet (Redis), not per node
  int limiting_nodes = 0;   // live nodes that limit it
  int throttled_nodes = 0;  // of them, those whose last request for units was cut short
  // Job types whose breakers are open on some live node that saw them fail in this
  // queue: their jobs here wait (on that node) instead of running.
  std::vector<std::string> breaker_held_types;

  bool throttled() const noexcept { return throttled_nodes > 0; }
};

// One status per queue of `queues`, in its order, plus one for each queue that only a
// node's tags name (a limited queue with no jobs yet).
std::vector<QueueStatus> queue_status(const std::vector<QueueStats>& queues,
                                      const std::vector<NodeInfo>& nodes);

}  // namespace orca::jobs
