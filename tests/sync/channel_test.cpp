// Channel<T> conformance: the behaviour Go documents for channels (rendezvous,
// FIFO buffering, close semantics, len/cap, non-blocking ops), plus orca's own
// contracts: values come back from failed sends, cancellation withdraws cleanly,
// every value is destroyed exactly once, and the cooperative budget holds.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sync/sync_test_support.hpp"

using namespace std::chrono_literals;
using orca::Channel;
using orca::errc;
using orca::Task;
using orca_test::Counted;
using orca_test::kOneWorker;
using orca_test::LifetimeCounts;
using orca_test::until_parked;

namespace {

TEST(Channel, RendezvousSendCompletesOnlyWhenReceived) {
  orca::run(
      []() -> Task<void> {
        Channel<int> ch;  // capacity 0
        bool sent = false;
        orca::go([&]() -> Task<void> {
          auto r = co_await ch.send(7);
          EXPECT_TRUE(r);
          sent = true;
        });
        co_await until_parked(1);
        CO_ASSERT_EQ(sent, false);  // parked: nobody has received yet
        auto v = co_await ch.recv();
        CO_ASSERT_TRUE(v.has_value());
        CO_ASSERT_EQ(*v, 7);
        co_await until_parked(0);
        co_await orca::yield();
        CO_ASSERT_EQ(sent, true);
      },
      kOneWorker);
}

TEST(Channel, RendezvousReceiverParksUntilSend) {
  orca::run(
      []() -> Task<void> {
        Channel<std::string> ch;
        std::string got;
        orca::go([&]() -> Task<void> {
          auto v = co_await ch.recv();
          if (v) got = *v;
        });
        co_await until_parked(1);
        CO_ASSERT_EQ(got, std::string());
        CO_ASSERT_TRUE(co_await ch.send(std::string("hello")));  // hands off to the parked receiver
        co_await orca::yield();
        CO_ASSERT_EQ(got, std::string("hello"));
      },
      kOneWorker);
}

TEST(Channel, BufferedValuesComeOutInFifoOrder) {
  orca::run([]() -> Task<void> {
    Channel<int> ch(3);
    for (int i = 1; i <= 3; ++i)
      CO_ASSERT_TRUE(co_await ch.send(i));  // never parks: there is room
    auto full = ch.try_send(4);
    CO_ASSERT_EQ(full.error(), make_error_code(errc::would_block));
    CO_ASSERT_EQ(full.unsent(), 4);
    for (int want = 1; want <= 3; ++want) {
      auto v = co_await ch.recv();
      CO_ASSERT_TRUE(v.has_value());
      CO_ASSERT_EQ(*v, want);
    }
  });
}

TEST(Channel, BufferedSenderParksWhenFullAndKeepsOrder) {
  orca::run(
      []() -> Task<void> {
        Channel<int> ch(2);
        orca::go([&]() -> Task<void> {
          for (int i = 0; i < 6; ++i)
            CO_EXPECT_TRUE(co_await ch.send(i));
        });
        co_await until_parked(1);  // filled the ring, parked on the third
        CO_ASSERT_EQ(ch.len(), std::size_t{2});
        for (int want = 0; want < 6; ++want) {
          auto v = co_await ch.recv();
          CO_ASSERT_TRUE(v.has_value());
          CO_ASSERT_EQ(*v, want);
        }
      },
      kOneWorker);
}

TEST(Channel, CloseDeliversBufferedValuesThenReportsClosed) {
  orca::run([]() -> Task<void> {
    Channel<int> ch(4);
    CO_ASSERT_TRUE(co_await ch.send(1));
    CO_ASSERT_TRUE(co_await ch.send(2));
    CO_ASSERT_TRUE(ch.close());
    auto a = co_await ch.recv();
    auto b = co_await ch.recv();
    CO_ASSERT_TRUE(a.has_value() && b.has_value());
    CO_ASSERT_EQ(*a, 1);
    CO_ASSERT_EQ(*b, 2);
    auto c = co_await ch.recv();
    CO_ASSERT_EQ(c.error(), make_error_code(errc::closed));
    CO_ASSERT_EQ(ch.try_recv().error(), make_error_code(errc::closed));
    auto again = co_await ch.recv();  // stays closed
    CO_ASSERT_EQ(again.error(), make_error_code(errc::closed));
  });
}

TEST(Channel, SendOnClosedChannelReportsClosedAndGivesValueBack) {
  orca::run([]() -> Task<void> {
    Channel<std::unique_ptr<int>> ch(1);
    CO_ASSERT_TRUE(ch.close());
    auto r = co_await ch.send(std::make_unique<int>(5));
    CO_ASSERT_EQ(r.error(), make_error_code(errc::closed));
    CO_ASSERT_TRUE(r.unsent() != nullptr);
    CO_ASSERT_EQ(*r.unsent(), 5);
    auto t = ch.try_send(std::make_unique<int>(6));
    CO_ASSERT_EQ(t.error(), make_error_code(errc::closed));
    CO_ASSERT_EQ(*std::move(t).unsent(), 6);
  });
}

TEST(Channel, DoubleCloseReportsClosed) {
  Channel<int> ch;
  EXPECT_TRUE(ch.close());
  auto second = ch.close();
  EXPECT_EQ(second.error(), make_error_code(errc::closed));
}

TEST(Channel, SenderParkedAtCloseGetsClosedAndItsValueBack) {
  LifetimeCounts counts;
  orca::run(
      [&]() -> Task<void> {
        Channel<Counted> ch;
        int unsent = 0;
        orca::go([&]() -> Task<void> {
          auto r = co_await ch.send(Counted(counts, 7));
          EXPECT_EQ(r.error(), make_error_code(errc::closed));
          if (!r) unsent = r.unsent().value();
        });
        co_await until_parked(1);
        CO_ASSERT_TRUE(ch.close());
        co_await until_parked(0);
        co_await orca::yield();
        CO_ASSERT_EQ(unsent, 7);
      },
      kOneWorker);
  EXPECT_EQ(counts.alive(), 0) << counts.describe();
}

TEST(Channel, CloseWakesEveryParkedReceiver) {
  constexpr int kReceivers = 20;
  std::atomic<int> closed{0};
  orca::run([&]() -> Task<void> {
    Channel<int> ch;
    orca::WaitGroup wg;
    wg.add(kReceivers);
    for (int i = 0; i < kReceivers; ++i) {
      orca::go([&]() -> Task<void> {
        auto v = co_await ch.recv();
        if (v.error() == errc::closed) closed.fetch_add(1);
        wg.done();
      });
    }
    co_await until_parked(kReceivers);
    CO_ASSERT_TRUE(ch.close());
    (void)co_await wg.wait();
  });
  EXPECT_EQ(closed.load(), kReceivers);
}

TEST(Channel, LenAndCap) {
  Channel<int> unbuffered;
  EXPECT_EQ(unbuffered.cap(), 0u);
  EXPECT_EQ(unbuffered.len(), 0u);
  Channel<int> ch(5);
  EXPECT_EQ(ch.cap(), 5u);
  EXPECT_TRUE(ch.try_send(1));
  EXPECT_TRUE(ch.try_send(2));
  EXPECT_EQ(ch.len(), 2u);
  EXPECT_TRUE(ch.try_recv());
  EXPECT_EQ(ch.len(), 1u);
  EXPECT_TRUE(ch.close());
  EXPECT_EQ(ch.len(), 1u);  // closing keeps what is buffered
}

TEST(Channel, TryOperationsNeverBlock) {
  orca::run(
      []() -> Task<void> {
        Channel<int> ch;
        CO_ASSERT_EQ(ch.try_recv().error(), make_error_code(errc::would_block));
        CO_ASSERT_EQ(ch.try_send(1).error(), make_error_code(errc::would_block));  // no receiver
        int got = 0;
        orca::go([&]() -> Task<void> {
          auto v = co_await ch.recv();
          got = v ? *v : -1;
        });
        co_await until_parked(1);
        CO_ASSERT_TRUE(ch.try_send(9));  // a parked receiver takes it
        co_await orca::yield();
        CO_ASSERT_EQ(got, 9);
        orca::go([&]() -> Task<void> { (void)co_await ch.send(10); });
        co_await until_parked(1);
        auto v = ch.try_recv();  // a parked sender gives it
        CO_ASSERT_TRUE(v.has_value());
        CO_ASSERT_EQ(*v, 10);
      },
      kOneWorker);
}

TEST(Channel, MoveOnlyValuesThroughBufferAndHandOff) {
  orca::run(
      []() -> Task<void> {
        Channel<std::unique_ptr<int>> buffered(2);
        CO_ASSERT_TRUE(co_await buffered.send(std::make_unique<int>(1)));
        auto one = co_await buffered.recv();
        CO_ASSERT_TRUE(one.has_value() && *one != nullptr);
        CO_ASSERT_EQ(**one, 1);

        Channel<std::unique_ptr<int>> rendezvous;
        orca::go([&]() -> Task<void> {
          for (int i = 0; i < 3; ++i)
            CO_EXPECT_TRUE(co_await rendezvous.send(std::make_unique<int>(i)));
          (void)rendezvous.close();
        });
        int want = 0;
        while (auto v = co_await rendezvous.recv()) {
          CO_ASSERT_EQ(**v, want);
          ++want;
        }
        CO_ASSERT_EQ(want, 3);
      },
      kOneWorker);
}

TEST(Channel, ValuesAreDestroyedExactlyOnce) {
  LifetimeCounts counts;
  orca::run(
      [&]() -> Task<void> {
        Channel<Counted> ch(4);
        orca::go([&]() -> Task<void> {
          for (int i = 0; i < 10; ++i)
            CO_EXPECT_TRUE(co_await ch.send(Counted(counts, i)));
          (void)ch.close();
        });
        int sum = 0;
        for (int i = 0; i < 7; ++i) {
          auto v = co_await ch.recv();
          CO_ASSERT_TRUE(v.has_value());
          sum += v->value();
        }
        CO_ASSERT_EQ(sum, 21);
        co_await until_parked(0);
        co_await orca::yield();
        // Three values stay buffered; the channel destroys them.
        CO_ASSERT_EQ(ch.len(), std::size_t{3});
      },
      kOneWorker);
  EXPECT_EQ(counts.alive(), 0) << counts.describe();
  EXPECT_EQ(counts.copied.load(), 0) << counts.describe();
}

TEST(Channel, RangeStyleLoopsEndWhenClosedAndDrained) {
  orca::run([]() -> Task<void> {
    Channel<int> ch(8);
    for (int i = 0; i < 5; ++i)
      CO_ASSERT_TRUE(ch.try_send(i));
    CO_ASSERT_TRUE(ch.close());
    int n = 0;
    while (auto v = co_await ch.recv())
      n += *v;
    CO_ASSERT_EQ(n, 10);

    Channel<int> ch2(8);
    for (int i = 0; i < 5; ++i)
      CO_ASSERT_TRUE(ch2.try_send(i));
    CO_ASSERT_TRUE(ch2.close());
    auto ctx = orca::background();
    int m = 0;
    auto v = co_await ch2.recv(ctx);
    for (; v; v = co_await ch2.recv(ctx))
      m += *v;
    CO_ASSERT_EQ(m, 10);
    CO_ASSERT_EQ(v.error(), make_error_code(errc::closed));
  });
}

TEST(Channel, ParkedReceiveCancelledByContextWithdraws) {
  orca::run(
      []() -> Task<void> {
        Channel<int> ch;
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        std::error_code err;
        bool finished = false;
        orca::go([&, ctx = ctx]() -> Task<void> {
          auto v = co_await ch.recv(ctx);
          err = v.error();
          finished = true;
        });
        co_await until_parked(1);
        cancel();
        co_await until_parked(0);
        co_await orca::yield();
        CO_ASSERT_EQ(finished, true);
        CO_ASSERT_EQ(err, make_error_code(errc::canceled));
        // The cancelled receiver left the queue: nobody takes a value any more.
        CO_ASSERT_EQ(ch.try_send(1).error(), make_error_code(errc::would_block));
      },
      kOneWorker);
}

TEST(Channel, ParkedSendCancelledByContextKeepsValue) {
  orca::run(
      []() -> Task<void> {
        Channel<std::unique_ptr<int>> ch;
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        int unsent = 0;
        orca::go([&, ctx = ctx]() -> Task<void> {
          auto r = co_await ch.send(ctx, std::make_unique<int>(42));
          EXPECT_EQ(r.error(), make_error_code(errc::canceled));
          if (!r && r.unsent()) unsent = *r.unsent();
        });
        co_await until_parked(1);
        cancel();
        co_await until_parked(0);
        co_await orca::yield();
        CO_ASSERT_EQ(unsent, 42);
        CO_ASSERT_EQ(ch.try_recv().error(), make_error_code(errc::would_block));
      },
      kOneWorker);
}

TEST(Channel, ParkedReceiveEndsWithDeadlineExceeded) {
  orca::run([]() -> Task<void> {
    Channel<int> ch;
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 2ms);
    auto v = co_await ch.recv(ctx);
    CO_ASSERT_EQ(v.error(), make_error_code(errc::deadline_exceeded));
    auto s = co_await ch.send(ctx, 1);
    CO_ASSERT_EQ(s.error(), make_error_code(errc::deadline_exceeded));
    CO_ASSERT_EQ(s.unsent(), 1);
    cancel();
  });
}

TEST(Channel, DoneContextFailsAtOnceEvenIfReady) {
  orca::run([]() -> Task<void> {
    Channel<int> ch(1);
    CO_ASSERT_TRUE(ch.try_send(3));
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    cancel();
    auto v = co_await ch.recv(ctx);
    CO_ASSERT_EQ(v.error(), make_error_code(errc::canceled));
    CO_ASSERT_EQ(ch.len(), std::size_t{1});  // the value is still there
    auto s = co_await ch.send(ctx, 4);
    CO_ASSERT_EQ(s.error(), make_error_code(errc::canceled));
  });
}

TEST(Channel, HotLoopYieldsToOtherTasks) {
  // One worker: a task looping on an always-ready channel must still let others
  // run (cooperative budget), so `other` runs long before the loop ends.
  orca::run(
      []() -> Task<void> {
        Channel<int> ch(1);
        int loops_when_other_ran = -1;
        int loops = 0;
        orca::go([&]() -> Task<void> {
          loops_when_other_ran = loops;
          co_return;
        });
        for (; loops < 10'000; ++loops) {
          CO_ASSERT_TRUE(co_await ch.send(loops));
          CO_ASSERT_TRUE(co_await ch.recv());
        }
        CO_ASSERT_TRUE(loops_when_other_ran >= 0 && loops_when_other_ran < 1000);
      },
      kOneWorker);
}

TEST(Channel, UsableFromThreadsOutsideTheRuntime) {
  Channel<int> ch(2);
  EXPECT_TRUE(ch.try_send(1));
  auto v = ch.try_recv();
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, 1);
  // A plain thread closes while a task is parked receiving.
  std::error_code got;
  orca::run([&]() -> Task<void> {
    orca::ExternalWaker keep_alive;  // the close comes from outside the runtime
    std::thread closer([&] {
      while (orca::stats().parked_tasks < 1)
        std::this_thread::yield();
      (void)ch.close();
    });
    auto r = co_await ch.recv();
    got = r.error();
    closer.join();
  });
  EXPECT_EQ(got, make_error_code(errc::closed));
}

}  // namespace
