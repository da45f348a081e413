// TcpStream: a connected TCP socket whose reads and writes park the calling task
// (never its worker) until the socket is ready, through the runtime's netpoller.
//
//   auto s = co_await orca::net::TcpStream::connect(ctx, addr);
//   if (!s) co_return s.error();                      // e.g. ECONNREFUSED
//   auto w = co_await s->write_all(ctx, bytes);
//   std::array<std::byte, 4096> buf;
//   auto n = co_await s->read(ctx, buf);              // *n == 0: the peer closed
//
// Streams from connect() and accept() have TCP_NODELAY set, as in Go: small writes
// go out at once instead of waiting for the peer's delayed ACK (set_nodelay(false)
// turns Nagle's algorithm back on).
//
// Every operation tries its syscall first and waits only when the kernel says it
// would block, so a ready socket costs no epoll round trip.
//
// Errors: system errors as std::error_code in std::system_category (ECONNREFUSED,
// ECONNRESET, EPIPE...; SIGPIPE is never raised: writes use MSG_NOSIGNAL); the
// context's error (orca::errc::canceled / deadline_exceeded) when it ends first;
// orca::net::errc::closed on a closed stream; orca::net::errc::busy for a second
// concurrent read (or write); orca::net::errc::unexpected_eof from read_exact.
//
// Thread safety: one task may read while another writes (two concurrent operations
// at most, one per direction); a third operation in the same direction that has to
// wait gets errc::busy. close() may be called from any task at any time: it wakes
// a parked read or write, which returns errc::closed, and the descriptor is closed
// once no operation uses it (so its number is never reused under a running
// syscall). Destroying or moving the stream while an operation runs is safe too:
// operations hold the socket, not the object, and a destroyed stream's parked
// operations return errc::closed. The stream must be alive when an operation is
// called and when the returned task is first awaited.
//
// Cancel safety:
//   - read: a read that returns the context's error has consumed nothing; the
//     stream stays usable and the next read returns the bytes that arrived.
//   - read_exact: bytes read before the cancel are lost to the caller: treat the
//     stream as out of step (close it) unless the protocol can resynchronise.
//   - write_all: a prefix of the data may already have been sent when the context
//     ends; the peer sees a truncated message, so treat the stream as broken (close
//     it). A write_all that returned success sent everything.
//   - connect: the half-open socket is closed; nothing leaks.
#pragma once

#include <cstddef>
#include <span>
#include <utility>

#include "orca/context/context.hpp"
#include "orca/net/address.hpp"
#include "orca/net/detail/poll_handle.hpp"
#include "orca/net/error.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::net {

class TcpListener;

class TcpStream {
 public:
  // A stream that is not open (every operation returns errc::closed). Move-only;
  // destroying the stream (or assigning over it) closes the socket.
  TcpStream() noexcept = default;

  // Connects to `addr` (non-blocking connect, then a wait for writability). Must be
  // awaited inside a task.
  static Task<Result<TcpStream>> connect(Context ctx, Address addr);
  // Takes ownership of a connected socket (made non-blocking here). For sockets
  // created elsewhere (socketpair, inherited descriptors); EBADF for fd < 0.
  static Result<TcpStream> adopt(int fd);

  // Reads what is available, up to buf.size() bytes, waiting for at least one.
  // Returns 0 when the peer has closed its side (EOF), and 0 at once for an empty
  // buffer.
  Task<Result<std::size_t>> read(Context ctx, std::span<std::byte> buf);
  // Reads exactly buf.size() bytes; errc::unexpected_eof if the peer closes first.
  Task<Result<void>> read_exact(Context ctx, std::span<std::byte> buf);
  // Writes every byte of `data`, waiting for buffer space as needed.
  Task<Result<void>> write_all(Context ctx, std::span<const std::byte> data);

  // Sends FIN: the peer's reads return 0 once they drained the data; reading here
  // goes on working.
  Result<void> shutdown_write();
  // Closes the socket (see Thread safety). Idempotent.
  void close() noexcept;
  bool is_open() const noexcept;
  // The socket's descriptor, -1 when not open. Do not close it yourself.
  int native_handle() const noexcept;

  // The socket's own and its peer's address; Address() when not open.
  Address local_address() const;
  Address peer_address() const;
  // TCP_NODELAY: send small writes at once instead of coalescing them (Nagle).
  Result<void> set_nodelay(bool on);

 private:
  friend class TcpListener;
  explicit TcpStream(detail::PollHandle pd) noexcept : pd_(std::move(pd)) {}

  // Kept from construction to destruction (close() does not reset it), so a
  // concurrent close() and operation never race on the pointer itself.
  detail::PollHandle pd_;
};

}  // namespace orca::net
