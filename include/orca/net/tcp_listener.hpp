// TcpListener: a listening TCP socket; accept() parks the task until a connection
// arrives.
//
//   auto l = orca::net::TcpListener::listen(orca::net::Address::loopback_v4(0));
//   if (!l) return l.error();
//   for (;;) {
//     auto conn = co_await l->accept(ctx);
//     if (!conn) break;                                  // ctx done, or l->close()
//     orca::go([c = std::move(*conn)]() mutable -> orca::Task<void> { ... });
//   }
//
// Accepted streams are non-blocking and close-on-exec (accept4). Transient accept
// failures (ECONNABORTED: the client gave up in the backlog) are retried; others
// (EMFILE when out of descriptors...) are returned, and the listener stays usable.
//
// Thread safety: accept() may run in several tasks at once only if at most one of
// them has to wait (a second waiter gets errc::busy); close() may be called from any
// task at any time and wakes a parked accept, which returns orca::net::errc::closed.
// Destroying the listener while an accept is parked closes it the same way (the
// accept touches nothing of the object afterwards); it must be alive when accept()
// is called and when the returned task is first awaited.
//
// Cancel safety: an accept that returns the context's error has taken no
// connection: a connection arriving meanwhile stays in the backlog for the next
// accept. The listener stays usable.
#pragma once

#include <utility>

#include "orca/context/context.hpp"
#include "orca/net/address.hpp"
#include "orca/net/detail/poll_handle.hpp"
#include "orca/net/error.hpp"
#include "orca/net/tcp_stream.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::net {

class TcpListener {
 public:
  // Not open. Move-only; destroying the listener (or assigning over it) closes it.
  TcpListener() noexcept = default;

  // Binds and listens (SO_REUSEADDR set, so a restarted server can rebind a port in
  // TIME_WAIT). Port 0 picks an ephemeral port: read it back with local_address().
  // Errors: EADDRINUSE, EACCES...; std::errc::invalid_argument for backlog < 1.
  // Callable outside a task.
  static Result<TcpListener> listen(Address addr, int backlog = 4096);

  // The next connection. Must be awaited inside a task.
  Task<Result<TcpStream>> accept(Context ctx);

  Address local_address() const;
  // Stops listening; a parked accept returns errc::closed. Idempotent.
  void close() noexcept;
  bool is_open() const noexcept;
  int native_handle() const noexcept;

 private:
  explicit TcpListener(detail::PollHandle pd) noexcept : pd_(std::move(pd)) {}
  static Task<Result<TcpStream>> accept_on(orca::detail::PollDesc* pd, Context ctx);
  detail::PollHandle pd_;  // as in TcpStream
};

}  // namespace orca::net
