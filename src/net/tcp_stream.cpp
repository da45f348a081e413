// TcpStream: each operation is "syscall; on EAGAIN wait through IoWait; retry",
// holding an OpRef so a concurrent close() cannot close the descriptor under it.
#include "orca/net/tcp_stream.hpp"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "io_wait.hpp"
#include "orca/runtime/detail/scheduling.hpp"
#include "orca/runtime/sleep.hpp"

namespace orca::net {

using detail::IoWait;
using detail::OpRef;
using detail::PollHandle;
using detail::system_error_code;
using orca::detail::IoDir;
using orca::detail::PollDesc;

namespace {

std::error_code closed_error() {
  return make_error_code(errc::closed);
}

Address socket_address(PollDesc* pd, bool peer) {
  OpRef op(pd);
  if (!op) return Address();
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  auto* sa = reinterpret_cast<sockaddr*>(&ss);
  const int rc = peer ? ::getpeername(op.fd(), sa, &len) : ::getsockname(op.fd(), sa, &len);
  if (rc != 0) return Address();
  auto a = Address::from_native(sa, len);
  return a ? *a : Address();
}

}  // namespace

Result<TcpStream> TcpStream::adopt(int fd) {
  if (fd < 0) return system_error_code(EBADF);
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return system_error_code(errno);
  return TcpStream(PollHandle::open(fd));
}

Task<Result<TcpStream>> TcpStream::connect(Context ctx, Address addr) {
  if (const std::error_code e = ctx.err()) co_return e;
  const int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) co_return system_error_code(errno);
  TcpStream stream(PollHandle::open(fd));  // closes the socket on every error path
  detail::set_nodelay_default(fd);
  if (::connect(fd, addr.native(), addr.native_size()) == 0) co_return std::move(stream);
  // EINTR: the connection goes on in the background, as with EINPROGRESS.
  if (errno != EINPROGRESS && errno != EINTR) co_return system_error_code(errno);
  for (;;) {
    IoWait wait(stream.pd_.get(), IoDir::kWrite, ctx.node()->canceller);
    const Result<void> ready = co_await wait;
    if (!ready) co_return ready.error();
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) co_return system_error_code(errno);
    if (err != 0) co_return system_error_code(err);
    // Writable with no error can still be a spurious edge: connected only if it has
    // a peer (Go checks the same way).
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0)
      co_return std::move(stream);
    if (errno != ENOTCONN) co_return system_error_code(errno);
  }
}

// The operations are free coroutines over the PollDesc, not member coroutines: they
// never hold `this`, so a stream destroyed (or moved) while an operation is parked
// only closes the socket under it, and the operation returns errc::closed.
namespace {

Task<Result<std::size_t>> read_on(PollDesc* pd, Context ctx, std::span<std::byte> buf) {
  OpRef op(pd);
  if (!op) co_return closed_error();
  if (const std::error_code e = ctx.err()) co_return e;
  // recv of 0 bytes on an empty socket would say EAGAIN and wait for data.
  if (buf.empty()) co_return std::size_t{0};
  for (;;) {
    const ssize_t n = ::recv(op.fd(), buf.data(), buf.size(), 0);
    if (n >= 0) {
      // Completed without waiting: spend budget, so a task reading a socket that is
      // always ready still lets its worker's other tasks run.
      if (!orca::detail::consume_budget()) co_await orca::yield();
      co_return static_cast<std::size_t>(n);
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) co_return system_error_code(errno);
    IoWait wait(pd, IoDir::kRead, ctx.node()->canceller);
    const Result<void> ready = co_await wait;
    if (!ready) co_return ready.error();
  }
}

Task<Result<void>> read_exact_on(PollDesc* pd, Context ctx, std::span<std::byte> buf) {
  std::size_t got = 0;
  while (got < buf.size()) {
    Task<Result<std::size_t>> step = read_on(pd, ctx, buf.subspan(got));
    Result<std::size_t> n = co_await std::move(step);
    if (!n) co_return n.error();
    if (*n == 0) co_return make_error_code(errc::unexpected_eof);
    got += *n;
  }
  co_return Result<void>();
}

Task<Result<void>> write_all_on(PollDesc* pd, Context ctx, std::span<const std::byte> data) {
  OpRef op(pd);
  if (!op) co_return closed_error();
  if (const std::error_code e = ctx.err()) co_return e;
  std::size_t sent = 0;
  bool waited = false;
  while (sent < data.size()) {
    // MSG_NOSIGNAL: a peer that has gone away gives EPIPE, not a process-killing
    // SIGPIPE, with no global signal disposition to change.
    const ssize_t n = ::send(op.fd(), data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n >= 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) co_return system_error_code(errno);
    IoWait wait(pd, IoDir::kWrite, ctx.node()->canceller);
    const Result<void> ready = co_await wait;
    if (!ready) co_return ready.error();
    waited = true;
  }
  if (!waited && !orca::detail::consume_budget()) co_await orca::yield();
  co_return Result<void>();
}

}  // namespace

Task<Result<std::size_t>> TcpStream::read(Context ctx, std::span<std::byte> buf) {
  return read_on(pd_.get(), std::move(ctx), buf);
}

Task<Result<void>> TcpStream::read_exact(Context ctx, std::span<std::byte> buf) {
  return read_exact_on(pd_.get(), std::move(ctx), buf);
}

Task<Result<void>> TcpStream::write_all(Context ctx, std::span<const std::byte> data) {
  return write_all_on(pd_.get(), std::move(ctx), data);
}

Result<void> TcpStream::shutdown_write() {
  OpRef op(pd_.get());
  if (!op) return closed_error();
  if (::shutdown(op.fd(), SHUT_WR) != 0) return system_error_code(errno);
  return {};
}

void TcpStream::close() noexcept {
  pd_.close();
}

bool TcpStream::is_open() const noexcept {
  return pd_.is_open();
}

int TcpStream::native_handle() const noexcept {
  return pd_.native_handle();
}

Address TcpStream::local_address() const {
  return socket_address(pd_.get(), false);
}

Address TcpStream::peer_address() const {
  return socket_address(pd_.get(), true);
}

Result<void> TcpStream::set_nodelay(bool on) {
  OpRef op(pd_.get());
  if (!op) return closed_error();
  const int value = on ? 1 : 0;
  if (::setsockopt(op.fd(), IPPROTO_TCP, TCP_NODELAY, &value, sizeof value) != 0)
    return system_error_code(errno);
  return {};
}

}  // namespace orca::net
