// Task<T>: a lazy, move-only coroutine that produces a T (or throws).
//
// A Task does nothing until awaited; `co_await task` starts it by symmetric
// transfer and resumes the awaiter when it finishes, so an await chain of any depth
// runs in constant stack. An exception thrown in the task is rethrown in the
// awaiter. A Task that is destroyed without being awaited destroys its frame.
//
// Thread safety: a Task object is owned by one awaiter; it is not shared.
#pragma once

#include <cassert>
#include <coroutine>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

#include "orca/runtime/detail/frame_allocator.hpp"
#include "orca/runtime/detail/scheduling.hpp"

namespace orca {

template <class T = void>
class Task;

namespace detail {

struct TaskPromiseBase {
  std::coroutine_handle<> continuation;

  static void* operator new(std::size_t size) { return allocate_frame(size); }
  static void operator delete(void* frame, std::size_t size) noexcept {
    deallocate_frame(frame, size);
  }

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
      return transfer_to(self.promise().continuation);
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
};

// Holds the task's outcome: nothing yet, a value, or an exception.
template <class T>
class TaskResult {
 public:
  TaskResult() noexcept {}
  ~TaskResult() {
    if (kind_ == Kind::kValue) value_.~Stored();
    if (kind_ == Kind::kError) error_.~exception_ptr();
  }

  template <class U>
  void set_value(U&& v) {
    if constexpr (std::is_reference_v<T>) {
      new (&value_) Stored(std::addressof(v));
    } else {
      new (&value_) Stored(std::forward<U>(v));
    }
    kind_ = Kind::kValue;
  }
  void set_error(std::exception_ptr e) noexcept {
    new (&error_) std::exception_ptr(std::move(e));
    kind_ = Kind::kError;
  }
  bool has_error() const noexcept { return kind_ == Kind::kError; }
  const std::exception_ptr& error() const noexcept { return error_; }

  // Rethrows a stored exception, else hands over the value.
  T take() {
    if (kind_ == Kind::kError) std::rethrow_exception(error_);
    assert(kind_ == Kind::kValue && "Task result taken before the task finished");
    if constexpr (std::is_reference_v<T>) {
      return *value_;
    } else {
      return std::move(value_);
    }
  }

 private:
  using Stored = std::conditional_t<std::is_reference_v<T>, std::remove_reference_t<T>*, T>;
  enum class Kind : unsigned char { kEmpty, kValue, kError };
  Kind kind_ = Kind::kEmpty;
  union {
    Stored value_;
    std::exception_ptr error_;
  };
};

template <>
class TaskResult<void> {
 public:
  void set_value() noexcept { done_ = true; }
  void set_error(std::exception_ptr e) noexcept { error_ = std::move(e); }
  bool has_error() const noexcept { return error_ != nullptr; }
  const std::exception_ptr& error() const noexcept { return error_; }
  void take() {
    if (error_) std::rethrow_exception(error_);
    assert(done_ && "Task result taken before the task finished");
  }

 private:
  bool done_ = false;
  std::exception_ptr error_;
};

template <class T>
struct TaskPromise : TaskPromiseBase {
  TaskResult<T> result;
  Task<T> get_return_object() noexcept;
  void unhandled_exception() noexcept { result.set_error(std::current_exception()); }
  template <class U = T>
  requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) { result.set_value(std::forward<U>(v)); }
};

template <>
struct TaskPromise<void> : TaskPromiseBase {
  TaskResult<void> result;
  Task<void> get_return_object() noexcept;
  void unhandled_exception() noexcept { result.set_error(std::current_exception()); }
  void return_void() noexcept { result.set_value(); }
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::TaskPromise<T>;
  using value_type = T;

  Task() noexcept = default;
  explicit Task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (handle_) handle_.destroy();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (handle_) handle_.destroy();
  }

  bool valid() const noexcept { return static_cast<bool>(handle_); }

  auto operator co_await() && noexcept {
    struct Awaiter {
      std::coroutine_handle<promise_type> child;
      bool await_ready() noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiter) noexcept {
        child.promise().continuation = awaiter;
        return detail::transfer_to(child);
      }
      T await_resume() { return child.promise().result.take(); }
    };
    assert(handle_ && "co_await on an empty Task");
    return Awaiter{handle_};
  }

 private:
  std::coroutine_handle<promise_type> handle_;
};

namespace detail {
template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}
}  // namespace detail

}  // namespace orca
