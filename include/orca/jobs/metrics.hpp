// The job framework's metrics (docs/OPERATIONS.md has the reference table).
//
// JobMetrics: counters and histograms the producers and nodes of this process report
// as things happen. Hand it to CenterOptions::metrics (enqueues through the center,
// periodic jobs it fires) and NodeOptions::metrics (what the node runs):
//   orca_jobs_enqueued_total{queue,type}          jobs added (duplicates of a unique key not)
//   orca_jobs_finished_total{queue,type,state}    succeeded, failed, dead, cancelled
//   orca_jobs_retried_total{queue,type}           failed attempts that will run again
//   orca_job_duration_seconds{queue,type}         handler run time; exemplar: the trace id
//   orca_job_wait_seconds{queue}                  from due (ready_at) to handler start
// A job's end is counted by the node that ran it, once the broker has taken the
// acknowledgement (so the state is the broker's: a retryable failure past its attempts
// counts as dead). Jobs a center reclaims from a dead node and ends dead (their
// attempts used up) have no node to count them: they show in orca_queue_jobs only.
//
// BrokerMetrics: the broker's view, read at scrape time (Registry::before_scrape),
// at most once per max_age (1 s) whatever the scrape rate, so scrapers cannot load
// the broker:
//   orca_queue_jobs{queue,state}                  jobs per queue and state (depth)
//   orca_queue_oldest_pending_age_seconds{queue}  the queue's lag: its oldest pending
//                                                 job's age since due, at the scrape
//                                                 (no sample when none is pending)
//   orca_nodes{state}                             nodes alive, left, dead
//   orca_node_active_jobs{node}                   jobs leased or running on a live node
//   orca_node_capacity{node}                      a live node's concurrency
// A scrape shows the last answer the broker gave; while the broker is unreachable,
// the figures stay as they were (its outage shows elsewhere: a center's logs).
//
// Label values come from job specs (queue and type names, bounded by JobLimits) and
// node ids; each family holds at most metrics::FamilyOptions::max_series label sets.
//
// Thread safety: every member from any thread. Both must outlive the centers, nodes
// and servers that use them; BrokerMetrics's broker must outlive it.
#pragma once

#include <chrono>
#include <memory>
#include <string_view>
#include <vector>

#include "orca/jobs/broker.hpp"
#include "orca/metrics/registry.hpp"

namespace orca::jobs {

class JobMetrics {
 public:
  explicit JobMetrics(metrics::Registry& registry);

  void enqueued(std::string_view queue, std::string_view type);
  // The broker took the end of an attempt: `state` is the job's state after it.
  // Terminal states count as finished, retrying as retried; others (a job handed
  // back, pending again) count nothing.
  void attempt_ended(std::string_view queue, std::string_view type, JobState state);
  void handler_ran(std::string_view queue, std::string_view type, Clock::duration took,
                   std::string_view trace_id);
  void waited(std::string_view queue, std::chrono::duration<double> wait);

 private:
  metrics::Family<metrics::Counter>& enqueued_;
  metrics::Family<metrics::Counter>& finished_;
  metrics::Family<metrics::Counter>& retried_;
  metrics::Family<metrics::Histogram>& duration_;
  metrics::Family<metrics::Histogram>& wait_;
};

class Node;

// orca_breaker_state{name}: each of `node`'s job-type breakers (NodeOptions::
// breaker_enabled; name: "TYPE@NODE", a breaker being per node and type), 0 closed, 1 half-open, 2
// open, read at scrape time. `node` must outlive the registration.
[[nodiscard]] metrics::Registration report_breakers(metrics::Registry& registry, const Node& node);

class BrokerMetrics {
 public:
  BrokerMetrics(metrics::Registry& registry, Broker& broker,
                std::chrono::milliseconds max_age = std::chrono::seconds(1));
  ~BrokerMetrics();
  BrokerMetrics(const BrokerMetrics&) = delete;
  BrokerMetrics& operator=(const BrokerMetrics&) = delete;

  struct State;  // the last answers (metrics.cpp)

 private:
  std::shared_ptr<State> state_;
  std::vector<metrics::Registration> registrations_;
};

}  // namespace orca::jobs
