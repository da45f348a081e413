// Errors of the resilience layer, as std::error_code values (category
// "orca.resilience"): why a protected call was refused without running. A call that
// ran and failed returns its own error, untouched.
#pragma once

#include <system_error>
#include <type_traits>

namespace orca::resilience {

enum class errc {
  circuit_open = 1,    // the circuit breaker is open (or half-open with every probe out)
  rate_limited = 2,    // a rate limiter refused the call
  bulkhead_full = 3,   // the bulkhead's slots and its wait queue are all taken
  queue_timeout = 4,   // waited in the bulkhead's queue for longer than its queue timeout
  limit_exceeded = 5,  // the adaptive limiter's current limit is reached (load shed)
  too_large = 6,       // a request for more units than the limiter's burst can ever admit
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

// True for the errors above that mean "refused before running" (circuit_open,
// rate_limited, bulkhead_full, queue_timeout, limit_exceeded): the dependency was not
// called, so a retry or a fallback need not fear a double effect.
bool is_rejection(std::error_code error) noexcept;

}  // namespace orca::resilience

template <>
struct std::is_error_code_enum<orca::resilience::errc> : std::true_type {};
