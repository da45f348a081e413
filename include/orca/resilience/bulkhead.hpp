// Bulkhead: at most `max_concurrent` calls to one dependency at a time, with a bounded
// queue of callers waiting for a slot, so a slow dependency ties up a fixed share of
// the tasks and connections instead of all of them.
//
//   orca::resilience::Bulkhead db({.max_concurrent = 20, .max_queue = 100,
//                                  .queue_timeout = 50ms});
//   auto r = co_await db.call(ctx, query);   // errc::bulkhead_full / queue_timeout
//
// Slots are an orca::Semaphore (FIFO: a waiter is served before later arrivals). A
// caller that finds no free slot joins the queue if fewer than max_queue wait, else is
// refused at once (bulkhead_full); a queued caller gives up after queue_timeout
// (queue_timeout) or when its context ends (the context's error).
//
// Thread safety: every member from any task; try_acquire and Permit's release also from
// plain threads. Cancel safety: an acquire cancelled while queued holds nothing (the
// semaphore's guarantee); if the slot is granted in the same instant, the caller gets it.
// Errors: the constructor throws std::invalid_argument for bad options (validate()).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "orca/context/context.hpp"
#include "orca/resilience/errors.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"
#include "orca/sync/semaphore.hpp"

namespace orca::resilience {

struct BulkheadOptions {
  std::string name{};
  std::int64_t max_concurrent = 25;  // >= 1
  std::int64_t max_queue = 0;        // callers allowed to wait; >= 0
  // How long a queued caller waits at most (0: until its context ends).
  std::chrono::nanoseconds queue_timeout{0};
};

std::string validate(const BulkheadOptions& options);

struct BulkheadMetrics {
  std::int64_t in_use;      // slots held now
  std::int64_t waiting;     // callers queued now
  std::uint64_t rejected;   // bulkhead_full since construction
  std::uint64_t timed_out;  // queue_timeout since construction
};

class Bulkhead {
 public:
  // A held slot; released when destroyed (or by release()).
  class Permit {
   public:
    Permit() noexcept = default;
    Permit(Permit&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
    Permit& operator=(Permit&& other) noexcept {
      if (this != &other) {
        release();
        owner_ = std::exchange(other.owner_, nullptr);
      }
      return *this;
    }
    ~Permit() { release(); }
    explicit operator bool() const noexcept { return owner_ != nullptr; }
    void release() noexcept {
      if (owner_ != nullptr) std::exchange(owner_, nullptr)->slots_.release(1);
    }

   private:
    friend class Bulkhead;
    explicit Permit(Bulkhead* owner) noexcept : owner_(owner) {}
    Bulkhead* owner_ = nullptr;
  };

  explicit Bulkhead(BulkheadOptions options = {});
  Bulkhead(const Bulkhead&) = delete;
  Bulkhead& operator=(const Bulkhead&) = delete;

  // A free slot now (true), or none (false); never queues.
  Permit try_acquire() noexcept;
  // A slot, waiting in the queue if needed (see the errors above).
  Task<Result<Permit>> acquire(const Context& ctx);
  // Runs fn(ctx) -> Task<Result<T>> holding a slot; the acquire's error if none.
  template <class F>
  auto call(const Context& ctx, F&& fn)
      -> Task<typename std::invoke_result_t<F&, const Context&>::value_type>;

  BulkheadMetrics metrics() noexcept;
  const BulkheadOptions& options() const noexcept { return options_; }

 private:
  const BulkheadOptions options_;
  Semaphore slots_;
  std::atomic<std::int64_t> waiting_{0};
  std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> timed_out_{0};
};

template <class F>
auto Bulkhead::call(const Context& ctx, F&& fn)
    -> Task<typename std::invoke_result_t<F&, const Context&>::value_type> {
  using R = typename std::invoke_result_t<F&, const Context&>::value_type;
  Result<Permit> permit = co_await acquire(ctx);
  if (!permit) co_return R(permit.error());
  auto task = fn(ctx);  // a named local: GCC PR 101367
  co_return co_await std::move(task);
}

}  // namespace orca::resilience
