// RedisBroker: the broker on Redis, for fleets larger than one machine. Same contract
// as every Broker (broker.hpp): each call is one atomic transition (one Lua script per
// queue touched), every state change is audited in the same script, and transitions
// a stale node could attempt are fenced by node and attempt.
//
// Keys. Everything of one queue lives under one hash tag, `<prefix>:{<queue>}:`, so
// each script touches a single slot and the broker runs on Redis Cluster; every
// script declares every key it touches (KEYS), including each job's own keys, which
// is why a pull claim reads its candidates first and then takes them in a script that
// skips any another node took meanwhile. The registry (job-id counter, queue numbers,
// nodes, periodic entries, leadership leases, and `dying`: the nodes declared dead
// whose jobs reap has not yet reclaimed in every queue) lives under
// `<prefix>:{<prefix>}:`; a lease is the hash `lease:<name>` there (holder, token,
// exp), never deleted, so its token only grows.
//
//   <q>:job:<id>        hash: the job's state (short fields: Redis keeps it compact)
//   <q>:spec:<id>       string: the spec with its payload (JSON, written once)
//   <q>:audit:<id>      string: the job's audit trail, one JSON line per change
//                       ([from, to, node, attempt, at_ms, error(, actor)])
//   <q>:pending:<type>  zset: pending jobs of a type, by priority then age
//   <q>:delayed         zset: scheduled and retrying jobs, by the time they are due
//   <q>:active          zset: leased and running jobs, by lease expiry
//   <q>:node:<node>     set: the jobs leased to or running on a node
//   <q>:leased:<node>   set: the jobs leased to a node, not yet claimed
//   <q>:finished        zset: succeeded and cancelled jobs, by the time they finished
//                       (retention)
//   <q>:dead            zset: failed and dead jobs (the dead-letter set), by id
//   <q>:dead_at         zset: the same jobs, by the time they finished (their own
//                       retention)
//   <q>:all             zset: every job of the queue, for listing
//   <q>:unique          hash: unique key -> live job
//   <q>:counts          hash: state -> jobs in it
//   <q>:types           set: every type enqueued on the queue (whose pending zsets
//                       queues() looks in for the oldest pending job; a job enqueued
//                       by a build older than the set counts once its type is
//                       enqueued again)
//   <q>:cancels         hash: running job -> node, cancel requested, not yet seen
//   <q>:paused          string, while the queue is paused: {"by": actor, "at": ms};
//                       the claim and assign scripts give none of its pending jobs
//
// A job id is (sequence << 16) | queue number: any process finds a job's queue, and
// so its keys, from the id alone. Queue numbers are given out on first use.
//
// Time: scripts read the server's clock (TIME), so leases and due times do not
// depend on the clocks of the machines that run nodes or centers (promotion and
// reaping pick their candidates by the server's TIME too). Deadlines and run_at times are
// the producers' wall-clock times, as with SQLite.
//
// Events: cancel() of a running job publishes on `<prefix>:cancel`, and scripts that
// make jobs pending publish on `<prefix>:work`; nodes (Node::run watches both
// through watch()) cancel the handler at once instead of at their next heartbeat,
// and claim at once instead of at their next poll.
//
// Errors: errc::broker_failure when Redis cannot be reached or answers with an error
// (the Error's message has its text), besides the contract's errors. No call is retried
// inside the broker: a call that fails for want of Redis may or may not have taken
// effect, as the contract's rule 4 allows for any interrupted call.
// Thread safety: all calls from any tasks concurrently.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "orca/jobs/broker.hpp"

namespace orca::jobs {

struct RedisBrokerOptions {
  // redis://[user:password@]host:port/db, or with `cluster`, any master of the cluster.
  std::string url = "redis://127.0.0.1:6379/0";
  bool cluster = false;
  std::string prefix = "orca";  // key namespace: several orca installations may share a Redis
  std::size_t connections = 3;  // per server
  JobLimits limits;
};

class RedisBroker final : public Broker {
 public:
  // Connects (every pooled connection, so a bad address or password is reported
  // here). Errors: invalid_job for a malformed URL or key prefix, broker_failure when
  // Redis cannot be reached; the Error's message says which and why.
  static Task<Result<std::unique_ptr<RedisBroker>>> connect(Context ctx,
                                                            RedisBrokerOptions options);
  ~RedisBroker() override;
  RedisBroker(const RedisBroker&) = delete;
  RedisBroker& operator=(const RedisBroker&) = delete;

  Task<Result<std::vector<EnqueueResult>>> enqueue(Context ctx,
                                                   std::vector<JobSpec> specs) override;
  Task<Result<JobState>> cancel(Context ctx, JobId id) override;
  Task<Result<void>> requeue(Context ctx, JobId id) override;
  Task<Result<void>> set_queue_paused(Context ctx, std::string queue, bool paused) override;
  Task<Result<void>> remove(Context ctx, JobId id) override;
  Task<Result<std::int64_t>> requeue_dead(Context ctx, std::string queue) override;
  Task<Result<std::int64_t>> delete_finished(Context ctx, std::string queue,
                                             std::optional<JobState> state) override;
  Task<Result<Job>> get(Context ctx, JobId id) override;
  Task<Result<std::vector<Job>>> list(Context ctx, JobFilter filter) override;
  Task<Result<std::vector<AuditEntry>>> audit(Context ctx, JobId id) override;
  Task<Result<std::vector<QueueStats>>> queues(Context ctx) override;
  Task<Result<std::vector<NodeInfo>>> nodes(Context ctx) override;
  Task<Result<std::vector<Job>>> peek_pending(Context ctx, PeekRequest req) override;
  Task<Result<std::vector<JobId>>> assign(Context ctx, std::vector<Assignment> assignments,
                                          std::chrono::milliseconds lease) override;
  Task<Result<std::size_t>> promote_due(Context ctx) override;
  Task<Result<std::size_t>> reap(Context ctx, std::chrono::milliseconds node_timeout) override;
  Task<Result<TrimReport>> trim(Context ctx, Retention retention) override;
  Task<Result<void>> put_periodic(Context ctx, PeriodicEntry entry) override;
  Task<Result<std::vector<PeriodicEntry>>> periodic(Context ctx) override;
  Task<Result<bool>> fire_periodic(Context ctx, std::string name, WallClock::time_point expected,
                                   WallClock::time_point next) override;
  Task<Result<std::optional<LeaseGrant>>> acquire_lease(Context ctx, std::string name,
                                                        std::string holder,
                                                        std::chrono::milliseconds ttl) override;
  Task<Result<bool>> release_lease(Context ctx, std::string name, std::string holder,
                                   std::int64_t token) override;
  Task<Result<void>> register_node(Context ctx, NodeInfo node) override;
  Task<Result<HeartbeatReply>> heartbeat(Context ctx, std::string node, int load, Leases lease,
                                         std::vector<JobId> held) override;
  Task<Result<void>> deregister_node(Context ctx, std::string node) override;
  Task<Result<std::vector<Job>>> claim(Context ctx, ClaimRequest req) override;
  Task<Result<std::vector<Result<JobState>>>> complete(
      Context ctx, std::vector<Completion> completions) override;
  // Subscribes to `<prefix>:cancel` and `<prefix>:work` (and resubscribes after Redis
  // comes back).
  Task<Result<void>> watch(Context ctx, BrokerEvents events) override;
  // A redis::FleetRateLimiter (broker.hpp): limits shared by every process on this
  // Redis (or cluster), by its clock.
  std::unique_ptr<resilience::Limiter> shared_rate_limiter(
      const resilience::RateLimiterOptions& options) override;

  const RedisBrokerOptions& options() const noexcept { return options_; }
  // Closes the connections and waits for their background tasks: the last call on
  // the broker, from a task of the runtime it was connected on.
  Task<void> closed();

 private:
  struct Impl;
  RedisBroker(RedisBrokerOptions options, std::unique_ptr<Impl> impl);
  RedisBrokerOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace orca::jobs
