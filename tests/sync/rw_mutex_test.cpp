// RWMutex: readers share, a writer excludes everyone, a waiting writer holds back
// new readers (Go's rule), a writer's unlock admits the readers that queued behind
// it, cancellation leaves nothing held, and misuse throws.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "sync/sync_test_support.hpp"

using namespace std::chrono_literals;
using orca::errc;
using orca::RWMutex;
using orca::Task;
using orca_test::kOneWorker;
using orca_test::until_parked;
using orca_test::until_settled;

namespace {

TEST(RWMutex, ReadersShareAndExcludeWriters) {
  RWMutex mu;
  auto r1 = mu.try_rlock();
  auto r2 = mu.try_rlock();
  ASSERT_TRUE(r1.has_value()) << "first try_rlock: got nothing, want a read guard";
  ASSERT_TRUE(r2.has_value()) << "second try_rlock: got nothing, want a shared read guard";
  EXPECT_FALSE(mu.try_lock().has_value()) << "try_lock while read-locked: got a guard, want none";
  r1.reset();
  EXPECT_FALSE(mu.try_lock().has_value()) << "one reader left: got a guard, want none";
  r2.reset();
  EXPECT_TRUE(mu.try_lock().has_value()) << "no reader left: got nothing, want a guard";
}

TEST(RWMutex, WriterExcludesEveryone) {
  RWMutex mu;
  auto w = mu.try_lock();
  ASSERT_TRUE(w.has_value());
  EXPECT_FALSE(mu.try_rlock().has_value()) << "try_rlock while write-locked: got a guard";
  EXPECT_FALSE(mu.try_lock().has_value()) << "try_lock while write-locked: got a guard";
  RWMutex::Guard moved = std::move(*w);
  EXPECT_FALSE(w->owns_lock());
  EXPECT_TRUE(moved.owns_lock());
  moved.unlock();
  EXPECT_TRUE(mu.try_rlock().has_value()) << "after unlock: got nothing, want a read guard";
}

TEST(RWMutex, WaitingWriterHoldsBackNewReaders) {
  orca::run(
      []() -> Task<void> {
        RWMutex mu;
        std::vector<std::string> order;
        auto first_reader = co_await mu.rlock();
        orca::go([&]() -> Task<void> {
          auto w = co_await mu.lock();
          order.push_back("writer");
        });
        co_await until_parked(1);
        CO_ASSERT_EQ(mu.try_rlock().has_value(), false);  // the writer waits: no barging
        orca::go([&]() -> Task<void> {
          auto r = co_await mu.rlock();
          order.push_back("late reader");
        });
        co_await until_parked(2);
        first_reader.unlock();  // the last reader out hands the lock to the writer
        co_await until_settled();
        CO_ASSERT_EQ(order, (std::vector<std::string>{"writer", "late reader"}));
        CO_ASSERT_TRUE(mu.try_lock().has_value());
      },
      kOneWorker);
}

TEST(RWMutex, WriterUnlockAdmitsQueuedReadersBeforeTheNextWriter) {
  orca::run(
      []() -> Task<void> {
        RWMutex mu;
        std::vector<std::string> order;
        int readers_inside = 0;
        int most_readers_inside = 0;
        orca::WaitGroup readers_in;
        readers_in.add(2);
        orca::Channel<int> release_readers;
        auto held = co_await mu.lock();
        auto reader = [&](std::string name) -> Task<void> {
          auto r = co_await mu.rlock();
          order.push_back(name);
          ++readers_inside;
          if (readers_inside > most_readers_inside) most_readers_inside = readers_inside;
          readers_in.done();
          (void)co_await release_readers.recv();
          --readers_inside;
        };
        orca::go([&] { return reader("reader 1"); });
        co_await until_parked(1);
        orca::go([&]() -> Task<void> {
          auto w = co_await mu.lock();
          order.push_back("writer 2");
          CO_EXPECT_TRUE(readers_inside == 0);
        });
        co_await until_parked(2);
        orca::go([&] { return reader("reader 2"); });
        co_await until_parked(3);
        held.unlock();  // both readers in at once; writer 2 still waits
        (void)co_await readers_in.wait();
        CO_ASSERT_EQ(most_readers_inside, 2);
        CO_ASSERT_EQ(order, (std::vector<std::string>{"reader 1", "reader 2"}));
        (void)release_readers.close();
        co_await until_settled();
        CO_ASSERT_EQ(order, (std::vector<std::string>{"reader 1", "reader 2", "writer 2"}));
      },
      kOneWorker);
}

TEST(RWMutex, CancelledWriterLetsInTheReadersBehindIt) {
  orca::run(
      []() -> Task<void> {
        RWMutex mu;
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        auto first_reader = co_await mu.rlock();
        std::error_code writer_err;
        bool late_reader_in = false;
        orca::go([&, ctx = ctx]() -> Task<void> {
          auto w = co_await mu.lock(ctx);
          writer_err = std::error_code(w.error());
        });
        co_await until_parked(1);
        orca::go([&]() -> Task<void> {
          auto r = co_await mu.rlock();
          late_reader_in = true;
        });
        co_await until_parked(2);
        cancel();
        co_await until_settled();
        CO_ASSERT_EQ(writer_err, make_error_code(errc::canceled));
        CO_ASSERT_EQ(late_reader_in, true);
        first_reader.unlock();
        CO_ASSERT_TRUE(mu.try_lock().has_value());  // the cancelled writer holds nothing
      },
      kOneWorker);
}

TEST(RWMutex, ParkedReaderCancelledHoldsNothing) {
  orca::run(
      []() -> Task<void> {
        RWMutex mu;
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        auto held = co_await mu.lock();
        std::error_code err;
        orca::go([&, ctx = ctx]() -> Task<void> {
          auto r = co_await mu.rlock(ctx);
          err = std::error_code(r.error());
        });
        co_await until_parked(1);
        cancel();
        co_await until_settled();
        CO_ASSERT_EQ(err, make_error_code(errc::canceled));
        held.unlock();
        CO_ASSERT_TRUE(mu.try_lock().has_value());
      },
      kOneWorker);
}

TEST(RWMutex, LockAndRLockDeadlineExceeded) {
  orca::run([]() -> Task<void> {
    RWMutex mu;
    auto reader = co_await mu.rlock();
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 2ms);
    auto w = co_await mu.lock(ctx);
    CO_ASSERT_EQ(w.error(), make_error_code(errc::deadline_exceeded));
    cancel();
    reader.unlock();
    auto writer = co_await mu.lock();
    auto [ctx2, cancel2] = orca::with_timeout(orca::background(), 2ms);
    auto r = co_await mu.rlock(ctx2);
    CO_ASSERT_EQ(r.error(), make_error_code(errc::deadline_exceeded));
    cancel2();
  });
}

TEST(RWMutex, DoneContextFailsEvenWhenFree) {
  orca::run([]() -> Task<void> {
    RWMutex mu;
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    cancel();
    auto r = co_await mu.rlock(ctx);
    CO_ASSERT_EQ(r.error(), make_error_code(errc::canceled));
    auto w = co_await mu.lock(ctx);
    CO_ASSERT_EQ(w.error(), make_error_code(errc::canceled));
    CO_ASSERT_TRUE(mu.try_lock().has_value());
  });
}

TEST(RWMutex, MisuseThrows) {
  RWMutex mu;
  EXPECT_THROW(mu.unlock(), std::logic_error);
  EXPECT_THROW(mu.runlock(), std::logic_error);
  auto w = mu.try_lock();
  ASSERT_TRUE(w.has_value());
  EXPECT_THROW(mu.runlock(), std::logic_error);  // write-locked, not read-locked
  EXPECT_TRUE(w->owns_lock()) << "a failed runlock must leave the writer's lock alone";
}

}  // namespace
