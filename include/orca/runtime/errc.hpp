// orca's error values. Operations that can fail in the ordinary course (a
// cancelled context, a closed channel, a passed deadline) return them instead of
// throwing: cancellation is a hot path and must stay cheap. They are
// std::error_code values, so users can compare them, print them, and use their own
// error categories for causes.
//
// Generic code that knows only std::errc can recognise a context's errors: an
// errc::canceled error_code compares equal to std::errc::operation_canceled and
// errc::deadline_exceeded to std::errc::timed_out (error_code == error_condition,
// either way round; error_codes of two categories never compare equal).
#pragma once

#include <string>
#include <system_error>
#include <type_traits>

namespace orca {

enum class errc {
  canceled = 1,           // the context was cancelled (Go's context.Canceled)
  deadline_exceeded = 2,  // the context's deadline passed (context.DeadlineExceeded)
  closed = 3,             // the channel is closed
  would_block = 4,        // a try_ operation could not complete at once
  negative_counter = 5,   // a WaitGroup counter went below zero
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace orca

template <>
struct std::is_error_code_enum<orca::errc> : std::true_type {};
