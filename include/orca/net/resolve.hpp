// resolve: a host name or IP literal to the socket addresses to try, in order.
//
//   auto addrs = co_await orca::net::resolve(ctx, "redis.default.svc", 6379);
//   if (!addrs) co_return addrs.error();   // e.g. orca::net::errc::no_such_host
//   for (const orca::net::Address& a : *addrs) ...
//
// An IPv4 literal ("10.0.0.7") or IPv6 literal without brackets ("::1") is parsed on
// the spot: no lookup, no thread. Any other name goes to the C library's
// getaddrinfo (so /etc/hosts, nsswitch.conf and resolv.conf apply, as for every
// other program on the machine), run on the runtime's blocking pool, never on a
// worker. Both families are asked for (AF_UNSPEC) with AI_ADDRCONFIG: no IPv6
// addresses on a machine with no IPv6 address configured, and the other way round.
// "localhost" and "*.localhost" skip AI_ADDRCONFIG, because it ignores loopback
// addresses when it counts what is configured and would hide ::1 from a server
// listening only there. The addresses come back in getaddrinfo's order (RFC 6724:
// the preferred destination first), duplicates removed, never empty.
//
// Errors: the context's error (orca::errc::canceled / deadline_exceeded) when it
// ends first; orca::net::errc::no_such_host (EAI_NONAME, NXDOMAIN; also an empty
// name or one with a NUL byte), errc::resolver_temporary (EAI_AGAIN: no answer in
// time, retry later), errc::resolver_failure (EAI_FAIL and the rest), the errno of
// EAI_SYSTEM, std::errc::not_enough_memory. An error_code cannot carry the name:
// callers that log the error add it ("no such host: redis.invalid").
//
// Cancel safety: getaddrinfo cannot be interrupted. When ctx ends first, resolve
// returns its error at once and the lookup finishes in the background on its pool
// thread, owning everything it touches; its answer is dropped. The runtime's
// shutdown waits for such a lookup (at most the resolver's own timeout,
// resolv.conf's "timeout" times "attempts"). A lookup that ctx abandoned still
// counts as a running task for LeakCheck until it returns.
//
// Thread safety: a free function; any number of tasks may resolve at once (each
// lookup takes its own pool thread). Must be awaited inside a task.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/net/address.hpp"
#include "orca/net/error.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::net {

Task<Result<std::vector<Address>>> resolve(Context ctx, std::string host, std::uint16_t port);

// `host` as an IPv4 or IPv6 literal (no brackets) with `port`, or nullopt for
// anything else: the part of resolve that needs no lookup. Strict forms only
// (inet_pton): "127.1" and "0x7f.0.0.1" are names, not addresses.
std::optional<Address> parse_ip_literal(std::string_view host, std::uint16_t port);

}  // namespace orca::net
