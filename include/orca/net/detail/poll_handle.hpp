// PollHandle: the owner of one socket's PollDesc, shared by TcpStream and TcpListener
// so that neither writes its own destructor or moves.
//
// Invariant: a non-empty handle owns its desc (and through it the descriptor) until
// it is destroyed, reset or moved from; close() does not let go of it. PollDesc
// stays runtime-private (src/runtime/netpoller.hpp), so everything that needs its
// definition is out of line in src/net/poll_handle.cpp.
#pragma once

#include <utility>

namespace orca::detail {
struct PollDesc;
}  // namespace orca::detail

namespace orca::net::detail {

// Move-only. Letting go (destruction, reset(), being assigned over) is
// PollDesc::free: the socket is closed once no operation uses it, a parked
// operation is woken and returns errc::closed, and the desc goes back to the pool
// after that operation has left it.
//
// Thread safety: close(), is_open() and native_handle() may run on any thread
// concurrently with each other and with operations on the desc; moving, resetting
// and destroying the handle belong to its owner.
class PollHandle {
 public:
  PollHandle() noexcept = default;  // owns nothing
  // Takes ownership of `fd` (a non-blocking socket). Throws std::bad_alloc, leaving
  // `fd` open.
  static PollHandle open(int fd);

  PollHandle(PollHandle&& other) noexcept : pd_(std::exchange(other.pd_, nullptr)) {}
  PollHandle& operator=(PollHandle&& other) noexcept;
  PollHandle(const PollHandle&) = delete;
  PollHandle& operator=(const PollHandle&) = delete;
  ~PollHandle();

  // The owned desc (null when empty), for the operations, which hold it rather than
  // the owning object: it outlives a parked operation even if the owner goes away.
  orca::detail::PollDesc* get() const noexcept { return pd_; }
  explicit operator bool() const noexcept { return pd_ != nullptr; }
  // Lets go of the desc now, as the destructor would; the handle is then empty.
  void reset() noexcept;

  // Closes the socket but keeps the desc: the pointer stays constant until the
  // handle lets go, so a concurrent close() and operation never race on it.
  // Idempotent; nothing for an empty handle.
  void close() noexcept;
  // Owns a desc that is not closing.
  bool is_open() const noexcept;
  // The descriptor, -1 when not open.
  int native_handle() const noexcept;

 private:
  explicit PollHandle(orca::detail::PollDesc* pd) noexcept : pd_(pd) {}

  orca::detail::PollDesc* pd_ = nullptr;
};

}  // namespace orca::net::detail
