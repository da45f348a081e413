// orca::Error: what went wrong, as a code to branch on (std::error_code) and, when
// the failing layer knows more, a message to show (SQLite's or Redis's text, the
// rule a job spec broke). Every fallible orca call returns one inside its Result
// (result.hpp), so an error's text travels with the call that failed: two calls
// failing at once each keep their own.
//
// Invariant: an Error without a code has no message (a default Error is "no error").
//
// Comparisons look at the code only: `err == errc::canceled`,
// `err == jobs::errc::not_found`, `err == std::errc::timed_out` (an error_condition)
// read as they do for std::error_code. An Error converts to std::error_code where
// one is expected (dropping the message), so code that only branches on the code
// needs no change.
//
// Cost: the message is shared, immutable and allocated only when there is one; an
// Error made from a code alone (a cancellation, a closed channel) allocates nothing
// and copies as two words plus a null pointer.
//
// Thread safety: an Error is a value; copies may be used from any threads.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "orca/runtime/errc.hpp"

namespace orca {

namespace detail {
// An enum that converts to std::error_code (orca::errc, jobs::errc, std::io_errc...),
// and one that converts to std::error_condition (std::errc).
template <class E>
concept error_code_enum = std::is_error_code_enum_v<E>;
template <class E>
concept error_condition_enum = std::is_error_condition_enum_v<E>;
}  // namespace detail

class Error {
 public:
  Error() noexcept = default;                            // no error
  Error(std::error_code code) noexcept : code_(code) {}  // NOLINT: implicit, like error_code
  template <detail::error_code_enum E>
  Error(E e) noexcept : code_(make_error_code(e)) {}  // NOLINT: found by ADL, as std's
  // A code with the failing layer's own words (empty `detail`: none). A detail
  // without a code is a bug: the Error stays "no error" and drops it.
  Error(std::error_code code, std::string detail);

  const std::error_code& code() const noexcept { return code_; }
  explicit operator bool() const noexcept { return static_cast<bool>(code_); }
  operator std::error_code() const noexcept { return code_; }  // NOLINT: drops the detail

  // The code's message, then ": " and the detail if there is one, e.g.
  // "broker failure: disk I/O error".
  std::string message() const;
  // The failing layer's own words alone (empty if none).
  std::string_view detail() const noexcept {
    return detail_ ? std::string_view(*detail_) : std::string_view();
  }

  friend bool operator==(const Error& a, const Error& b) noexcept { return a.code_ == b.code_; }
  friend bool operator==(const Error& a, const std::error_code& b) noexcept { return a.code_ == b; }
  friend bool operator==(const Error& a, const std::error_condition& b) noexcept {
    return a.code_ == b;
  }
  template <detail::error_code_enum E>
  friend bool operator==(const Error& a, E b) noexcept {
    return a.code_ == make_error_code(b);
  }
  template <detail::error_condition_enum E>
  friend bool operator==(const Error& a, E b) noexcept {
    return a.code_ == make_error_condition(b);
  }

 private:
  std::error_code code_;
  std::shared_ptr<const std::string> detail_;  // null: no detail
};

// Prints message() (for logs and test failures).
std::ostream& operator<<(std::ostream& out, const Error& e);

}  // namespace orca
