#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>

#include "orca/orca.hpp"

using namespace std::chrono_literals;

namespace {

orca::Task<int> answer() {
  co_return 42;
}

TEST(Smoke, RunReturnsEntryResult) {
  int got = orca::run([]() -> orca::Task<int> { co_return co_await answer(); });
  EXPECT_EQ(got, 42);
}

TEST(Smoke, SpawnJoinMany) {
  const int n = 100000;
  std::atomic<int> count{0};
  orca::run([&]() -> orca::Task<void> {
    std::vector<orca::JoinHandle<int>> hs;
    for (int i = 0; i < n; ++i)
      hs.push_back(orca::spawn([&count, i]() -> orca::Task<int> {
        count.fetch_add(1);
        co_return i;
      }));
    long sum = 0;
    for (auto& h : hs)
      sum += co_await std::move(h);
    EXPECT_EQ(sum, long(n) * (n - 1) / 2);
  });
  EXPECT_EQ(count.load(), n);
}

TEST(Smoke, Sleep) {
  auto t0 = std::chrono::steady_clock::now();
  orca::run([]() -> orca::Task<void> { co_await orca::sleep_for(20ms); });
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
}

struct ParkForever {
  bool await_ready() { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    orca::detail::prepare_park(orca::detail::current_task(), h, "test: parked forever");
  }
  void await_resume() {}
};

TEST(Smoke, Deadlock) {
  try {
    orca::run([]() -> orca::Task<void> {
      auto h = orca::spawn([]() -> orca::Task<void> { co_await ParkForever{}; });
      co_await std::move(h);
    });
    FAIL() << "no deadlock reported";
  } catch (const orca::DeadlockError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("test: parked forever"), std::string::npos) << what;
    EXPECT_NE(what.find("join"), std::string::npos) << what;
  }
}

}  // namespace
