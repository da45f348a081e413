// SqliteBroker: the embedded, durable broker. One SQLite file in WAL mode holds jobs,
// nodes, periodic entries and the audit log; several processes on one machine may
// share it (each opens its own SqliteBroker; SQLite's locking serialises writers).
//
// Every call is executed by one of the broker's two I/O threads, never on a scheduler
// worker: the calling task parks, and the I/O thread wakes it. Calls that may write
// go to the writer: those that arrive while a transaction is running are executed
// together in the next one (group commit), each inside its own savepoint, so a call's
// failure rolls back only that call while the group shares one commit. This is what
// makes durability affordable: throughput scales with concurrency instead of being
// one commit per call. Calls that only read (get, list, audit, queues, nodes,
// peek_pending, periodic) go to the reader, on its own connection and snapshot, so
// they neither queue behind commits nor take the writer's time; a read sees every
// call that returned before it was made.
//
// Durability: journal_mode=WAL, synchronous=NORMAL by default. A committed
// transaction survives the process being killed (kill -9) at any moment: the WAL is
// written before the call returns. It may be lost if the machine loses power before
// the OS writes it back; synchronous_full = true (an fsync per commit) covers that
// too, at a large cost in throughput on most disks.
//
// Thread safety: all Broker calls from any tasks concurrently. Construction and
// destruction from outside any broker call. Cancel safety: see broker.hpp; a call
// whose context is done before its I/O thread reaches it is skipped.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "orca/jobs/broker.hpp"

namespace orca::jobs {

struct SqliteOptions {
  std::string path = "orca-jobs.db";
  bool synchronous_full = false;                 // fsync every commit (power-loss safe); see above
  std::chrono::milliseconds busy_timeout{5000};  // waiting for another process's write lock
  std::size_t max_group = 512;                   // calls per transaction at most
  JobLimits limits;
};

class SqliteBroker final : public Broker {
 public:
  // Opens or creates the database and its schema, on the calling thread (it blocks
  // for the file's I/O: call it before orca::run, or from a blocking task).
  // Errors: broker_failure, with SQLite's message, when the file cannot be opened or
  // is not an orca database (or is one of a newer schema).
  static Result<std::unique_ptr<SqliteBroker>> open(SqliteOptions options);
  ~SqliteBroker() override;  // finishes calls in flight, then closes
  SqliteBroker(const SqliteBroker&) = delete;
  SqliteBroker& operator=(const SqliteBroker&) = delete;

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

  const SqliteOptions& options() const noexcept { return options_; }

 private:
  struct Impl;
  explicit SqliteBroker(SqliteOptions options);  // throws; open() reports
  SqliteOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace orca::jobs
