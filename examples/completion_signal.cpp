// A channel as a completion signal (Go: `done := make(chan struct{})`): main waits
// on an unbuffered channel until the worker says it has finished; everything the
// worker wrote before sending is visible to main after receiving.
#include <cstdio>
#include <variant>

#include "orca/orca.hpp"

int main() {
  const long result = orca::run([]() -> orca::Task<long> {
    orca::Channel<std::monostate> done;  // struct{}: the signal carries no data
    long sum = 0;
    orca::go([&]() -> orca::Task<void> {
      for (long i = 1; i <= 1000; ++i)
        sum += i;
      std::printf("worker: finished\n");
      (void)co_await done.send(std::monostate{});  // rendezvous: main has the signal
    });
    (void)co_await done.recv();
    std::printf("main: worker is done\n");
    co_return sum;
  });
  std::printf("sum %ld\n", result);
  return result == 500500 ? 0 : 1;
}
