// Broker: the durable store of jobs, nodes and the audit log, as an abstract async
// interface. The embedded SQLite broker (sqlite_broker.hpp) and the Redis broker
// implement it; the center and nodes use nothing else, so they run on either.
//
// Contract for implementations:
//  1. Every call is one atomic transition of the store: it happens entirely or not at
//     all, also when several processes share the store (SQLite: one transaction;
//     Redis: one Lua script that declares its keys). Batch calls (enqueue, assign,
//     claim, complete) are atomic per item: an item whose precondition no longer
//     holds is skipped and reported, the others apply.
//  2. Every state change appends an audit entry (job, from, to, node, attempt, time,
//     error, and for enqueue, cancel and requeue the ctx's actor_of) in the same
//     transition.
//  3. Transitions that a stale actor could attempt (a node whose lease was reclaimed)
//     are fenced: they name the node and the attempt, and fail with lease_lost.
//  4. A call checks its context first: a done context returns its error and changes
//     nothing. Once started a call is not interrupted (cancel safety: its effect is
//     all-or-nothing; a caller that gave up may not learn which).
//
// Thread safety: all calls may be made concurrently from any number of tasks.
// Errors: every call returns its own Error (orca/runtime/error.hpp) in its Result:
// a jobs::errc code (invalid_job, not_found, lease_lost, invalid_state,
// broker_failure) or the context's error, with the store's own text in the message
// where there is one (SQLite's or Redis's words for a broker_failure, the rule a
// spec broke for invalid_job). Concurrent calls never see each other's errors.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/jobs/errors.hpp"
#include "orca/jobs/job.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::resilience {
class Limiter;
struct RateLimiterOptions;
}  // namespace orca::resilience

namespace orca::jobs {

struct EnqueueResult {
  JobId id = 0;
  bool duplicate = false;  // a live job already held the unique key: this is its id
};

// Queue name -> weight. A queue missing from the map has weight 1. Each claim picks
// queues at random in proportion to weight, so a low-weight queue still gets its
// share (no starvation); within a queue, higher priority first, then FIFO.
using QueueWeights = std::map<std::string, int>;

// How long a node's hold on a job lasts without a heartbeat: one length for every
// queue, or a queue's own (a queue of long jobs whose handlers may stall for a while
// can be given more room, a queue of quick ones less, so a dead node's jobs come
// back sooner).
struct Leases {
  Leases() = default;
  // Implicit: a single duration is the same lease for every queue.
  template <class Rep, class Period>
  Leases(std::chrono::duration<Rep, Period> every_queue)  // NOLINT
      : fallback(std::chrono::duration_cast<std::chrono::milliseconds>(every_queue)) {}
  Leases(std::chrono::milliseconds others, std::map<std::string, std::chrono::milliseconds> own)
      : fallback(others), by_queue(std::move(own)) {}
  std::chrono::milliseconds fallback{std::chrono::seconds(30)};
  std::map<std::string, std::chrono::milliseconds> by_queue;

  std::chrono::milliseconds of(const std::string& queue) const {
    auto it = by_queue.find(queue);
    return it == by_queue.end() ? fallback : it->second;
  }
  std::chrono::milliseconds longest() const {
    std::chrono::milliseconds most = fallback;
    for (const auto& [queue, lease] : by_queue)
      most = std::max(most, lease);
    return most;
  }
};

struct PeekRequest {
  std::vector<std::string> types;  // only jobs of these types
  std::size_t limit = 64;
  QueueWeights weights;
};

struct Assignment {
  JobId id = 0;
  int attempt = 0;  // the job's attempt count when it was peeked (fencing)
  std::string node;
  // Start it at once (running, attempt + 1) instead of leaving it leased until the
  // node claims it: for a node in the center's own process, which is handed the job
  // directly. Saves a transition and a round trip per job.
  bool start = false;
  // This job's lease instead of the call's, if above zero: a job started for a node
  // gets the lease the node keeps it under (its queue's, NodeOptions::queue_leases).
  std::chrono::milliseconds lease{0};
};

struct ClaimRequest {
  std::string node;
  std::vector<std::string> types;  // pull: pending jobs of these types
  std::size_t limit = 1;
  Leases lease;
  bool pull_pending = false;  // also take pending jobs, not only those assigned to `node`
  QueueWeights weights;
  // Pull: at most this many pending jobs of each queue named here (0: none of it),
  // whatever the limit; other queues are not capped. A node's per-queue rate limits
  // (NodeOptions::queue_rates) set these to what their limiters admit now. Jobs
  // assigned to the node are taken whatever the caps.
  std::map<std::string, std::size_t> queue_caps;
};

enum class Outcome : std::uint8_t {
  kSucceeded,
  kRetryable,  // retried after retry_delay, or dead when attempts are exhausted
  kPermanent,  // failed, no retry
  kCancelled,  // the handler stopped because the job was cancelled
  kHandBack,   // not run to the end (graceful shutdown): pending again, attempt not counted
};

struct Completion {
  JobId id = 0;
  std::string node;
  int attempt = 0;  // the attempt the node ran (fencing)
  Outcome outcome = Outcome::kSucceeded;
  std::string error;
  std::chrono::milliseconds retry_delay{0};
};

enum class NodeState : std::uint8_t { kAlive, kLeft, kDead };
std::string_view to_string(NodeState s) noexcept;

struct NodeInfo {
  std::string id;
  std::vector<std::string> types;  // job types it has handlers for
  std::vector<std::string> tags;   // capability tags (informational for routing policies)
  int capacity = 1;                // concurrency limit
  int load = 0;                    // running handlers at the last heartbeat
  int active = 0;                  // jobs leased or running on it now (from the store)
  NodeState state = NodeState::kAlive;
  std::int64_t pid = 0;
  WallClock::time_point started_at{};
  WallClock::time_point heartbeat_at{};
};

// The job types that the live nodes among `nodes` handle.
std::set<std::string> live_types(const std::vector<NodeInfo>& nodes);

// A node that holds back a type it handles (its circuit breaker for the type is open
// or half-open: NodeOptions::breaker_enabled) registers the tag "breaker-open:TYPE"
// for as long as it does. The type stays among its types (it still handles it: jobs
// of the type are not unroutable, they wait), but centers route none of its jobs to
// that node meanwhile, and `orca nodes` and GET /api/nodes show the tag. Nodes refuse
// user tags with this prefix.
inline constexpr std::string_view kBreakerOpenTag = "breaker-open:";
// Whether `node` holds back `type` (the tag above).
bool holds_back(const NodeInfo& node, std::string_view type);
// The other tags a node keeps for itself (Node, node.hpp), read by queue_status():
// "breaker-held:QUEUE=TYPE": type TYPE, held back as above, failed on the node with
// jobs of QUEUE; "fleet-rate:QUEUE=RATE" and "node-rate:QUEUE=RATE": the node limits
// QUEUE to RATE (resilience::format_rate), shared by the fleet or its own;
// "throttled:QUEUE": the node's last request for QUEUE's units was cut short by the
// limit. Nodes refuse user tags with these prefixes too.
inline constexpr std::string_view kBreakerHeldTag = "breaker-held:";
inline constexpr std::string_view kFleetRateTag = "fleet-rate:";
inline constexpr std::string_view kNodeRateTag = "node-rate:";
inline constexpr std::string_view kThrottledTag = "throttled:";

struct HeartbeatReply {
  std::vector<JobId> cancel_requested;  // running jobs of this node to cancel
  bool known = true;  // false: the node had been declared dead; it should re-register
};

struct JobFilter {
  std::optional<JobState> state;
  std::string type;          // empty: any
  std::string queue;         // empty: any
  std::string node;          // empty: any
  std::string trace_id;      // empty: any; else one trace's jobs (job_trace.hpp), scanned
  std::string error;         // empty: any; else jobs whose last error contains it, scanned
  bool dead_letter = false;  // only failed and dead jobs
  std::size_t limit = 100;
  JobId before_id = 0;  // paging: ids below this (0: from the newest)
};

struct AuditEntry {
  std::int64_t seq = 0;  // orders one job's entries
  JobId job = 0;
  std::optional<JobState> from;  // nothing for the enqueue
  JobState to = JobState::kPending;
  std::string node;
  int attempt = 0;
  WallClock::time_point at{};
  std::string error;
  // Who asked for the change (actor.hpp): set on the rows of enqueue, cancel and
  // requeue made under with_actor; empty otherwise, and on rows older than the field.
  std::string actor;
};

struct QueueStats {
  std::string queue;
  std::map<JobState, std::int64_t> counts;
  // When the queue's longest-waiting pending job became due (its ready_at): now minus
  // this is the queue's lag. Nothing when no job is pending. Priority plays no part:
  // it is the oldest due time over all priorities and types. Both brokers read it from
  // their pending index: one seek per distinct priority of pending jobs (on Redis, per
  // job type and priority), not a scan of the jobs.
  std::optional<WallClock::time_point> oldest_pending_due;
  // Paused (Broker::set_queue_paused): no job of it is assigned or claimed. A paused
  // queue is listed even when it holds no job.
  bool paused = false;
  std::string paused_by;  // the actor that paused it (actor.hpp), "" if none was set
  std::optional<WallClock::time_point> paused_at;
};

// Jobs per transaction (SQLite) or script (Redis) of the bulk calls (requeue_dead,
// delete_finished): a queue of a million jobs is worked through in steps that other
// calls interleave with, never held in one.
inline constexpr std::size_t kBulkBatch = 500;

// What trim keeps. Jobs go with their audit trails. Succeeded and cancelled jobs and
// the dead-letter set (failed and dead jobs) are bounded apart, so a flood of
// successes never pushes a dead letter out; dead letters are kept longer by default,
// since someone has to look at them. A live job's trail stays while it lives (bounded
// by its transitions), unless max_audit_entries cuts the oldest jobs' rows.
struct Retention {
  // Succeeded and cancelled jobs: those finished before max_age go, then the oldest
  // beyond the newest max_finished_jobs.
  std::chrono::milliseconds max_age{std::chrono::hours(24 * 7)};
  std::int64_t max_finished_jobs = 100'000;
  // Failed and dead jobs, the same way with their own bounds.
  std::chrono::milliseconds dead_max_age{std::chrono::hours(24 * 30)};
  std::int64_t max_dead_jobs = 100'000;
  // Audit rows of all jobs, live or not: the oldest jobs' rows go first.
  std::int64_t max_audit_entries = 1'000'000;
};

struct TrimReport {
  std::int64_t jobs_deleted = 0;
  std::int64_t audit_deleted = 0;
  std::int64_t nodes_deleted = 0;
};

struct PeriodicEntry {
  std::string name;
  std::string schedule;  // "@every 30s" or a 5-field cron spec (schedule.hpp)
  JobSpec spec;          // the template of each job it produces
  WallClock::time_point next_run{};
};

// A leadership lease granted by acquire_lease. The token identifies one holder's
// tenure: it stays the same while that holder renews, and every new holder gets a
// larger one, for as long as the store lives (released or expired leases included).
struct LeaseGrant {
  std::int64_t token = 0;
  // By the broker's clock (Redis: the server's TIME; SQLite: the machine's wall
  // clock). A holder measures its own tenure with its own clock from when it asked
  // (see Center), never by comparing this with its clock.
  WallClock::time_point expires{};
};

struct BrokerEvents {
  std::function<void(JobId)> cancel_requested;
  std::function<void()> work_pending;
  // The pushes start here: called once watch() is confirmed listening, and again each
  // time it listens anew (after its connection broke). What happened before (a cancel
  // requested meanwhile) was not pushed and never will be: read it now (a node beats).
  std::function<void()> listening;
};

class Broker {
 public:
  virtual ~Broker() = default;

  // --- producers -------------------------------------------------------------------
  // Adds jobs (state pending, or scheduled when run_at is in the future). A spec with
  // a unique key held by a live job is not added: its result names the live job
  // (duplicate = true). invalid_job if any spec fails check_job_spec: nothing added.
  virtual Task<Result<std::vector<EnqueueResult>>> enqueue(Context ctx,
                                                           std::vector<JobSpec> specs) = 0;
  Task<Result<EnqueueResult>> enqueue_one(Context ctx, JobSpec spec);

  // Live or running -> cancelled at once, except a running job: it is flagged
  // (cancel_requested) and its node cancels the handler; the job then ends cancelled.
  // Returns the state after the call. invalid_state for a finished job.
  virtual Task<Result<JobState>> cancel(Context ctx, JobId id) = 0;
  // failed/dead -> pending, attempts reset. invalid_state for any other state.
  virtual Task<Result<void>> requeue(Context ctx, JobId id) = 0;

  // --- administration ----------------------------------------------------------------
  // Pauses (paused = true) or resumes a queue. While paused, no job of it is assigned
  // or claimed by any process on the store (jobs already leased to a node still run);
  // enqueue still adds to it. The state is kept in the store, with the ctx's actor_of
  // and the time (QueueStats), until resumed; pausing a paused queue keeps its first
  // actor and time. invalid_job for a bad queue name.
  virtual Task<Result<void>> set_queue_paused(Context ctx, std::string queue, bool paused) = 0;
  // Deletes a finished job (succeeded, failed, cancelled, dead) with its audit trail.
  // not_found; invalid_state for a live job.
  virtual Task<Result<void>> remove(Context ctx, JobId id) = 0;
  // Every dead job of `queue` -> pending, as requeue does one (a job whose unique key
  // a live job holds stays dead). Works through the jobs in batches of kBulkBatch,
  // each atomic: dead jobs that arrive meanwhile may or may not be taken. Returns
  // how many were requeued. invalid_job for a bad queue name.
  virtual Task<Result<std::int64_t>> requeue_dead(Context ctx, std::string queue) = 0;
  // Deletes the finished jobs of `queue` (only those in `state`, which must be a
  // finished state, if given) with their audit trails, in batches as requeue_dead.
  // Returns how many. invalid_job for a bad queue name or a live state.
  virtual Task<Result<std::int64_t>> delete_finished(Context ctx, std::string queue,
                                                     std::optional<JobState> state) = 0;

  // --- queries ---------------------------------------------------------------------
  virtual Task<Result<Job>> get(Context ctx, JobId id) = 0;                        // not_found
  virtual Task<Result<std::vector<Job>>> list(Context ctx, JobFilter filter) = 0;  // newest first
  virtual Task<Result<std::vector<AuditEntry>>> audit(Context ctx, JobId id) = 0;  // oldest first
  virtual Task<Result<std::vector<QueueStats>>> queues(Context ctx) = 0;
  virtual Task<Result<std::vector<NodeInfo>>> nodes(Context ctx) = 0;

  // --- the center --------------------------------------------------------------------
  // Pending jobs, queues picked by weight, without changing them.
  virtual Task<Result<std::vector<Job>>> peek_pending(Context ctx, PeekRequest req) = 0;
  // pending -> leased to the node (or running, with start), lease `lease` (or the
  // assignment's own, Assignment::lease). Returns
  // the ids of the jobs that were still pending at the peeked attempt, on a node
  // still alive: the caller holds their peeked state and applies the transition.
  virtual Task<Result<std::vector<JobId>>> assign(Context ctx, std::vector<Assignment> assignments,
                                                  std::chrono::milliseconds lease) = 0;
  // scheduled/retrying whose time has come -> pending. Returns how many.
  virtual Task<Result<std::size_t>> promote_due(Context ctx) = 0;
  // Nodes without a heartbeat for `timeout` -> dead; their leased and running jobs ->
  // pending at their place in the queue (their ready time and order, ahead of the
  // jobs enqueued after them: the node failed, not the job). A running job's attempt
  // counts: one with no attempts left ends dead, one whose cancel was requested
  // cancelled. Also reclaims expired leases of any node the same way. Returns jobs
  // moved.
  virtual Task<Result<std::size_t>> reap(Context ctx, std::chrono::milliseconds node_timeout) = 0;
  virtual Task<Result<TrimReport>> trim(Context ctx, Retention retention) = 0;
  // Periodic jobs: stored so that any center can fire them, exactly once per run.
  virtual Task<Result<void>> put_periodic(Context ctx, PeriodicEntry entry) = 0;
  virtual Task<Result<std::vector<PeriodicEntry>>> periodic(Context ctx) = 0;
  // If `name`'s next run is still `expected`: enqueue its job and set next to `next`
  // (false if another center fired it first).
  virtual Task<Result<bool>> fire_periodic(Context ctx, std::string name,
                                           WallClock::time_point expected,
                                           WallClock::time_point next) = 0;

  // Leadership: a named lease held by one holder at a time, for the duties of the
  // center that need one actor (center.hpp). Grants the lease `name` to `holder` for
  // `ttl` from now (the broker's clock) if it is free, expired, or already held by
  // `holder` (a renewal: the token stays); a holder taking it from no one or from
  // another holder gets the last token + 1, so tokens increase strictly, forever.
  // Nothing (std::nullopt) while another holder's lease runs.
  virtual Task<Result<std::optional<LeaseGrant>>> acquire_lease(Context ctx, std::string name,
                                                                std::string holder,
                                                                std::chrono::milliseconds ttl) = 0;
  // Frees the lease if `holder` still holds it with `token` (true); the next holder
  // need not wait for it to expire. The token is kept: the next grant is token + 1.
  virtual Task<Result<bool>> release_lease(Context ctx, std::string name, std::string holder,
                                           std::int64_t token) = 0;

  // --- nodes -------------------------------------------------------------------------
  virtual Task<Result<void>> register_node(Context ctx, NodeInfo node) = 0;
  // Records load and extends leases. `held`: the jobs the node runs, or ran and has not yet had
  // acknowledged. Only those of its running jobs get their leases extended (and every job leased to
  // it and not yet claimed): a running job it does not name, because a claim's reply was lost or it
  // gave up acknowledging, is left to expire and run again.
  virtual Task<Result<HeartbeatReply>> heartbeat(Context ctx, std::string node, int load,
                                                 Leases lease, std::vector<JobId> held) = 0;
  // The node leaves: it keeps no lease (its leased jobs -> pending).
  virtual Task<Result<void>> deregister_node(Context ctx, std::string node) = 0;
  // Jobs assigned to the node (and, with pull_pending, pending jobs of its types)
  // -> running, attempt + 1.
  virtual Task<Result<std::vector<Job>>> claim(Context ctx, ClaimRequest req) = 0;
  // Ends attempts. Per item: the job's state after it, or lease_lost if the node no
  // longer runs that attempt. A retryable failure of a job with cancel_requested
  // ends cancelled; one past max_attempts (or deadline) ends dead.
  virtual Task<Result<std::vector<Result<JobState>>>> complete(
      Context ctx, std::vector<Completion> completions) = 0;

  // Events pushed as they happen, for brokers that can (Redis pub/sub), until ctx is
  // done: a cancel request for a running job (it may run on any node), and "jobs
  // became pending" (worth claiming now rather than at the next poll); and when the
  // pushes (re)start (listening), since what happened while none could come is not
  // pushed later. Called from the watching task. The default returns not_supported at
  // once: nodes then learn of cancellations at their next heartbeat and of work at
  // their next poll.
  virtual Task<Result<void>> watch(Context ctx, BrokerEvents events);

  // A rate limiter whose state is in the store, so that every process on it shares
  // each limit (a key passed to the limiter names one limit: nodes pass the queue),
  // or null if the store keeps none (the default, and SQLite's: nodes then limit per
  // process). Redis: a redis::FleetRateLimiter on the broker's connections, its keys
  // `<prefix>:limit:{<key>}` (a queue's limit in its queue's slot). Every holder of
  // one limit must give it the same options. Throws std::invalid_argument for options
  // the store cannot keep (Redis: above a million per second). The limiter uses the
  // broker's connections: the broker must outlive it.
  virtual std::unique_ptr<resilience::Limiter> shared_rate_limiter(
      const resilience::RateLimiterOptions& options);
};

}  // namespace orca::jobs
