// orca::blocking: calls run on the blocking pool, not on a worker; values and
// exceptions come back to the task; many calls run side by side; and the worker
// keeps running other tasks while a call blocks.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "orca/orca.hpp"
#include "runtime/test_support.hpp"

using namespace std::chrono_literals;

namespace {

TEST(Blocking, ReturnsTheCallsValue) {
  std::string got;
  orca::run([&]() -> orca::Task<void> {
    got = co_await orca::blocking([] { return std::string("from the pool"); });
  });
  EXPECT_EQ(got, "from the pool");
}

TEST(Blocking, RunsVoidAndMoveOnlyCalls) {
  bool ran = false;
  int got = 0;
  orca::run([&]() -> orca::Task<void> {
    co_await orca::blocking([&] { ran = true; });
    // The callable is a named local: GCC 12 destroys a capturing lambda built
    // inside a co_await operand twice (PR 101367; here a double free).
    auto give_back = [box = std::make_unique<int>(21)]() mutable { return std::move(box); };
    std::unique_ptr<int> back = co_await orca::blocking(std::move(give_back));
    got = *back * 2;
  });
  EXPECT_TRUE(ran);
  EXPECT_EQ(got, 42);
}

struct DiskError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

TEST(Blocking, RethrowsTheCallsExceptionInTheTask) {
  std::string what;
  orca::run([&]() -> orca::Task<void> {
    try {
      (void)co_await orca::blocking([]() -> int { throw DiskError("disk on fire"); });
    } catch (const DiskError& e) {
      what = orca_test::message_of(e);
    }
  });
  EXPECT_EQ(what, "disk on fire");
}

TEST(Blocking, RunsOnAThreadThatIsNotAWorker) {
  constexpr unsigned kWorkers = 2;
  std::mutex mutex;
  std::set<std::thread::id> worker_threads;
  std::thread::id call_thread;
  bool call_on_worker = true;
  orca::run(
      [&]() -> orca::Task<void> {
        // Note every worker thread that runs a task (a few per worker, by stealing).
        orca::WaitGroup wg;
        wg.add(100);
        for (int i = 0; i < 100; ++i) {
          orca::go([&]() -> orca::Task<void> {
            for (int k = 0; k < 10; ++k) {
              {
                std::lock_guard lock(mutex);
                worker_threads.insert(std::this_thread::get_id());
              }
              co_await orca::yield();
            }
            wg.done();
          });
        }
        (void)co_await wg.wait();
        co_await orca::blocking([&] {
          call_thread = std::this_thread::get_id();
          call_on_worker = orca::detail::on_worker();
        });
      },
      {.workers = kWorkers});
  EXPECT_FALSE(call_on_worker) << "got the blocking call on a worker thread";
  EXPECT_EQ(worker_threads.count(call_thread), 0u)
      << "got the blocking call on a thread that ran tasks";
  EXPECT_NE(call_thread, std::this_thread::get_id()) << "got it on worker 0 (run()'s caller)";
}

TEST(Blocking, ManyConcurrentCallsAllComplete) {
  constexpr int kCalls = 64;
  long sum = 0;
  std::int64_t in_flight_seen = 0;
  orca::run(
      [&]() -> orca::Task<void> {
        std::vector<orca::JoinHandle<int>> handles;
        for (int i = 0; i < kCalls; ++i) {
          handles.push_back(orca::spawn([i, &in_flight_seen]() -> orca::Task<int> {
            co_return co_await orca::blocking([i, &in_flight_seen] {
              std::this_thread::sleep_for(20ms);
              if (i == 0) in_flight_seen = orca::stats().blocking_in_flight;
              return i;
            });
          }));
        }
        for (auto& h : handles)
          sum += co_await std::move(h);
      },
      {.workers = 2});
  EXPECT_EQ(sum, kCalls * (kCalls - 1) / 2);
  EXPECT_GE(in_flight_seen, 1) << "want stats() to count the call it is made from";
}

// One worker: if the blocking call held the worker, the other task could never set
// the flag and the call would give up after its (generous) wait and report it.
TEST(Blocking, WorkerKeepsRunningOtherTasksDuringACall) {
  std::atomic<bool> other_ran{false};
  bool call_saw_other = false;
  orca::run(
      [&]() -> orca::Task<void> {
        auto caller = orca::spawn([&]() -> orca::Task<bool> {
          co_return co_await orca::blocking([&] {
            for (int i = 0; i < 10'000 && !other_ran.load(); ++i)
              std::this_thread::sleep_for(1ms);
            return other_ran.load();
          });
        });
        auto other = orca::spawn([&]() -> orca::Task<void> {
          co_await orca::sleep_for(1ms);
          other_ran = true;
        });
        call_saw_other = co_await std::move(caller);
        co_await std::move(other);
      },
      {.workers = 1});
  EXPECT_TRUE(call_saw_other) << "got the other task stalled while a blocking call ran, want it "
                                 "running on the free worker";
}

}  // namespace
