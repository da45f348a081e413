// Result<T>: a value or an Error (error.hpp), as Go returns (v, err).
//
//   orca::Result<int> r = co_await ch.recv(ctx);
//   if (!r) co_return r.error();  // canceled, deadline_exceeded, closed...
//   use(*r);
//
// Invariant: a Result holds exactly one of a value and an error (a Result<void>
// without an error is a success).
//
// Checked access: *, -> and value() on a Result that holds an error are a bug in
// the caller, and abort the program with the error's message ("orca::Result: value
// of a failed result: broker failure: disk I/O error") instead of reading an
// unbuilt value. Test `if (r)` (or has_value()) first, or use value_or.
//
// Early return in a coroutine: ORCA_CO_TRY (below) unwraps a Result or co_returns
// its error, like Go's `if err != nil { return err }` or Rust's `?`:
//
//   Task<Result<std::size_t>> count_pending(Context ctx, Broker& broker) {
//     ORCA_CO_TRY(jobs, co_await broker.list(ctx, {.state = JobState::kPending}));
//     co_return jobs.size();
//   }
//
// Thread safety: a Result is a value; const access from several threads is safe.
#pragma once

#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "orca/runtime/error.hpp"

namespace orca {

namespace detail {
// Prints "orca::Result: <what>: <the error's message>" and aborts.
[[noreturn]] void result_misuse(const char* what, const Error& error) noexcept;
}  // namespace detail

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit, like a return value
  Result(Error error) noexcept : error_(std::move(error)) {}  // NOLINT
  Result(std::error_code error) noexcept : error_(error) {}   // NOLINT
  template <detail::error_code_enum E>
  Result(E error) noexcept : error_(error) {}  // NOLINT

  bool has_value() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  // The error; a default Error (no error) if the Result holds a value.
  const Error& error() const noexcept { return error_; }

  T& value() & {
    check("value of a failed result");
    return *value_;
  }
  const T& value() const& {
    check("value of a failed result");
    return *value_;
  }
  T&& value() && {
    check("value of a failed result");
    return std::move(*value_);
  }
  T& operator*() & noexcept {
    check("* on a failed result");
    return *value_;
  }
  const T& operator*() const& noexcept {
    check("* on a failed result");
    return *value_;
  }
  T&& operator*() && noexcept {
    check("* on a failed result");
    return std::move(*value_);
  }
  T* operator->() noexcept {
    check("-> on a failed result");
    return &*value_;
  }
  const T* operator->() const noexcept {
    check("-> on a failed result");
    return &*value_;
  }

  // The value, or `fallback` if the Result holds an error.
  template <class U>
  T value_or(U&& fallback) const& {
    return value_ ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }
  template <class U>
  T value_or(U&& fallback) && {
    return value_ ? std::move(*value_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void check(const char* what) const noexcept {
    if (!value_) [[unlikely]]
      detail::result_misuse(what, error_);
  }

  std::optional<T> value_;
  Error error_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() noexcept = default;
  Result(Error error) noexcept : error_(std::move(error)) {}  // NOLINT
  Result(std::error_code error) noexcept : error_(error) {}   // NOLINT
  template <detail::error_code_enum E>
  Result(E error) noexcept : error_(error) {}  // NOLINT

  bool has_value() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return has_value(); }
  const Error& error() const noexcept { return error_; }
  // Aborts with the error's message if there is one (the checked way to say "this
  // cannot fail").
  void value() const noexcept {
    if (error_) [[unlikely]]
      detail::result_misuse("value of a failed result", error_);
  }

 private:
  Error error_;
};

}  // namespace orca

#define ORCA_DETAIL_CONCAT_INNER(a, b) a##b
#define ORCA_DETAIL_CONCAT(a, b) ORCA_DETAIL_CONCAT_INNER(a, b)
#define ORCA_DETAIL_CO_TRY(var, expr, tmp) \
  auto tmp = (expr);                       \
  if (!tmp) co_return tmp.error();         \
  auto var = std::move(*tmp)

// ORCA_CO_TRY(var, expr): in a coroutine returning Task<Result<U>> (any U), evaluates
// `expr` (a Result<T>, typically `co_await call(...)`) into a local; if it holds an
// error, co_returns that error (its message included); otherwise declares
// `auto var` holding the value, moved out. A statement: use it at block scope, not
// as the body of an unbraced if. The co_await sits in a declaration's initializer,
// never in a condition (GCC 12 miscompiles a co_await inside an if condition).
#define ORCA_CO_TRY(var, expr) \
  ORCA_DETAIL_CO_TRY(var, expr, ORCA_DETAIL_CONCAT(orca_co_try_, __COUNTER__))

// ORCA_CO_TRY_VOID(expr): the same for a Result<void> (or a Result whose value is not
// needed): co_returns its error, if any.
#define ORCA_CO_TRY_VOID(expr) \
  ORCA_DETAIL_CO_TRY_VOID(expr, ORCA_DETAIL_CONCAT(orca_co_try_, __COUNTER__))
#define ORCA_DETAIL_CO_TRY_VOID(expr, tmp) \
  auto tmp = (expr);                       \
  if (!tmp) co_return tmp.error()
