// Errors of the jobs layer, as std::error_code values (category "orca.jobs"), and the
// exception a handler may throw to fail its job permanently.
#pragma once

#include <stdexcept>
#include <system_error>
#include <type_traits>

namespace orca::jobs {

enum class errc {
  invalid_job = 1,     // the spec breaks a rule (check_job_spec says which)
  not_found = 2,       // no job (or node) with that id
  lease_lost = 3,      // the node no longer holds the job's lease (reclaimed, cancelled)
  invalid_state = 4,   // the transition is not allowed from the job's state
  not_supported = 5,   // e.g. a broker URL scheme that is not implemented
  broker_failure = 6,  // the store failed (I/O error, corruption); the Error's message says how
  permanent = 7,       // returned by a handler: fail the job without retrying
  bad_schedule = 8,    // a periodic schedule that does not parse
  shutting_down = 9,   // the broker or node is stopping
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

// Thrown by a handler (or returned as errc::permanent) to fail its job at once,
// skipping the remaining attempts: the job goes to the dead-letter set as failed.
class PermanentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace orca::jobs

template <>
struct std::is_error_code_enum<orca::jobs::errc> : std::true_type {};
