// Semaphore: a weighted semaphore for orca tasks (Go's x/sync/semaphore): bounds
// how much of something (connections, memory, concurrent jobs) tasks hold at once.
//
//   orca::Semaphore sem(10);
//   if (auto r = co_await sem.acquire(ctx, 3); !r) return r.error();
//   ... use 3 units ...
//   sem.release(3);
//
// Fairness: FIFO. A waiter is admitted only when every earlier waiter has been,
// so a large request is not starved by a stream of small ones (Go does the same);
// release() admits as many waiters, in order, as now fit, in one batch.
//
// Errors: the context's error if it is done before the units are granted;
// std::errc::invalid_argument for a request larger than the semaphore's size
// (it could never be granted; Go would block until the context ends).
// release() of more than is held is a programmer error: std::logic_error.
//
// Cancel safety: an acquire parked with a context wakes when the context is done,
// leaves the queue and returns the context's error, holding nothing; the waiters
// behind it are reconsidered at once. If units are granted in the same instant,
// the grant wins: the acquire succeeds and the caller must release.
//
// Thread safety: every member from any task; try_acquire and release also from
// plain threads.
#pragma once

#include <coroutine>
#include <cstdint>
#include <system_error>

#include "orca/context/context.hpp"
#include "orca/runtime/result.hpp"
#include "orca/sync/detail/parked_wait.hpp"

namespace orca {

class Semaphore {
 public:
  class AcquireAwaiter;

  // Throws std::invalid_argument if size < 0.
  explicit Semaphore(std::int64_t size);
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // co_await sem.acquire(ctx, n) -> Result<void>: waits until n units are free
  // (and every earlier waiter was served), then takes them.
  [[nodiscard]] AcquireAwaiter acquire(const Context& ctx, std::int64_t n = 1) noexcept;
  // As acquire(ctx, n), without cancellation.
  [[nodiscard]] AcquireAwaiter acquire(std::int64_t n = 1) noexcept;
  // Takes n units if they are free and nobody waits; never parks.
  bool try_acquire(std::int64_t n = 1) noexcept;
  // Returns n units and admits the waiters that now fit.
  void release(std::int64_t n = 1);

  std::int64_t size() const noexcept { return size_; }
  // Units not held right now (a snapshot).
  std::int64_t available() noexcept;

 private:
  // Under lock_: grants waiters from the front while they fit; their tasks are
  // linked into `batch`.
  void admit_locked(detail::TaskHeader*& batch) noexcept;
  void withdraw(detail::WaitNode& node) noexcept;

  const std::int64_t size_;
  detail::SpinLock lock_;
  std::int64_t held_ = 0;      // guarded by lock_
  detail::WaitQueue waiters_;  // guarded by lock_; each node's slot -> its weight
};

class Semaphore::AcquireAwaiter {
 public:
  AcquireAwaiter(Semaphore& sem, detail::CancelNode* cancel, std::int64_t n) noexcept
      : sem_(sem), n_(n), wait_(cancel) {}
  AcquireAwaiter(const AcquireAwaiter&) = delete;
  AcquireAwaiter& operator=(const AcquireAwaiter&) = delete;
  ~AcquireAwaiter() {
    // Destroyed while parked (runtime teardown; nothing runs concurrently).
    if (state_ == State::kPending && wait_.parked() && wait_.node().linked)
      sem_.withdraw(wait_.node());
  }

  bool await_ready() noexcept {
    if (wait_.context_done()) {
      state_ = State::kCanceled;
    } else if (n_ > sem_.size_ || n_ < 0) {
      state_ = State::kInvalid;
    } else if (n_ == 0) {
      state_ = State::kAcquired;
    } else {
      return false;
    }
    return detail::consume_budget();
  }

  // Out of line: nothing of the frame may be touched once parked (LLVM 56301).
  [[gnu::noinline]] bool await_suspend(std::coroutine_handle<> self) noexcept;

  Result<void> await_resume() noexcept {
    if (state_ == State::kPending) {
      if (wait_.resumed_by_object()) {
        state_ = State::kAcquired;
      } else {
        sem_.withdraw(wait_.node());
        state_ = State::kCanceled;
      }
    }
    switch (state_) {
      case State::kAcquired:
        return {};
      case State::kInvalid:
        return std::make_error_code(std::errc::invalid_argument);
      default:
        return wait_.context_error();
    }
  }

 private:
  enum class State : std::uint8_t { kPending, kAcquired, kCanceled, kInvalid };

  Semaphore& sem_;
  std::int64_t n_;
  State state_ = State::kPending;
  detail::ParkedWait<detail::WaitNode> wait_;
};

inline Semaphore::AcquireAwaiter Semaphore::acquire(const Context& ctx, std::int64_t n) noexcept {
  return AcquireAwaiter(*this, ctx.node()->canceller, n);
}
inline Semaphore::AcquireAwaiter Semaphore::acquire(std::int64_t n) noexcept {
  return AcquireAwaiter(*this, nullptr, n);
}

}  // namespace orca
