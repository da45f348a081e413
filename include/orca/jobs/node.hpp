// Node: a worker that runs jobs. It registers its handlers' types, capability tags
// and concurrency limit with the broker, heartbeats its load (which extends the
// leases of the jobs it holds and brings back cancel requests), claims the jobs the
// center assigned to it (or, in pull mode, pending jobs of its types) and runs each
// in its own task with a context carrying the job's timeout and deadline.
//
//   orca::jobs::Node node(broker, {.concurrency = 50});
//   node.handle("email", [](orca::Context ctx, orca::jobs::Job job)
//                            -> orca::Task<orca::Result<void>> { ... });
//   co_await node.run(ctx);   // until ctx is done, then a graceful shutdown
//
// Outcome of a handler: success; an error (retried with the job's backoff until its
// attempts run out, then dead); jobs::errc::permanent or a thrown PermanentError
// (failed at once, no retry); any other exception counts as a retryable error with
// its what() as the message. A job cancelled while it runs has its handler's context
// cancelled (in the same process at once through Center::cancel, from other
// processes at the next heartbeat) and ends cancelled whatever the handler returns,
// unless it succeeded.
//
// Acknowledgements: a finished job's outcome is sent to the broker until it takes it
// or fences it (lease_lost: the attempt is no longer this node's), however long the
// broker is away; meanwhile heartbeats keep naming the job, extending its lease.
// Only shutdown bounds this (step 3). The broker's outages are logged to stderr: one
// line when it becomes unreachable, one every 10 s while it stays so, one when it is
// back, with the outage's length.
//
// Graceful shutdown (when run's context is done):
//   1. stop claiming, and stop taking jobs a center hands over (start()): start()
//      decides between running its jobs and handing them back in one critical
//      section with this step, so every job it runs is counted before step 2 waits.
//      A claim already sent is waited for (up to 10 s), and the jobs it brings run:
//      the broker has started them in the node's name;
//   2. wait up to `grace` for running handlers to finish and their acknowledgements
//      to be taken (retried while the broker is away);
//   3. cancel the contexts of those still running and hand their jobs back
//      (pending again, the attempt not counted) once the handlers return; an
//      acknowledgement the broker still does not take is given up, with an error
//      naming its jobs (they run again once their leases expire);
//   4. wait for an attached center's routing round under way (before_leaving), whose
//      jobs start() hands back; stop heartbeating and deregister.
// A handler that ignores its context delays step 3 until it returns. end_grace()
// (e.g. at a second SIGINT) makes step 2's wait end at once. run() returns only once
// every task the node started (its handlers' tasks included) has ended: nothing of
// the node runs after it.
//
// Per-type circuit breaker (NodeOptions::breaker_enabled): each handled type has a
// resilience::CircuitBreaker. A handler's failure (an error it returns, retryable or
// permanent, a thrown exception, a timeout) counts as failed, a success as succeeded;
// a job cancelled by a user or handed back at shutdown counts as neither. When a
// type's breaker opens, the node takes no job of that type until it closes again, so
// its jobs wait pending instead of spending their attempts into the dead-letter set:
//   1. pull claims leave the type out of ClaimRequest::types;
//   2. the node registers again with the tag "breaker-open:TYPE" (kBreakerOpenTag),
//      at once (the heartbeat task is woken), so centers stop routing the type to it
//      and `orca nodes` shows it;
//   3. a job of the type that reaches the node anyway (assigned before the center saw
//      the tag) is handed back unrun: pending again, the attempt not counted;
//   4. once open_duration has passed, the claim loop's next round makes the breaker
//      half-open and claims `half_open_probes` jobs of the type itself (a pull claim
//      of that type alone, in either mode, since the tag still keeps centers away);
//   5. when the probes have reported, the breaker closes (the tag goes, centers route
//      the type again) or opens for another period.
// Each state change is logged to stderr (`orca: node w1: breaker for job type flaky
// opened: ...`); breakers() reports each type's state.
//
// Per-queue rate limits (NodeOptions::queue_rates), one resilience::Limiter per
// queue: on a broker that keeps shared limits (Broker::shared_rate_limiter: Redis)
// the limit holds across the whole fleet, every node on the store drawing from one
// limit by the store's clock; on one that does not (SQLite), and for a rate with a
// clock of its own (tests), each node limits itself (N nodes admit up to N times the
// rate). In a pull claim:
//   1. for each limited queue the node takes up to as many units as the claim has
//      free slots (Limiter::take_up_to: one decision, a single script call on Redis)
//      and caps the queue's pending jobs in the claim at what it was granted
//      (ClaimRequest::queue_caps);
//   2. units the claim found no jobs for are given back (Limiter::give_back), so a
//      node never holds more than it starts, and idle nodes take nothing from busy
//      ones.
// A limiter that fails (Redis unreachable) grants nothing: the queue's jobs wait
// (fail closed), and no wait outlasts the claim loop's context. A job of a limited
// queue that comes without a unit (assigned by a center, or handed over by one in
// this process) waits in its slot until the limiter grants it one, before its handler
// starts; shutdown's step 3 ends the wait (the job is handed back). So over any
// interval L a queue's handlers start at most burst + L * rate times, fleet-wide or
// per node as above.
// Visibility: the node registers the tag "fleet-rate:QUEUE=RATE" or
// "node-rate:QUEUE=RATE" for each limited queue, and "throttled:QUEUE" while its last
// request for the queue's units was cut short by the limit with jobs to take (updated
// at the next heartbeat, so at most one registration per heartbeat interval); with a
// breaker open, "breaker-held:QUEUE=TYPE" for the queues whose jobs of the held type
// failed on it. queue_status() (queue_status.hpp) reads them for `orca queues`.
//
// Adaptive concurrency (NodeOptions::adaptive_concurrency, `orca worker --concurrency
// auto`): the number of handlers run at once is a resilience::AdaptiveLimiter's limit,
// between NodeOptions::adaptive's min_limit and max_limit, instead of `concurrency`.
// Gradient by default (AIMD on request): a node's jobs seldom fail by timing out, which
// is all AIMD hears, while their run time rises as soon as the dependency they share
// queues them, which the gradient follows (its limit settles near tolerance * C +
// sqrt(C) for a dependency that serves C at once).
//   1. each claim asks for at most limit - running jobs (the limit read at the claim);
//   2. each job taken (claimed, or handed over by a center here) takes a permit, so
//      the limiter sees the node's use of its limit (none if the limit fell below the
//      jobs running meanwhile: the job runs, unsampled);
//   3. its outcome feeds the limiter: a success reports its run time; a timeout (the
//      job's own) or a rejection by the handler's dependency (resilience::is_rejection)
//      reports a drop; any other failure, a cancel or a hand-back reports nothing;
//   4. the limit is the capacity the node advertises: its registration is redone at
//      the next heartbeat after the limit moved, so centers elsewhere route by it (one
//      broker write per heartbeat interval at most), and a center in this process reads
//      capacity() directly.
// The limiter measures the handlers' unloaded run time first (gradient: min_limit jobs at
// once until min_rtt_samples have run), so a node starts slowly; it suits a node whose
// job types share one dependency and cost about the same, as their mean run time is
// what it watches.
//
// Thread safety: handle() before run(); notify(), cancel_local(), running(),
// capacity(), breakers() from any thread. One run() per Node. The Node must outlive run().
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "orca/jobs/broker.hpp"
#include "orca/jobs/detail/broker_reachability.hpp"
#include "orca/jobs/metrics.hpp"
#include "orca/resilience/adaptive_limiter.hpp"
#include "orca/resilience/circuit_breaker.hpp"
#include "orca/resilience/rate_limiter.hpp"
#include "orca/sync/channel.hpp"
#include "orca/sync/mutex.hpp"
#include "orca/sync/wait_group.hpp"

namespace orca::jobs {

namespace detail {
// A test seam: awaited by Node::start before it decides whether the node still takes
// work, so that a test can run a shutdown in between (tests/jobs/center_node_test.cpp).
struct NodeTestHooks {
  std::function<Task<void>()> before_start;
  // Replaces the run time of a handler that succeeded, as the adaptive limit hears it
  // (tests/jobs/node_resilience_test.cpp simulates a dependency's latency with it).
  std::function<std::chrono::nanoseconds(const Job&, std::chrono::nanoseconds measured)> run_time;
};
}  // namespace detail

using Handler = std::function<Task<Result<void>>(Context, Job)>;

struct NodeOptions {
  std::string id;        // empty: "<hostname>-<pid>-<random>"
  int concurrency = 10;  // handlers running at once
  std::vector<std::string> tags;
  std::chrono::milliseconds heartbeat_interval{1000};
  // How long the jobs it holds stay leased without a heartbeat; must exceed the
  // heartbeat interval. A node killed with kill -9 gets its jobs back after this (or
  // sooner, once a center declares it dead).
  std::chrono::milliseconds lease{5'000};
  // A queue's own lease, for its jobs, instead of `lease` (each must exceed the
  // heartbeat interval too).
  std::map<std::string, std::chrono::milliseconds> queue_leases;
  // How often to look for work without being notified (work assigned by a center in
  // another process, or pending jobs in pull mode).
  std::chrono::milliseconds poll_interval{100};
  bool pull = false;  // claim pending jobs of its types itself (PullPolicy)
  // Claims under way at once, each for its share of the free slots: while one
  // claim's jobs start, the next is already with a remote broker.
  int claimers = 2;
  QueueWeights weights;
  std::chrono::milliseconds grace{10'000};
  // A circuit breaker per job type (above). Off by default: a type whose jobs fail
  // often by design would otherwise be held back.
  bool breaker_enabled = false;
  // Each type's breaker options (defaults: 15% of the last 100 calls, at least 20 of
  // them, open for 30 s, 5 probes). `name` is set to the type; on_state_change, if
  // set, is called after the node's own log line.
  resilience::CircuitBreakerOptions breaker{};
  // Rate limits per queue (above), e.g. {"email", {.events = 100, .per = 1s}}, or
  // resilience::parse_rate("100/s"). Fleet-wide on a broker that keeps shared limits
  // (Redis; every node must give a queue the same rate), per node otherwise.
  std::map<std::string, resilience::RateLimiterOptions> queue_rates;
  // Where the node reports its jobs' ends, retries, run and wait times
  // (jobs/metrics.hpp); null: nowhere. Must outlive the node.
  JobMetrics* metrics = nullptr;
  // Concurrency found from the handlers' run times (above) instead of `concurrency`.
  bool adaptive_concurrency = false;
  // Its limiter's options (the algorithm, min_limit..max_limit, initial_limit); `name`
  // is set to the node's id. on_limit_change, if set, is called on each change.
  resilience::AdaptiveLimiterOptions adaptive{
      .initial_limit = 10, .min_limit = 1, .max_limit = 100};
  // Called after each handler run (not for jobs handed back unrun) with the job, its
  // outcome and the handler's run time, on the handler's task: quick and thread-safe
  // (jobs::P99Report, metrics).
  std::function<void(const Job&, Outcome, std::chrono::nanoseconds)> on_attempt_end;
};

// One job type's breaker, as breakers() reports it.
struct TypeBreakerStatus {
  std::string type;
  resilience::BreakerState state = resilience::BreakerState::kClosed;
  resilience::WindowTotals window;  // the current window (closed state)
  // Refusals since the node started: jobs handed back, and claim rounds that found
  // the breaker open (one per round and claimer).
  std::uint64_t rejected = 0;
  std::uint64_t state_changes = 0;
};

class Node {
 public:
  // Throws std::invalid_argument for bad options (concurrency or claimers < 1, a
  // lease not above the heartbeat interval, bad breaker, adaptive or queue rate options, a tag
  // with a reserved prefix: "breaker-open:", "breaker-held:", "fleet-rate:",
  // "node-rate:", "throttled:"); the message names the value.
  Node(Broker& broker, NodeOptions options);
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Registers the handler of a job type; before run().
  void handle(std::string type, Handler handler);

  // Registers, runs jobs until ctx is done, then shuts down gracefully (above).
  // Errors: the broker's, if the node cannot register.
  Task<Result<void>> run(Context ctx);

  // New work may be waiting: claim now instead of at the next poll.
  void notify() noexcept;
  // Runs jobs a center in this process already started for this node
  // (Assignment::start): their handlers are under way (and shutdown waits for them)
  // when it returns. Jobs handed over when the node does not take work (shutdown
  // has begun, or run() is not running) are handed back to the queue (pending again,
  // the attempt not counted) before it returns, by the caller's task: no call on the
  // broker outlives it. If the broker does not take the hand-back, their leases
  // expire and they run again.
  Task<void> start(std::vector<Job> jobs);
  // True between registration and the start of shutdown.
  bool accepting() const noexcept { return accepting_.load(std::memory_order_acquire); }
  // Cancels the handler of job `id` if it runs here (the job ends cancelled).
  bool cancel_local(JobId id) noexcept;
  // Ends shutdown's grace now, or makes it zero if shutdown has not begun: running
  // handlers are cancelled and their jobs handed back (step 3). Any thread.
  void end_grace() noexcept { end_grace_(); }
  // Called (from any thread) each time a handler finishes: a slot is free.
  void on_slot_free(std::function<void()> fn) { on_slot_free_ = std::move(fn); }
  // Awaited at shutdown, after the jobs are done and before deregistering (step 4):
  // a center in this process that may be handing jobs over (Center::attach).
  void before_leaving(std::function<Task<void>()> fn) { before_leaving_ = std::move(fn); }

  const std::string& id() const noexcept { return options_.id; }
  const NodeOptions& options() const noexcept { return options_; }
  // The leases it holds jobs under: options().lease, or its queue's.
  const Leases& leases() const noexcept { return leases_; }
  std::vector<std::string> types() const;
  int running() const noexcept { return running_.load(std::memory_order_relaxed); }
  // Handlers it runs at once now: `concurrency`, or the adaptive limit.
  int capacity() const noexcept { return adaptive_ ? adaptive_->limit() : options_.concurrency; }
  // The adaptive limiter (null unless adaptive_concurrency), for metrics.
  const resilience::AdaptiveLimiter* adaptive_limiter() const noexcept { return adaptive_.get(); }
  // Each handled type's breaker (empty unless breaker_enabled), by type.
  std::vector<TypeBreakerStatus> breakers() const;
  // The types it holds back now (their breakers are open or half-open).
  std::vector<std::string> held_types() const;
  // Whether queue's rate limit is shared by the fleet (false: per node, or no limit).
  bool fleet_limited(const std::string& queue) const;
  // The limited queues whose last request for units was cut short by the limit.
  std::vector<std::string> throttled_queues() const;

  detail::NodeTestHooks& test_hooks() noexcept { return test_hooks_; }

 private:
  struct Running {
    CancelFunc cancel;
    std::string queue;  // for metrics: the labels of its end
    std::string type;
    bool cancelled = false;    // by a user: the job ends cancelled
    bool handed_back = false;  // by shutdown: the job goes back to pending
  };

  // One rate-limited queue's limit.
  struct QueueLimit {
    std::unique_ptr<resilience::Limiter> limiter;
    bool fleet = false;                    // shared by every node on the store
    std::string rate;                      // resilience::format_rate of its options, for the tag
    std::chrono::nanoseconds interval{0};  // between two units (per / events)
    // Jobs that wait for a unit in their slots ask the limiter one at a time, in the
    // order they came: one call per unit due, not one per waiting job (a store's
    // limiter would otherwise be asked by every slot each time a unit comes).
    Mutex waiting;
    // The last request for its units was cut short by the limit. relaxed: a flag
    // for the registration, read at the next heartbeat; no data hangs on it.
    std::atomic<bool> throttled{false};
  };

  // A job on its way to its handler, with what admitted it: a breaker permit taken
  // before the claim (a half-open probe; otherwise execute() asks for one), and, for
  // a rate-limited queue's job that came without a unit taken before the claim, its
  // queue's limit, for the unit its handler waits for.
  struct Taken {
    Job job;
    resilience::CircuitBreaker::Permit permit;
    QueueLimit* pace = nullptr;
    resilience::AdaptiveLimiter::Permit sample;  // taken by launch(), when adaptive
  };

  // Counts `n` jobs in (running_, handlers_done_, tasks_) if the node still takes
  // work, under mu_ as shutdown's step 1 is: true if it does.
  bool accept(std::size_t n);
  // Starts the handlers of jobs accept() counted in.
  void launch(std::vector<Taken> jobs);
  Task<void> execute(Taken taken);
  Task<void> claim_loop(Context ctx);
  // One claim of up to `limit` jobs (pending ones of `types` too, if `pull`), each
  // rate-limited queue capped at the units its limiter admits now. If a limit held
  // jobs back, lowers *unit_due (if given) to the time until its next unit.
  Task<Result<std::vector<Taken>>> claim_once(Context ctx, std::vector<std::string> types,
                                              std::size_t limit, bool pull,
                                              std::chrono::nanoseconds* unit_due = nullptr);
  // The breaker of `type`, or null (breakers off, or no handler).
  resilience::CircuitBreaker* breaker_of(const std::string& type) const;
  // Logs a breaker's state change and has the registration redone (its tags).
  void on_breaker_change(const resilience::StateChange& change);
  Task<void> heartbeat_loop(Context ctx);
  Task<void> completion_loop(Context give_up);
  Task<void> acknowledge(Context give_up, std::vector<Completion> batch);
  Task<Result<void>> register_self(Context ctx);
  // Records a broker call's outcome for the outage log (one line when the broker
  // becomes unreachable, every 10 s while it stays so, one when it is back).
  void note_broker(const Error& e);
  // Calls `attempt` until it succeeds or a lease has passed (past that a center
  // declares the node dead anyway), backing off between tries; returns its last
  // result. For deregistration.
  template <class T>
  Task<Result<T>> retry_for_a_lease(std::function<Task<Result<T>>()> attempt);

  Broker& broker_;
  NodeOptions options_;
  Leases leases_;  // options_.lease and options_.queue_leases
  std::map<std::string, Handler> handlers_;
  // One per handled type when breaker_enabled, made by handle(); the map does not
  // change once run() starts, so any thread reads it without a lock.
  std::map<std::string, std::unique_ptr<resilience::CircuitBreaker>> breakers_;
  // One per rate-limited queue, made by the constructor; the map never changes.
  std::map<std::string, std::unique_ptr<QueueLimit>> queue_limits_;
  // Records whether a request for `limit`'s units was cut short; a change has the
  // registration redone at the next heartbeat (its tags).
  void note_throttled(QueueLimit& limit, bool throttled);
  // Waits in the job's slot until `limit` grants it a unit (node.hpp); the context's
  // error if it ends first.
  Task<Result<void>> wait_for_unit(Context ctx, QueueLimit& limit, const std::string& queue);
  // The concurrency limit when adaptive_concurrency (made by the constructor), else null.
  std::unique_ptr<resilience::AdaptiveLimiter> adaptive_;
  // The capacity the last registration told the broker; relaxed: only the heartbeat
  // task and run() (before it starts that task) touch it.
  std::atomic<int> advertised_capacity_{0};
  // A breaker changed state: the registration (its tags) is to be redone. Set by the
  // breaker's callback, cleared by the heartbeat task before it registers again
  // (set again if that fails); seq_cst, as a flag between tasks with no data behind it.
  std::atomic<bool> registration_stale_{false};
  // Wakes the heartbeat task: a registration to redo, or the broker's pushes (re)started
  // (watch's listening: a cancel request it did not push is read by a heartbeat).
  Channel<std::monostate> beat_now_{1};
  std::function<void()> on_slot_free_;
  std::function<Task<void>()> before_leaving_;
  Channel<std::monostate> wakeups_{1};  // notify(): at most one pending wake-up
  std::atomic<int> running_{0};
  int reserved_ = 0;  // slots a claim under way asks for; guarded by mu_
  std::atomic<bool> accepting_{false};
  // Parent of shutdown's grace timeout; end_grace() cancels it.
  Context grace_parent_;
  CancelFunc end_grace_;
  WaitGroup handlers_done_;
  // Every task the node starts besides those run() joins (the handlers' tasks): run()
  // waits for them before it returns.
  WaitGroup tasks_;
  detail::NodeTestHooks test_hooks_;
  // Guards running_jobs_, finished_, outage_, grace_over_, and accepting_'s changes
  // against accept(); never held across a suspension.
  std::mutex mu_;
  bool grace_over_ = false;  // shutdown's step 3 has begun: a handler starting now is cancelled
  // A job stays here from its start until the broker answers for its ack (accepted
  // or fenced): heartbeats name these jobs, extending their leases.
  std::map<JobId, Running> running_jobs_;
  // Per job type with a breaker, the queues whose jobs of the type failed here (the
  // "breaker-held:" tags name them while the breaker is open); at most
  // kHeldQueuesPerType per type, guarded by mu_.
  std::map<std::string, std::set<std::string>> failed_queues_;
  detail::OutageLog outage_{""};
  // Handlers that returned, waiting to be acknowledged: one task sends them all in
  // one broker call (the store commits them together), so a busy node makes one
  // call per batch instead of one per job. A slot is free once its handler returned;
  // shutdown waits for the acks too (handlers_done_).
  std::vector<Completion> finished_;
  Channel<std::monostate> finished_signal_{1};
};

}  // namespace orca::jobs
