// Signal delivery to contexts.
//
// 1. signal_context installs (once per signal) a handler that writes the signal
//    number to a non-blocking pipe: the only async-signal-safe step.
// 2. A watcher thread, started on first use and kept for the process's life,
//    reads the pipe and cancels every context registered for that signal.
// 3. Unregistering the last context of a signal restores its previous action.
#include "orca/context/signal_context.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "orca/runtime/external_waker.hpp"

namespace orca {
namespace {

class SignalCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "signal"; }
  std::string message(int sig) const override {
    const char* abbrev = sigabbrev_np(sig);
    return std::string("received signal SIG") + (abbrev != nullptr ? abbrev : "?");
  }
};

struct Registration {
  std::vector<int> signals;
  CancelCauseFunc cancel;
  std::unique_ptr<ExternalWaker> waker;  // the signal may wake tasks from outside
};

struct Registry {
  std::mutex mutex;
  std::map<std::uint64_t, Registration> regs;
  std::map<int, int> counts;                 // registrations per signal
  std::map<int, struct sigaction> previous;  // actions to restore
  std::uint64_t next_id = 1;
  int pipe_read = -1;
  int pipe_write = -1;
  bool watcher_started = false;
};

Registry& registry() {
  static auto* r = new Registry();  // never destroyed: the watcher thread outlives main
  return *r;
}

std::atomic<int> g_pipe_write{-1};

extern "C" void on_signal(int sig) {
  const int saved = errno;
  const unsigned char byte = static_cast<unsigned char>(sig);
  const int fd = g_pipe_write.load(std::memory_order_relaxed);
  if (fd >= 0) [[maybe_unused]]
    auto n = write(fd, &byte, 1);  // full pipe: drop, one is enough
  errno = saved;
}

void watch(int fd) {
  unsigned char byte = 0;
  for (;;) {
    const ssize_t n = read(fd, &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    const int sig = byte;
    std::vector<CancelCauseFunc> to_cancel;
    {
      Registry& r = registry();
      std::lock_guard lock(r.mutex);
      for (auto& [id, reg] : r.regs)
        for (int s : reg.signals)
          if (s == sig) to_cancel.push_back(reg.cancel);
    }
    for (auto& cancel : to_cancel)
      cancel(std::error_code(sig, signal_category()));
  }
}

}  // namespace

const std::error_category& signal_category() noexcept {
  static const SignalCategory category;
  return category;
}

std::pair<Context, SignalStop> signal_context(const Context& parent,
                                              std::initializer_list<int> signals) {
  auto [ctx, cancel] = with_cancel_cause(parent);
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  if (r.pipe_read < 0) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
      throw std::system_error(errno, std::generic_category(), "pipe2");
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    r.pipe_read = fds[0];
    r.pipe_write = fds[1];
    g_pipe_write.store(fds[1], std::memory_order_relaxed);
  }
  for (int sig : signals) {
    if (r.counts[sig]++ > 0) continue;
    struct sigaction action {};
    action.sa_handler = &on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    struct sigaction old {};
    if (sigaction(sig, &action, &old) != 0) {
      const int err = errno;
      --r.counts[sig];
      throw std::system_error(err, std::generic_category(),
                              "orca::signal_context: cannot catch signal " + std::to_string(sig));
    }
    r.previous[sig] = old;
  }
  if (!r.watcher_started) {
    std::thread(watch, r.pipe_read).detach();
    r.watcher_started = true;
  }
  const std::uint64_t id = r.next_id++;
  r.regs.emplace(
      id, Registration{std::vector<int>(signals), cancel, std::make_unique<ExternalWaker>()});
  return {std::move(ctx), SignalStop(id)};
}

SignalStop& SignalStop::operator=(SignalStop&& other) noexcept {
  if (this != &other) {
    (*this)();
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void SignalStop::operator()() noexcept {
  if (id_ == 0) return;
  Registration reg;
  {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    auto it = r.regs.find(std::exchange(id_, 0));
    if (it == r.regs.end()) return;
    reg = std::move(it->second);
    r.regs.erase(it);
    for (int sig : reg.signals) {
      if (--r.counts[sig] > 0) continue;
      sigaction(sig, &r.previous[sig], nullptr);
      r.counts.erase(sig);
    }
  }
  reg.cancel();  // Go's stop also releases the context
}

}  // namespace orca
