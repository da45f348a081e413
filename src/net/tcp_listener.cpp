// TcpListener: listen() is a plain function; accept() is "accept4; on EAGAIN wait
// for readability through IoWait; retry", like the stream operations.
#include "orca/net/tcp_listener.hpp"

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

Result<TcpListener> TcpListener::listen(Address addr, int backlog) {
  if (backlog < 1) return std::make_error_code(std::errc::invalid_argument);
  const int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) return system_error_code(errno);
  TcpListener listener(PollHandle::open(fd));  // closes the socket on every error path
  const int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
    return system_error_code(errno);
  if (::bind(fd, addr.native(), addr.native_size()) != 0) return system_error_code(errno);
  if (::listen(fd, backlog) != 0) return system_error_code(errno);
  return listener;
}

// A free coroutine over the PollDesc, not a member one: it never holds `this`, so a
// listener destroyed while accept is parked only closes the socket under it.
Task<Result<TcpStream>> TcpListener::accept_on(PollDesc* pd, Context ctx) {
  OpRef op(pd);
  if (!op) co_return make_error_code(errc::closed);
  if (const std::error_code e = ctx.err()) co_return e;
  for (;;) {
    const int fd = ::accept4(op.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      detail::set_nodelay_default(fd);
      if (!orca::detail::consume_budget()) co_await orca::yield();
      co_return TcpStream(PollHandle::open(fd));
    }
    // ECONNABORTED: the client reset while in the backlog; EINTR: a signal. Both are
    // not this listener's failure: take the next one.
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) co_return system_error_code(errno);
    IoWait wait(pd, IoDir::kRead, ctx.node()->canceller);
    const Result<void> ready = co_await wait;
    if (!ready) co_return ready.error();
  }
}

Task<Result<TcpStream>> TcpListener::accept(Context ctx) {
  return accept_on(pd_.get(), std::move(ctx));
}

Address TcpListener::local_address() const {
  OpRef op(pd_.get());
  if (!op) return Address();
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(op.fd(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return Address();
  auto a = Address::from_native(reinterpret_cast<sockaddr*>(&ss), len);
  return a ? *a : Address();
}

void TcpListener::close() noexcept {
  pd_.close();
}

bool TcpListener::is_open() const noexcept {
  return pd_.is_open();
}

int TcpListener::native_handle() const noexcept {
  return pd_.native_handle();
}

}  // namespace orca::net
