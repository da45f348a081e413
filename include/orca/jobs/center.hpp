// Center: the scheduling center. It routes each pending job to a live node that
// supports its type (by default the least-loaded one, ties taken in turn), promotes
// delayed and retrying jobs when their time comes, fires periodic jobs, declares
// nodes dead after missed heartbeats (their jobs go back to the queue or through
// their retry policy), and trims old jobs and audit entries.
//
//   orca::jobs::Center center(broker, {});
//   center.attach(node);                       // an in-process node: told at once
//   auto id = co_await center.submit(ctx, spec);
//   co_await center.run(ctx);                  // until ctx is done
//
// Several centers (processes) may share one broker: every step is an atomic,
// conditional broker call, so two centers never assign one job twice or fire one
// periodic run twice. A job that no live node can run stays pending (visible in
// `orca jobs` and queue stats) until one registers.
//
// Thread safety: attach() and add_periodic() before run(); submit(), cancel() and
// notify() from any task, any time. The Center and attached nodes must outlive run().
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "orca/jobs/broker.hpp"
#include "orca/jobs/node.hpp"
#include "orca/sync/channel.hpp"

namespace orca::jobs {

// Chooses the node for each job the center routes.
class RoutingPolicy {
 public:
  virtual ~RoutingPolicy() = default;
  // False: the center routes nothing; nodes claim pending jobs of their types
  // themselves (they must run with NodeOptions::pull).
  virtual bool routes() const noexcept { return true; }
  // `candidates`: live nodes with a free slot that handle the job's type (never
  // empty). Returns the index of the chosen one. Called from the center's task only.
  virtual std::size_t choose(const Job& job, const std::vector<NodeInfo>& candidates) = 0;
};

// The lowest active/capacity ratio; among equals, the one after the last chosen in
// id order (round robin), so equal nodes share work evenly.
class LeastLoadPolicy final : public RoutingPolicy {
 public:
  std::size_t choose(const Job& job, const std::vector<NodeInfo>& candidates) override;

 private:
  std::string last_;  // id of the last node chosen among ties
};

// Nodes pull jobs by type; the center only keeps time (promotion, reaping, periodic).
class PullPolicy final : public RoutingPolicy {
 public:
  bool routes() const noexcept override { return false; }
  std::size_t choose(const Job&, const std::vector<NodeInfo>&) override { return 0; }
};

struct CenterOptions {
  std::shared_ptr<RoutingPolicy> policy;  // null: LeastLoadPolicy
  std::chrono::milliseconds tick{100};    // promotion, reaping, periodic, routing without a notify
  // No heartbeat for this long: dead, and its jobs are reclaimed (three missed beats
  // at the nodes' default interval, so a killed node's jobs run again within ~5 s).
  std::chrono::milliseconds node_timeout{3000};
  std::chrono::milliseconds lease{10'000};  // of an assignment not yet started
  std::size_t dispatch_batch = 512;         // jobs routed per round at most
  // Jobs assigned to a node beyond its free slots, as a fraction of its capacity: a
  // node finds its next jobs already leased to it when a slot frees, instead of
  // waiting for the next routing round (the "dispatched" state). 0: exactly the
  // free slots. Load for routing still counts every job leased or running.
  double assign_ahead = 1.0;
  QueueWeights weights;
  Retention retention;
  std::chrono::milliseconds trim_interval{60'000};
};

class Center {
 public:
  Center(Broker& broker, CenterOptions options);
  Center(const Center&) = delete;
  Center& operator=(const Center&) = delete;

  // An in-process node: notified at once when work is assigned to it, its cancels
  // delivered directly, and it notifies the center when a slot frees.
  void attach(Node& node);

  // Enqueues and routes at once. invalid_job for a bad spec (check_job_spec tells why).
  Task<Result<EnqueueResult>> submit(Context ctx, JobSpec spec);
  Task<Result<std::vector<EnqueueResult>>> submit_batch(Context ctx, std::vector<JobSpec> specs);
  // Cancels a job; if it runs on an attached node, its handler's context is cancelled
  // now, otherwise at that node's next heartbeat.
  Task<Result<JobState>> cancel(Context ctx, JobId id);
  // Stores a periodic job (replacing one of the same name). bad_schedule if the
  // schedule does not parse (Schedule::parse gives the message).
  Task<Result<void>> add_periodic(Context ctx, std::string name, std::string schedule,
                                  JobSpec spec);

  // Routes and keeps time until ctx is done.
  Task<Result<void>> run(Context ctx);
  void notify() noexcept;

  Broker& broker() noexcept { return broker_; }

 private:
  Task<void> dispatch_round(Context ctx);
  Task<void> maintenance_loop(Context ctx);
  Task<Result<void>> fire_periodic(Context ctx);

  Broker& broker_;
  CenterOptions options_;
  std::vector<Node*> local_;
  Channel<std::monostate> wakeups_{1};
  Clock::time_point last_trim_{};
};

}  // namespace orca::jobs
