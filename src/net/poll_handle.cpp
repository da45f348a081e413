// PollHandle: the parts that need PollDesc's definition, which the public header
// cannot see.
#include "orca/net/detail/poll_handle.hpp"

#include "runtime/netpoller.hpp"

namespace orca::net::detail {

using orca::detail::PollDesc;

PollHandle PollHandle::open(int fd) {
  return PollHandle(PollDesc::open(fd));
}

PollHandle& PollHandle::operator=(PollHandle&& other) noexcept {
  if (this != &other) {
    reset();
    pd_ = std::exchange(other.pd_, nullptr);
  }
  return *this;
}

PollHandle::~PollHandle() {
  reset();
}

void PollHandle::reset() noexcept {
  if (pd_ != nullptr) PollDesc::free(std::exchange(pd_, nullptr));
}

void PollHandle::close() noexcept {
  if (pd_ != nullptr) pd_->close();
}

bool PollHandle::is_open() const noexcept {
  return pd_ != nullptr && !pd_->closing();
}

int PollHandle::native_handle() const noexcept {
  return is_open() ? pd_->fd : -1;
}

}  // namespace orca::net::detail
