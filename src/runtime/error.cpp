#include "orca/runtime/error.hpp"

#include <thread>

#include "orca/runtime/detail/wait_node.hpp"

namespace orca {
namespace {

class OrcaCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "orca"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::canceled:
        return "context canceled";
      case errc::deadline_exceeded:
        return "context deadline exceeded";
      case errc::closed:
        return "channel closed";
      case errc::would_block:
        return "operation would block";
      case errc::negative_counter:
        return "negative WaitGroup counter";
    }
    return "unknown orca error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const OrcaCategory category;
  return category;
}

void detail::SpinLock::yield_thread() noexcept {
  std::this_thread::yield();
}

}  // namespace orca
