// BlockingJob: one unit of work for the runtime's blocking-call thread pool.
#pragma once

namespace orca::detail {

struct TaskHeader;

struct BlockingJob {
  // Runs on a pool thread; must finish by waking `task` as its last action on the job.
  void (*run)(BlockingJob*) noexcept = nullptr;
  TaskHeader* task = nullptr;
  void* owner = nullptr;  // the awaiter that holds this job
  BlockingJob* next = nullptr;
};

// Queues the job for a pool thread, starting a new thread when none is idle.
// Throws std::logic_error when no runtime is running.
void submit_blocking(BlockingJob* job);

}  // namespace orca::detail
