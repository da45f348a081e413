// orca's error category, Error and Result's misuse report (errc.hpp, error.hpp,
// result.hpp), and the runtime's spin lock.
#include "orca/runtime/errc.hpp"

#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <thread>

#include "orca/runtime/detail/wait_node.hpp"
#include "orca/runtime/error.hpp"
#include "orca/runtime/result.hpp"

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
  // Generic code knows only std::errc: let it recognise a context's errors.
  bool equivalent(int code, const std::error_condition& condition) const noexcept override {
    switch (static_cast<errc>(code)) {
      case errc::canceled:
        if (condition == std::errc::operation_canceled) return true;
        break;
      case errc::deadline_exceeded:
        if (condition == std::errc::timed_out) return true;
        break;
      default:
        break;
    }
    return std::error_category::equivalent(code, condition);
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const OrcaCategory category;
  return category;
}

Error::Error(std::error_code code, std::string detail) : code_(code) {
  if (code && !detail.empty()) detail_ = std::make_shared<const std::string>(std::move(detail));
}

std::string Error::message() const {
  std::string out = code_.message();
  if (detail_) out.append(": ").append(*detail_);
  return out;
}

std::ostream& operator<<(std::ostream& out, const Error& e) {
  return out << e.message();
}

void detail::result_misuse(const char* what, const Error& error) noexcept {
  // A bug in the caller: say which error it ignored, then stop before reading a value
  // that was never built.
  std::string text;
  try {
    text = error.message();
  } catch (...) {
    text = "(no message: out of memory)";
  }
  std::fprintf(stderr, "orca::Result: %s: %s\n", what, text.c_str());
  std::fflush(stderr);
  std::abort();
}

void detail::yield_thread() noexcept {
  std::this_thread::yield();
}

// Contended: back off exponentially between looks at the lock. A waiter that
// reads the lock word in a tight loop pulls the cache line away from the holder,
// whose critical section writes that same line (channels keep their state next to
// the lock), so every waiter slows the holder down. Past the backoff cap the
// holder was probably preempted: give up the CPU.
void detail::SpinLock::lock_contended() noexcept {
  constexpr unsigned kFirstBackoff = 16;  // pauses before the first look
  constexpr unsigned kMaxBackoff = 256;   // ~ a few µs of pausing
  constexpr int kLooksBeforeYield = 16;
  unsigned backoff = kFirstBackoff;
  int looks = 0;
  for (;;) {
    for (unsigned i = 0; i < backoff; ++i)
      detail::cpu_relax();
    if (!locked_.load(std::memory_order_relaxed) &&
        !locked_.exchange(true, std::memory_order_acquire))
      return;
    if (backoff < kMaxBackoff) {
      backoff *= 2;
    } else if (++looks >= kLooksBeforeYield) {
      looks = 0;
      std::this_thread::yield();
    }
  }
}

}  // namespace orca
