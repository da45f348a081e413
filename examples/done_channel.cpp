// Stopping a task from outside (Go: `select { case <-done: return; default: }`).
// A task cannot be killed; it is asked to stop. Each worker polls the done channel
// between units of work; closing the channel tells every worker at once.
#include <atomic>
#include <cstdio>
#include <variant>

#include "orca/orca.hpp"

using namespace std::chrono_literals;

int main() {
  std::atomic<int> stopped{0};
  orca::run([&]() -> orca::Task<void> {
    orca::Channel<std::monostate> done;
    orca::WaitGroup wg;
    for (int id = 0; id < 3; ++id) {
      wg.add(1);
      orca::go([&, id]() -> orca::Task<void> {
        int units = 0;
        for (;;) {
          auto r = co_await orca::select(orca::recv(done), orca::default_case());
          if (r.index() == 0) break;  // done is closed: stop
          ++units;                    // one unit of work
          co_await orca::sleep_for(1ms);
        }
        std::printf("worker %d stopped after %d units\n", id, units);
        stopped.fetch_add(1);
        wg.done();
      });
    }
    co_await orca::sleep_for(20ms);
    (void)done.close();  // one close reaches every worker
    (void)co_await wg.wait();
  });
  return stopped.load() == 3 ? 0 : 1;
}
