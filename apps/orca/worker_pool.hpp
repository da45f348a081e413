// WorkerPool: `orca serve --workers MIN..MAX` — worker processes (`orca worker`)
// that serve starts, restarts and stops as the load asks (jobs::ScalingPolicy).
//
// Every interval the pool reads the broker (jobs pending in queues not paused, jobs
// running and slots on the live nodes) and lets the policy decide; more workers
// start at once, fewer stop by SIGTERM (the newest first), so a stopping worker
// finishes or hands back its jobs within its grace as any worker does. A worker that
// exits unasked is logged and replaced, after a pause that doubles (1 s to 60 s)
// while workers keep dying young. When the pool's run ends, every worker gets
// SIGTERM and the pool waits for them (their grace plus 5 s; then SIGKILL).
//
// The workers are children of this process and watch it (worker --supervisor-pid):
// a serve killed by SIGKILL leaves no worker running without its supervisor; each
// stops as at a SIGTERM. A Redis broker URL reaches them in their
// environment (ORCA_BROKER), not on their command line, where `ps` would show its
// password.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "orca/jobs/broker.hpp"
#include "orca/jobs/scaling_policy.hpp"
#include "orca/orca.hpp"

namespace orca::cli::detail {

struct WorkerPoolOptions {
  std::string executable;                // the orca binary
  std::vector<std::string> worker_args;  // after the executable, without --id
  std::string broker_url;                // ORCA_BROKER for the workers; "" for none
  std::string id_prefix;                 // worker ids: PREFIX-w1, PREFIX-w2, ...
  jobs::ScalingOptions scaling;
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds grace{10000};  // the workers' own
};

class WorkerPool {
 public:
  WorkerPool(jobs::Broker& broker, WorkerPoolOptions options);
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool();  // SIGKILLs and reaps any worker still there (run() not awaited)

  // Scales until ctx is done, then stops every worker and waits for them.
  Task<void> run(Context ctx);

 private:
  struct Child {
    std::string id;
    pid_t pid = -1;
    bool stopping = false;  // sent SIGTERM by the pool
    std::chrono::steady_clock::time_point started;
  };

  int live() const noexcept;  // started and not stopping
  bool start_one();
  void stop_one();
  void reap();
  Task<void> observe_and_scale(Context ctx);
  Task<void> stop_all();

  jobs::Broker& broker_;
  WorkerPoolOptions options_;
  jobs::ScalingPolicy policy_;
  std::vector<Child> children_;
  int next_id_ = 1;
  std::set<std::string> started_ids_;  // every worker id the pool used
  int last_logged_ = -1;               // the count the last "workers A -> B" line named
  // Restarts after unasked exits: not before next_start_, with restart_pause_
  // doubling while workers die within kYoung of their start.
  std::chrono::steady_clock::time_point next_start_{};
  std::chrono::milliseconds restart_pause_{1000};
};

}  // namespace orca::cli::detail
