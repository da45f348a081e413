// Graceful shutdown: on SIGTERM (or SIGINT) stop accepting work, give running jobs
// a grace period to finish, then cancel the rest, wait for every task, exit 0.
//
//   graceful_shutdown                 runs until you send SIGTERM or press Ctrl-C
//   graceful_shutdown --self-signal   sends itself SIGTERM after 200 ms (the test)
#include <csignal>
#include <cstdio>
#include <cstring>

#include "orca/orca.hpp"

using namespace std::chrono_literals;

namespace {

// A job that takes `length` unless its context is cancelled first.
orca::Task<void> job(orca::Context ctx, int id, std::chrono::milliseconds length,
                     std::atomic<int>& finished, std::atomic<int>& cancelled) {
  // A named result, not `if (co_await ...)`: GCC 12 miscompiles a co_await used
  // directly as a condition (see docs/GUIDE.md).
  const orca::Result<void> slept = co_await orca::sleep_for(ctx, length);
  if (slept) {
    finished.fetch_add(1);
  } else {
    std::printf("job %d cancelled: %s\n", id, ctx.err().message().c_str());
    cancelled.fetch_add(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool self_signal = argc > 1 && std::strcmp(argv[1], "--self-signal") == 0;
  return orca::run([self_signal]() -> orca::Task<int> {
    auto [signals, stop_signals] = orca::signal_context(orca::background(), {SIGINT, SIGTERM});
    // Jobs run under `hard`: cancelled only when the grace period is over.
    auto [hard, cancel_hard] = orca::with_cancel(orca::background());
    orca::WaitGroup running;
    std::atomic<int> finished{0};
    std::atomic<int> cancelled{0};
    if (self_signal)
      orca::go([]() -> orca::Task<void> {
        co_await orca::sleep_for(200ms);
        std::raise(SIGTERM);
      });

    // 1. Accept work until a signal arrives: a new job every 20 ms, some short,
    //    some far longer than the grace period.
    int next_id = 0;
    while (auto more = co_await orca::sleep_for(signals, 20ms)) {
      const int id = next_id++;
      const auto length = id % 4 == 0 ? 10s : 100ms;
      running.add(1);
      orca::go([hard = hard, id, length, &running, &finished, &cancelled]() -> orca::Task<void> {
        co_await job(hard, id, length, finished, cancelled);
        running.done();
      });
    }
    std::printf("%s: no new work; %lld jobs running\n", signals.cause().message().c_str(),
                static_cast<long long>(running.count()));
    stop_signals();  // a second Ctrl-C now ends the process at once

    // 2. Grace period: running jobs may finish on their own.
    auto [grace, cancel_grace] = orca::with_timeout(orca::background(), 500ms);
    const orca::Result<void> in_time = co_await running.wait(grace);
    if (!in_time) {
      // 3. Time is up: cancel the rest and wait for them to return.
      std::printf("grace period over: cancelling %lld jobs\n",
                  static_cast<long long>(running.count()));
      cancel_hard();
      co_await running.wait();
    }
    cancel_grace();
    std::printf("all jobs done: %d finished, %d cancelled\n", finished.load(), cancelled.load());
    co_return 0;
  });
}
