// dial: connect a TcpStream to a host name or IP literal, trying each of its
// addresses in turn until one accepts.
//
//   auto conn = co_await orca::net::dial(ctx, "redis.default.svc", 6379);
//   if (!conn) co_return conn.error();   // no_such_host, ECONNREFUSED, deadline...
//
// The host is resolved with orca::net::resolve (IP literals need no lookup), then
// the addresses are tried one after the other in resolve's order (RFC 6724: a
// host with IPv6 and IPv4 addresses is tried over IPv6 first, then IPv4). There is
// no Happy Eyeballs racing: one connect at a time.
//
// Time: with a deadline on ctx, each attempt gets an equal share of the time left
// over the addresses not yet tried, but at least kMinDialAttempt (Go's
// net.Dialer does the same), so an address that swallows SYNs cannot use up the
// time the next ones need. Without a deadline an attempt ends when the kernel
// gives up (connect's own timeout, about two minutes for a silent peer).
//
// Errors: resolve's errors; when every address fails, the last attempt's error
// (ECONNREFUSED, ENETUNREACH, ETIMEDOUT, deadline_exceeded of its share...); the
// context's error (orca::errc::canceled / deadline_exceeded) as soon as it ends.
//
// Cancel safety: an attempt's half-open socket is closed when the context ends
// (TcpStream::connect's guarantee); nothing leaks. Thread safety: a free function.
// Must be awaited inside a task.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>

#include "orca/context/context.hpp"
#include "orca/net/address.hpp"
#include "orca/net/tcp_stream.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::net {

// The least time one attempt gets when ctx's deadline is shared out (Go's value).
inline constexpr std::chrono::seconds kMinDialAttempt{2};

// `host` is taken by value: the task may run after the caller's string is gone.
Task<Result<TcpStream>> dial(Context ctx, std::string host, std::uint16_t port);

// The connect loop of dial over addresses already resolved, tried in order.
// `addresses` must stay alive until the returned task completes. An empty span is
// std::errc::invalid_argument.
Task<Result<TcpStream>> dial(Context ctx, std::span<const Address> addresses);

}  // namespace orca::net
