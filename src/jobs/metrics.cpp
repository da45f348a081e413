// JobMetrics and BrokerMetrics (jobs/metrics.hpp).
#include "orca/jobs/metrics.hpp"

#include "orca/jobs/node.hpp"

#include <map>
#include <mutex>
#include <string>

namespace orca::jobs {

JobMetrics::JobMetrics(metrics::Registry& r)
    : enqueued_(r.counter_family("orca_jobs_enqueued_total", "Jobs enqueued.", {"queue", "type"})),
      finished_(r.counter_family("orca_jobs_finished_total",
                                 "Jobs ended, by final state (succeeded, failed, dead, cancelled).",
                                 {"queue", "type", "state"})),
      retried_(r.counter_family("orca_jobs_retried_total",
                                "Failed attempts whose job will run again.", {"queue", "type"})),
      duration_(r.histogram_family("orca_job_duration_seconds", "Handler run time of an attempt.",
                                   {"queue", "type"}, metrics::latency_buckets())),
      wait_(r.histogram_family("orca_job_wait_seconds",
                               "Time from a job being due to its handler starting.", {"queue"},
                               metrics::latency_buckets())) {}

void JobMetrics::enqueued(std::string_view queue, std::string_view type) {
  enqueued_.with({queue, type}).inc();
}

void JobMetrics::attempt_ended(std::string_view queue, std::string_view type, JobState state) {
  switch (state) {
    case JobState::kSucceeded:
    case JobState::kFailed:
    case JobState::kDead:
    case JobState::kCancelled:
      finished_.with({queue, type, to_string(state)}).inc();
      break;
    case JobState::kRetrying:
      retried_.with({queue, type}).inc();
      break;
    default:
      break;
  }
}

void JobMetrics::handler_ran(std::string_view queue, std::string_view type, Clock::duration took,
                             std::string_view trace_id) {
  duration_.with({queue, type}).observe(took, trace_id);
}

void JobMetrics::waited(std::string_view queue, std::chrono::duration<double> wait) {
  wait_.with({queue}).observe(wait.count() < 0 ? 0.0 : wait.count());
}

metrics::Registration report_breakers(metrics::Registry& registry, const Node& node) {
  return registry.callback(
      "orca_breaker_state", "A circuit breaker's state: 0 closed, 1 half-open, 2 open.",
      metrics::MetricType::kGauge, {"name"}, [&node](std::vector<metrics::Sample>& out) {
        for (const TypeBreakerStatus& b : node.breakers()) {
          const double v = b.state == resilience::BreakerState::kOpen       ? 2
                           : b.state == resilience::BreakerState::kHalfOpen ? 1
                                                                            : 0;
          out.push_back({{b.type + "@" + node.id()}, v});
        }
      });
}

// The broker's last answers, shared by the hook (which may still run while the
// BrokerMetrics is destroyed: it holds the state) and the callbacks.
struct BrokerMetrics::State {
  Broker* broker;
  std::chrono::milliseconds max_age;
  std::mutex mu;
  bool fetching = false;  // a scrape is asking the broker: others show the last answer
  Clock::time_point fetched_at{};
  bool have = false;
  std::vector<QueueStats> queues;
  std::vector<NodeInfo> nodes;
};

namespace {

// Asks the broker again if its last answer is older than max_age and no other scrape
// is asking already (that one's answer will do: scrapers cannot pile calls up).
Task<void> refresh_broker_view(std::shared_ptr<BrokerMetrics::State> state, Context ctx) {
  {
    std::lock_guard lock(state->mu);
    if (state->fetching || (state->have && Clock::now() - state->fetched_at < state->max_age))
      co_return;
    state->fetching = true;
  }
  auto queues = co_await state->broker->queues(ctx);
  auto nodes = co_await state->broker->nodes(ctx);
  std::lock_guard lock(state->mu);
  state->fetching = false;
  if (queues) {
    state->queues = std::move(*queues);
  } else {
    // The counts stay as last known, but not the due times: an age computed from an
    // old answer would keep growing (and alert) for a queue that may have drained.
    for (QueueStats& q : state->queues)
      q.oldest_pending_due.reset();
  }
  if (nodes) state->nodes = std::move(*nodes);
  if (queues || nodes) {
    state->have = true;
    state->fetched_at = Clock::now();
  }
}

}  // namespace

BrokerMetrics::BrokerMetrics(metrics::Registry& r, Broker& broker,
                             std::chrono::milliseconds max_age)
    : state_(std::make_shared<State>()) {
  state_->broker = &broker;
  state_->max_age = max_age;
  registrations_.push_back(r.before_scrape(
      [state = state_](Context ctx) { return refresh_broker_view(state, std::move(ctx)); }));
  registrations_.push_back(r.callback(
      "orca_queue_jobs", "Jobs per queue and state, as the broker counts them.",
      metrics::MetricType::kGauge, {"queue", "state"}, [state = state_](auto& out) {
        std::lock_guard lock(state->mu);
        for (const QueueStats& q : state->queues)
          for (const auto& [s, n] : q.counts)
            out.push_back({{q.queue, std::string(to_string(s))}, static_cast<double>(n)});
      }));
  // The age is taken at scrape time from the due time the broker gave (its answer may
  // be up to max_age old: the age still grows between answers). A queue with no pending
  // job has no sample, the Prometheus way for "no such thing" (a 0 would read as "a
  // job just became due"); alert and dashboard expressions treat absent as no lag.
  registrations_.push_back(r.callback(
      "orca_queue_oldest_pending_age_seconds",
      "Age of the queue's longest-waiting pending job, since it became due (the queue's lag).",
      metrics::MetricType::kGauge, {"queue"}, [state = state_](auto& out) {
        std::lock_guard lock(state->mu);
        const WallClock::time_point now = WallClock::now();
        for (const QueueStats& q : state->queues)
          if (q.oldest_pending_due) {
            const std::chrono::duration<double> age = now - *q.oldest_pending_due;
            out.push_back({{q.queue}, age.count() < 0 ? 0.0 : age.count()});
          }
      }));
  registrations_.push_back(r.callback(
      "orca_nodes", "Nodes the broker knows, by state (alive, left, dead).",
      metrics::MetricType::kGauge, {"state"}, [state = state_](auto& out) {
        std::lock_guard lock(state->mu);
        if (!state->have) return;
        std::map<std::string, double> by_state = {{"alive", 0}, {"left", 0}, {"dead", 0}};
        for (const NodeInfo& n : state->nodes)
          by_state[std::string(to_string(n.state))] += 1;
        for (const auto& [s, n] : by_state)
          out.push_back({{s}, n});
      }));
  registrations_.push_back(
      r.callback("orca_node_active_jobs", "Jobs leased or running on a live node.",
                 metrics::MetricType::kGauge, {"node"}, [state = state_](auto& out) {
                   std::lock_guard lock(state->mu);
                   for (const NodeInfo& n : state->nodes)
                     if (n.state == NodeState::kAlive)
                       out.push_back({{n.id}, static_cast<double>(n.active)});
                 }));
  registrations_.push_back(
      r.callback("orca_node_capacity", "A live node's concurrency (jobs it runs at once at most).",
                 metrics::MetricType::kGauge, {"node"}, [state = state_](auto& out) {
                   std::lock_guard lock(state->mu);
                   for (const NodeInfo& n : state->nodes)
                     if (n.state == NodeState::kAlive)
                       out.push_back({{n.id}, static_cast<double>(n.capacity)});
                 }));
}

BrokerMetrics::~BrokerMetrics() = default;

}  // namespace orca::jobs
