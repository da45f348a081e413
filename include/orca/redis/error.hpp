// orca::redis::errc: what can go wrong talking to Redis besides the transport
// (std::errc from the socket, e.g. connection_refused) and the context
// (orca::errc::canceled / deadline_exceeded). Values of std::error_code, like the
// other layers' errors.
//
// A -ERR reply to command() or pipeline() is not an error of the call: it comes
// back as a Reply with is_error() (its text is the server's message). server_error
// is used only where a helper expected a value and got an error reply (SELECT,
// CLUSTER SLOTS, Reply::as_int on an error reply...).
#pragma once

#include <system_error>
#include <type_traits>

namespace orca::redis {

enum class errc {
  invalid_url = 1,         // not redis://[user:password@]host[:port][/db]
  connection_lost = 2,     // the connection broke (EOF, I/O error) or is not up yet
  protocol_error = 3,      // the server's bytes are not RESP: the connection is dropped
  server_error = 4,        // an error reply where a helper expected a value
  auth_failed = 5,         // AUTH was refused (wrong user or password)
  unexpected_reply = 6,    // a reply of the wrong type for the helper (as_int on a nil...)
  closed = 7,              // the connection or client was closed by its owner
  too_many_redirects = 8,  // cluster: MOVED/ASK more times than ClusterOptions allow
  slot_not_covered = 9,    // cluster: no known master owns the key's slot
  lock_not_held = 10,      // RedisLock: the lease is gone on a majority of its servers
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace orca::redis

template <>
struct std::is_error_code_enum<orca::redis::errc> : std::true_type {};
