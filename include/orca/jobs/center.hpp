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
// Several centers (processes) may share one broker. They elect a leader through a
// lease in the broker (Broker::acquire_lease, named "center" for centers that route,
// "timekeeper" for those that do not): only the holder routes, promotes, reaps, fires
// periodic jobs and trims; the others ask for the lease every tick and take over
// within its ttl once the holder is gone. Leadership protocol, per center:
//   1. Every tick without the lead, and every ttl/3 with it, ask for the lease,
//      noting the time `sent` (this process's steady clock) before asking.
//   2. Granted: lead until sent + 3/4 ttl, by this clock. The broker's lease runs
//      until at least sent + ttl by its own, since it granted after `sent`; the last
//      quarter absorbs a difference in clock rates and a duty call still in flight.
//   3. Refused, or not renewed in time (the broker unreachable): stop every duty at
//      once, before the broker's lease can have run out; each duty checks the lead
//      right before its broker call.
//   4. On the way out (run's ctx done): release the lease, so a standby takes over
//      at its next tick rather than after the ttl.
// What the token fences: it names one tenure. A center learns from it that it lost
// the lead and got it back (a new token), and logs the change. The duties themselves
// need no token: each is an atomic, conditional broker call (assign only a job still
// pending at the peeked attempt, promote only what is due, reap only nodes silent for
// node_timeout and expired leases, fire a periodic run only if its next time is still
// the one read, trim by age and count), so two centers acting at once, which only
// this clock running more than a quarter slower than the broker's, or a duty call
// held up in flight past the end of the lease, could cause, never assign one job
// twice or fire one periodic run twice; they only do redundant work.
// A job that no live node can run stays pending (visible in `orca jobs` and queue
// stats) until one registers.
//
// Thread safety: attach() and add_periodic() before run(); submit(), cancel() and
// notify() from any task, any time. The Center and attached nodes must outlive run().
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "orca/jobs/broker.hpp"
#include "orca/jobs/detail/broker_reachability.hpp"
#include "orca/jobs/node.hpp"
#include "orca/sync/channel.hpp"
#include "orca/sync/wait_group.hpp"

namespace orca::jobs {

// Chooses the node for each job the center routes.
class LiveView;

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
  // The leadership lease (see above). Its ttl is node_timeout unless given: a center
  // is judged dead on the same time scale as a node, so killing the leader delays
  // routing by about as long as killing a node delays its jobs (~3 s by default), and
  // a stall of a few hundred ms (a loaded machine, an fsync) does not hand the lead
  // around, as a ttl of a few ticks would.
  std::chrono::milliseconds leader_ttl{0};  // 0: node_timeout
  std::string leader_lease;                 // empty: "center", or "timekeeper" without routing
  std::string id;                           // the lease's holder; empty: "<host>-<pid>-<random>"
  // Log leadership changes on stderr ("orca: center ID: became the leader (token N)").
  bool log_leadership = true;
  // Where the center reports the jobs it enqueues (submit, submit_batch, periodic
  // jobs it fires) (jobs/metrics.hpp); null: nowhere. Must outlive the center.
  JobMetrics* metrics = nullptr;
  // Where the center reports the transitions it makes (jobs submitted, routed,
  // cancelled) as `job` events (live.hpp); null: nowhere. Must outlive the center.
  LiveView* live = nullptr;
};

class Center {
 public:
  Center(Broker& broker, CenterOptions options);
  Center(const Center&) = delete;
  Center& operator=(const Center&) = delete;

  // An in-process node: notified at once when work is assigned to it, its cancels
  // delivered directly, and it notifies the center when a slot frees. Before it
  // deregisters at shutdown, it waits for the routing round under way: jobs that
  // round started in its name are handed to it (and back) before it leaves.
  void attach(Node& node);

  // Enqueues and routes at once. invalid_job for a bad spec (check_job_spec tells why).
  Task<Result<EnqueueResult>> submit(Context ctx, JobSpec spec);
  Task<Result<std::vector<EnqueueResult>>> submit_batch(Context ctx, std::vector<JobSpec> specs);
  // Cancels a job; if it runs on an attached node, its handler's context is cancelled
  // now, otherwise at that node's next heartbeat.
  Task<Result<JobState>> cancel(Context ctx, JobId id);
  // Stores a periodic job (replacing one of the same name). Schedule::parse's
  // bad_schedule (its detail() says what is wrong) if the schedule does not parse.
  Task<Result<void>> add_periodic(Context ctx, std::string name, std::string schedule,
                                  JobSpec spec);

  // Routes and keeps time until ctx is done.
  Task<Result<void>> run(Context ctx);
  void notify() noexcept;

  Broker& broker() noexcept { return broker_; }
  // The nodes attached (attach()), for reports of their state (breakers, limits).
  const std::vector<Node*>& attached() const noexcept { return local_; }
  const std::string& id() const noexcept { return options_.id; }
  // Whether this center leads now (holds the lease and its tenure has not run out by
  // this process's clock), and the token of its tenure (0 when it does not lead).
  // Thread-safe.
  bool leading() const;
  std::int64_t leader_token() const;

 private:
  Task<void> dispatch_round(Context ctx);
  Task<void> dispatch_round_counted(Context ctx);
  Task<void> rounds_done();
  Task<void> maintenance_loop(Context ctx);
  Task<void> leadership_loop(Context ctx);
  Task<Result<void>> fire_periodic(Context ctx);
  // Records a broker call's outcome for the connectivity window and the outage log.
  void seen(const Context& ctx, const Error& e);
  void log_line(const std::string& text) const;

  Broker& broker_;
  CenterOptions options_;
  std::vector<Node*> local_;
  Channel<std::monostate> wakeups_{1};
  WaitGroup rounds_;               // dispatch rounds under way (attach())
  Clock::time_point last_trim_{};  // the maintenance task's only

  // Shared by the routing, maintenance and leadership tasks, which may run on
  // different threads; never held across a suspension.
  mutable std::mutex mu_;
  std::int64_t token_ = 0;             // 0: not leading
  Clock::time_point lead_until_{};     // by this process's clock (protocol step 2)
  detail::ConnectivityWindow window_;  // fed by every broker call of every task
  detail::OutageLog outage_{"center"};
};

}  // namespace orca::jobs
