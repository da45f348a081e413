// Producer/consumer over a buffered channel (Go: `jobs := make(chan int, 2)`).
// The producer sends, then closes; the consumer ranges over the channel until it
// is closed and drained. A buffer of 2 lets the producer run up to two jobs ahead.
#include <cstdio>

#include "orca/orca.hpp"

int main() {
  const int total = orca::run([]() -> orca::Task<int> {
    orca::Channel<int> jobs(2);
    orca::go([&jobs]() -> orca::Task<void> {
      for (int i = 1; i <= 5; ++i) {
        std::printf("produce %d\n", i);
        auto sent = co_await jobs.send(i);  // a named result: see docs/GUIDE.md on GCC 12
        if (!sent) co_return;               // closed under us: stop
      }
      (void)jobs.close();  // no more jobs: ends the consumer's loop
    });
    int sum = 0;
    while (auto job = co_await jobs.recv()) {  // ends when closed and drained
      std::printf("consume %d\n", *job);
      sum += *job;
    }
    co_return sum;
  });
  std::printf("total %d\n", total);
  return total == 15 ? 0 : 1;
}
