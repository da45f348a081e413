// TaskHeader: the control block of one top-level task (what `go`/`spawn` start).
// It sits directly in front of the task's root coroutine frame, in a block of the
// enumerable root pool, so the runtime can list every live task without keeping a
// shared registry on the spawn path. A block whose state is `kFree` holds no task.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>

namespace orca::detail {

enum class TaskState : std::uint32_t {
  kFree = 0,  // block unused; zero so fresh (mmap'd) slabs read as free
  kRunnable,  // in a run queue, or about to be
  kRunning,   // on a worker right now
  kParked,    // waiting; `wait_reason` says on what
  kFinished,  // returned or threw; the frame lives on until the last reference drops
};

struct alignas(64) TaskHeader {
  // Intrusive link: the injection queue while runnable, the pool's free list while free.
  TaskHeader* next = nullptr;
  // Written only by the task itself (or the worker that owns it while it is not
  // running); read by the report code when the runtime is quiescent.
  std::atomic<TaskState> state{TaskState::kRunnable};
  // Live references: the running task itself plus one per JoinHandle.
  std::atomic<std::uint32_t> refs{1};
  // Innermost suspended coroutine of this task: what a worker resumes.
  std::coroutine_handle<> resume_point;
  // Why the task is parked ("sleep", "chan receive", ...); static strings only.
  std::atomic<const char*> wait_reason{nullptr};
  std::uint64_t id = 0;
  // The task that waits in `JoinHandle::await`, or `joiner_closed()` once finished.
  std::atomic<TaskHeader*> joiner{nullptr};
  // Set when the task ends with an exception: reports it if nobody joins the task.
  void (*on_unjoined_failure)(TaskHeader*) noexcept = nullptr;
  // Size the compiler asked for the frame; the block is freed when `refs` drops to 0.
  std::uint32_t frame_size = 0;
  // kFrameDestroyed: the coroutine frame is gone (finished and released, or
  // abandoned at shutdown); kAbandoned: the task never finished.
  std::atomic<std::uint32_t> flags{0};
  static constexpr std::uint32_t kFrameDestroyed = 1;
  static constexpr std::uint32_t kAbandoned = 2;
  static constexpr std::uint32_t kJoined = 4;    // a JoinHandle took the result
  static constexpr std::uint32_t kJoinable = 8;  // spawned with a JoinHandle: refs shared

  // The root coroutine frame begins right after the header.
  void* frame() noexcept { return reinterpret_cast<std::byte*>(this) + sizeof(TaskHeader); }
  static TaskHeader* of_frame(void* frame) noexcept {
    return reinterpret_cast<TaskHeader*>(static_cast<std::byte*>(frame) - sizeof(TaskHeader));
  }
  static TaskHeader* joiner_closed() noexcept {
    // An address no real header can have: headers are 64-byte aligned.
    return reinterpret_cast<TaskHeader*>(std::uintptr_t{1});
  }
};

static_assert(sizeof(TaskHeader) == 64, "the header is one cache line in front of the frame");

}  // namespace orca::detail
