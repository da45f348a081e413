// go / spawn: start a top-level task, detached or with a JoinHandle.
//
// Both take any callable: one returning Task<R> (a coroutine lambda) or a plain
// value. The callable is moved into the new task's frame before it starts, so a
// lambda's captures live exactly as long as the task: capturing by value is always
// safe, whatever the caller's scope does next.
//
// A task that throws: with spawn, the exception is rethrown where the handle is
// awaited; with go, or a JoinHandle dropped unawaited, nobody can observe it, so
// the process stops with a message naming the task (as an unrecovered Go panic does).
#pragma once

#include <concepts>
#include <cstdio>
#include <exception>
#include <functional>
#include <type_traits>
#include <utility>

#include "orca/runtime/exceptions.hpp"
#include "orca/runtime/task.hpp"

namespace orca {

namespace detail {

template <class T>
struct IsTask : std::false_type {};
template <class T>
struct IsTask<Task<T>> : std::true_type {};

// What a callable's task produces: R for Task<R>, else the plain return type.
template <class F>
struct TaskOutput {
  using type = std::invoke_result_t<F&>;
};
template <class F>
requires IsTask<std::invoke_result_t<F&>>::value struct TaskOutput<F> {
  using type = typename std::invoke_result_t<F&>::value_type;
};

template <class R>
struct RootPromise;

template <class R>
struct RootTask {
  using promise_type = RootPromise<R>;
  std::coroutine_handle<promise_type> handle;
};

template <class R>
struct RootPromiseBase {
  TaskResult<R> result;

  static void* operator new(std::size_t size) {
    TaskHeader* header = allocate_root(size);
    header->frame_size = static_cast<std::uint32_t>(size);
    return header->frame();
  }
  // The block outlives the frame while JoinHandles hold it: release_task frees it.
  static void operator delete(void*, std::size_t) noexcept {}

  TaskHeader* header() noexcept {
    return TaskHeader::of_frame(
        std::coroutine_handle<RootPromise<R>>::from_promise(static_cast<RootPromise<R>&>(*this))
            .address());
  }

  RootTask<R> get_return_object() noexcept {
    return {
        std::coroutine_handle<RootPromise<R>>::from_promise(static_cast<RootPromise<R>&>(*this))};
  }
  std::suspend_always initial_suspend() noexcept { return {}; }
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    void await_suspend(std::coroutine_handle<RootPromise<R>> self) noexcept {
      finish_current(self.promise().header());
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }

  void unhandled_exception() noexcept {
    result.set_error(std::current_exception());
    header()->on_unjoined_failure = &report_unjoined_failure;
  }

  static void report_unjoined_failure(TaskHeader* header) noexcept {
    auto& promise = std::coroutine_handle<RootPromise<R>>::from_address(header->frame()).promise();
    const char* what = "an exception not derived from std::exception";
    try {
      std::rethrow_exception(promise.result.error());
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    std::fprintf(stderr, "orca: task %llu failed and nobody joined it: %s\n",
                 static_cast<unsigned long long>(header->id), what);
    std::terminate();
  }
};

template <class R>
struct RootPromise : RootPromiseBase<R> {
  template <class U>
  void return_value(U&& v) {
    this->result.set_value(std::forward<U>(v));
  }
};
template <>
struct RootPromise<void> : RootPromiseBase<void> {
  void return_void() noexcept { this->result.set_value(); }
};

// The body of every top-level task. `f` is a parameter taken by value, so the
// coroutine frame owns the callable (and its captures) for the task's lifetime.
template <class F, class R>
RootTask<R> run_root(F f) {
  if constexpr (IsTask<std::invoke_result_t<F&>>::value) {
    // A named local, not a temporary in the co_await operand (GCC PR 101367).
    auto task = std::invoke(f);
    if constexpr (std::is_void_v<R>) {
      co_await std::move(task);
    } else {
      co_return co_await std::move(task);
    }
  } else if constexpr (std::is_void_v<R>) {
    std::invoke(f);
  } else {
    co_return std::invoke(f);
  }
}

template <class F>
using OutputOf = typename TaskOutput<std::decay_t<F>>::type;

template <class F>
TaskHeader* make_root(F&& f) {
  auto root = run_root<std::decay_t<F>, OutputOf<F>>(std::forward<F>(f));
  TaskHeader* header = root.handle.promise().header();
  header->resume_point = root.handle;
  return header;
}

}  // namespace detail

// Waits for a spawned task and yields its result (or rethrows its exception).
// Move-only; dropping it detaches the task. Await it at most once, from a task.
template <class R>
class [[nodiscard]] JoinHandle {
 public:
  JoinHandle() noexcept = default;
  explicit JoinHandle(detail::TaskHeader* header) noexcept : header_(header) {}
  JoinHandle(JoinHandle&& other) noexcept : header_(std::exchange(other.header_, nullptr)) {}
  JoinHandle& operator=(JoinHandle&& other) noexcept {
    if (this != &other) {
      reset();
      header_ = std::exchange(other.header_, nullptr);
    }
    return *this;
  }
  JoinHandle(const JoinHandle&) = delete;
  JoinHandle& operator=(const JoinHandle&) = delete;
  ~JoinHandle() { reset(); }

  bool valid() const noexcept { return header_ != nullptr; }
  // True once the task has returned or thrown.
  bool finished() const noexcept {
    return header_->state.load(std::memory_order_acquire) == detail::TaskState::kFinished;
  }
  std::uint64_t task_id() const noexcept { return header_->id; }

  auto operator co_await() && noexcept {
    struct Awaiter {
      detail::TaskHeader* target;
      bool await_ready() noexcept {
        return target->state.load(std::memory_order_acquire) == detail::TaskState::kFinished &&
               detail::consume_budget();
      }
      bool await_suspend(std::coroutine_handle<> self) noexcept {
        detail::TaskHeader* me = detail::current_task();
        if (target->state.load(std::memory_order_acquire) == detail::TaskState::kFinished) {
          detail::yield_current(self);  // finished, but this task's budget is spent
          return true;
        }
        detail::prepare_park(me, self, "join");
        detail::TaskHeader* none = nullptr;
        // acq_rel: publishes our park state; on failure acquires the finished result.
        if (target->joiner.compare_exchange_strong(none, me, std::memory_order_acq_rel))
          return true;
        detail::cancel_park(me);
        return false;
      }
      R await_resume() { return take_result(target); }
    };
    return Awaiter{header_};
  }

  // The result of a finished task, outside any task (e.g. after orca::run returned).
  R take() && { return take_result(header_); }

 private:
  static R take_result(detail::TaskHeader* header) {
    if (header->flags.load(std::memory_order_acquire) & detail::TaskHeader::kAbandoned)
      throw TaskAbandoned("orca: task was destroyed at shutdown before it finished");
    header->flags.fetch_or(detail::TaskHeader::kJoined, std::memory_order_relaxed);
    auto& promise =
        std::coroutine_handle<detail::RootPromise<R>>::from_address(header->frame()).promise();
    return promise.result.take();
  }

  void reset() noexcept {
    if (header_ != nullptr) detail::release_task(std::exchange(header_, nullptr));
  }

  detail::TaskHeader* header_ = nullptr;
};

// Starts `f` as a detached task. Throws std::logic_error outside orca::run.
template <class F>
void go(F&& f) {
  detail::TaskHeader* header = detail::make_root(std::forward<F>(f));
  try {
    detail::schedule_new(header);
  } catch (...) {
    detail::release_task(header);
    throw;
  }
}

// Starts `f` as a task and returns the handle that joins it.
template <class F>
JoinHandle<detail::OutputOf<F>> spawn(F&& f) {
  detail::TaskHeader* header = detail::make_root(std::forward<F>(f));
  header->refs.store(2, std::memory_order_relaxed);  // the task and the handle
  header->flags.store(detail::TaskHeader::kJoinable, std::memory_order_relaxed);
  JoinHandle<detail::OutputOf<F>> handle(header);
  try {
    detail::schedule_new(header);
  } catch (...) {
    detail::release_task(header);  // the task's own reference; the handle drops the other
    throw;
  }
  return handle;
}

}  // namespace orca
