// orca::net's own error values. System failures (refused, reset, broken pipe...)
// come back as std::error_code in std::system_category with the errno value, a
// context that ends as orca::errc::canceled / deadline_exceeded, and the cases
// below, which have no errno of their own (name resolution's EAI_* codes among them;
// EAI_SYSTEM comes back as its errno, EAI_MEMORY as std::errc::not_enough_memory).
#pragma once

#include <system_error>
#include <type_traits>

namespace orca::net {

enum class errc {
  closed = 1,          // the socket was closed (by close(), possibly from another task)
  unexpected_eof = 2,  // read_exact: the peer closed before the buffer was full
  busy = 3,            // a second read (or write) while one is already waiting: misuse
  // Name resolution (orca::net::resolve, getaddrinfo's EAI_* codes):
  no_such_host = 4,        // EAI_NONAME / EAI_NODATA: the name has no address (NXDOMAIN)
  resolver_temporary = 5,  // EAI_AGAIN: no answer from the resolver in time; may pass later
  resolver_failure = 6,    // EAI_FAIL and the rest: the resolver failed for good
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace orca::net

template <>
struct std::is_error_code_enum<orca::net::errc> : std::true_type {};
