// IoWait: parks the current task until a socket is readable (or writable), its
// context is done, or the socket is closed, whichever comes first; exactly one of
// the three wakes the task (one WaitClaim, protocol in src/runtime/netpoller.hpp).
//
// Awaited by the TCP operations after their syscall returned EAGAIN. The result:
// success (retry the syscall), the context's error, or net::errc::closed.
#pragma once

#include <coroutine>
#include <system_error>

#include "orca/context/detail/context_node.hpp"
#include "orca/runtime/result.hpp"
#include "runtime/netpoller.hpp"

namespace orca::net::detail {

using orca::detail::CancelNode;
using orca::detail::IoDir;
using orca::detail::PollDesc;

class IoWait {
 public:
  // `cancel`: the operation's context's canceller, or null (never done).
  IoWait(PollDesc* pd, IoDir dir, CancelNode* cancel) noexcept
      : pd_(pd), cancel_(cancel), dir_(dir) {}
  IoWait(const IoWait&) = delete;
  IoWait& operator=(const IoWait&) = delete;
  // Withdraws a wait still registered: only when the frame is destroyed while
  // parked (runtime teardown).
  ~IoWait();

  bool await_ready() const noexcept { return false; }
  // Out of line: it publishes the task (LLVM 56301: nothing of the frame may be
  // touched after that, and an inlined body could).
  [[gnu::noinline]] bool await_suspend(std::coroutine_handle<> self) noexcept;
  Result<void> await_resume() noexcept;

 private:
  bool take_back_slot() noexcept;

  PollDesc* pd_;
  CancelNode* cancel_;
  IoDir dir_;
  bool parked_ = false;
  std::error_code early_;  // why the task did not park, if it was an error
  orca::detail::WaitClaim claim_;
  orca::detail::WaitNode ctx_node_;
};

// An operation's hold on a socket's descriptor (PollDesc::acquire): while it lives
// the descriptor stays open, even if close() is called meanwhile.
class OpRef {
 public:
  explicit OpRef(PollDesc* pd) noexcept : pd_(pd != nullptr && pd->acquire() ? pd : nullptr) {}
  OpRef(const OpRef&) = delete;
  OpRef& operator=(const OpRef&) = delete;
  ~OpRef() {
    if (pd_ != nullptr) pd_->release();
  }
  explicit operator bool() const noexcept { return pd_ != nullptr; }
  int fd() const noexcept { return pd_->fd; }

 private:
  PollDesc* pd_;
};

// Sets TCP_NODELAY on a new stream socket. Go does so for every TCP connection:
// with Nagle's algorithm, a small write after an unacknowledged one waits for the
// peer's delayed ACK (40 ms on Linux), which request/response protocols hit at once.
void set_nodelay_default(int fd) noexcept;

// The error for errno `e`, in std::system_category.
inline std::error_code system_error_code(int e) noexcept {
  return {e, std::system_category()};
}

}  // namespace orca::net::detail
