// FleetRateLimiter against a real redis-server: limiters in different processes (here:
// different clients) that name one key share one limit, by the server's clock.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "orca/redis/rate_limiter.hpp"
#include "redis_test_support.hpp"

using namespace std::chrono_literals;
using orca::redis::Client;
using orca::redis::FleetRateLimiter;
using orca_redis_test::Bounded;
using orca_redis_test::cmd;
using orca_redis_test::describe;
using orca_redis_test::run_on;
using orca_redis_test::url_of;

namespace {

// One unit an hour, bursts of 5: nothing refills during a test, so every count below
// holds by construction, however slow the machine.
constexpr orca::resilience::RateLimiterOptions kSlow{.events = 1, .per = 1h, .burst = 5};

TEST(FleetRateLimiter, LimitersOnOneKeyShareOneLimit) {
  ORCA_REDIS_SERVER(server);
  int admitted_a = 0, admitted_b = 0, other_key = 0;
  bool refused_waits_most_of_an_hour = false;
  std::error_code too_large;
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto client_a = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_OK(client_a);
    auto client_b = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_OK(client_b);
    FleetRateLimiter a(*client_a, "test:limit:", kSlow);
    FleetRateLimiter other(*client_b, "test:limit:", kSlow);
    for (int i = 0; i < 3; ++i) {
      auto d = co_await a.decide(b.ctx, "email");
      if (d && d->allowed) ++admitted_a;
    }
    for (int i = 0; i < 4; ++i) {
      auto d = co_await other.decide(b.ctx, "email");
      if (d && d->allowed) ++admitted_b;
      if (d && !d->allowed) refused_waits_most_of_an_hour = d->retry_after > 59min;
    }
    auto sms = co_await other.decide(b.ctx, "sms");
    if (sms && sms->allowed) ++other_key;
    auto big = co_await a.decide(b.ctx, "email", 6);
    too_large = std::error_code(big.error());
  });
  EXPECT_EQ(admitted_a, 3);
  EXPECT_EQ(admitted_b, 2) << "the second limiter gets what the first left of the burst";
  EXPECT_TRUE(refused_waits_most_of_an_hour);
  EXPECT_EQ(other_key, 1) << "another key has its own limit";
  EXPECT_EQ(too_large, orca::resilience::make_error_code(orca::resilience::errc::too_large));
}

TEST(FleetRateLimiter, TakeUpToGrantsWhatIsLeftAndGiveBackReturnsItToOthers) {
  ORCA_REDIS_SERVER(server);
  std::int64_t first = -1, second = -1, after_give_back = -1, when_spent = -1, zero = -1;
  std::chrono::nanoseconds refused_wait{0};
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto client_a = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(client_a);
    auto client_b = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(client_b);
    FleetRateLimiter a(*client_a, "test:limit:", kSlow);
    FleetRateLimiter other(*client_b, "test:limit:", kSlow);
    auto g1 = co_await a.take_up_to(b.ctx, "email", 3);
    CO_ASSERT_TRUE(g1);
    first = g1->granted;
    auto g2 = co_await other.take_up_to(b.ctx, "email", 10);
    CO_ASSERT_TRUE(g2);
    second = g2->granted;
    auto back = co_await a.give_back(b.ctx, "email", 2);
    CO_ASSERT_TRUE(back);
    auto g3 = co_await other.take_up_to(b.ctx, "email", 10);
    CO_ASSERT_TRUE(g3);
    after_give_back = g3->granted;
    auto g4 = co_await a.take_up_to(b.ctx, "email", 1);
    CO_ASSERT_TRUE(g4);
    when_spent = g4->granted;
    refused_wait = g4->retry_after;
    auto g5 = co_await a.take_up_to(b.ctx, "sms", 0);
    CO_ASSERT_TRUE(g5);
    zero = g5->granted;
  });
  EXPECT_EQ(first, 3);
  EXPECT_EQ(second, 2) << "what the first left of the burst of 5, not the 10 asked";
  EXPECT_EQ(after_give_back, 2) << "the 2 units given back, to another client";
  EXPECT_EQ(when_spent, 0);
  EXPECT_GT(refused_wait, 59min) << "one unit an hour";
  EXPECT_EQ(zero, 0);
}

// Batching tests hold the limiter's first calls on the server with CLIENT PAUSE WRITE
// (a script that may write waits while paused), so that the calls behind them queue,
// and release them once the queue is as the test wants it: no timing involved.
orca::Task<bool> fleet_pause_writes(const orca::Context& ctx, Client& control, bool pause) {
  auto words = pause ? cmd("CLIENT", "PAUSE", "60000", "WRITE") : cmd("CLIENT", "UNPAUSE");
  auto r = co_await control.command(ctx, std::move(words));
  co_return r && !r->is_error();
}

// Waits (polling) until `want` decide() calls on `key` are queued, or ctx ends.
orca::Task<bool> fleet_wait_queued(const orca::Context& ctx, const FleetRateLimiter& limiter,
                                   std::string_view key, std::size_t want) {
  while (limiter.queued(key) != want) {
    if (ctx.is_done()) co_return false;
    co_await orca::sleep_for(1ms);
  }
  co_return true;
}

orca::Task<bool> fleet_wait_in_flight(const orca::Context& ctx, const FleetRateLimiter& limiter,
                                      std::string_view key, int want) {
  while (limiter.in_flight(key) != want) {
    if (ctx.is_done()) co_return false;
    co_await orca::sleep_for(1ms);
  }
  co_return true;
}

// The server's count of EVALSHA calls since the last CONFIG RESETSTAT.
orca::Task<long long> fleet_evalsha_calls(const orca::Context& ctx, Client& control) {
  auto r = co_await control.command(ctx, cmd("INFO", "commandstats"));
  if (!r || r->is_error()) co_return -1;
  const std::string text = r->str();
  const auto at = text.find("cmdstat_evalsha:calls=");
  if (at == std::string::npos) co_return 0;
  co_return std::atoll(text.c_str() + at + 22);
}

// 300 callers at once on a burst of 100 (nothing refills): the two first go out
// alone, the other 298 queue and go in batches of at most kMaxBatch. Exactly the
// burst is admitted, each admitted decision sees its own remaining count (the script
// decides each request on what the ones before it left), and the server ran 2 + 3
// script calls, not 300.
TEST(FleetRateLimiter, ConcurrentDecisionsAreBatchedAndAdmitExactlyTheBurst) {
  ORCA_REDIS_SERVER(server);
  constexpr int kCallers = 300;
  constexpr std::int64_t kBurst = 100;
  constexpr auto kQueued = static_cast<std::size_t>(kCallers - FleetRateLimiter::kMaxInFlight);
  int admitted = 0, refused_for_most_of_an_hour = 0, failed = 0;
  std::vector<std::int64_t> remaining;
  long long script_calls = -1;
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto client = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(client);
    auto control = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(control);
    FleetRateLimiter limiter(*client, "test:limit:", {.events = 1, .per = 1h, .burst = kBurst});
    // A first call loads the script (EVALSHA, then EVAL); then the server's counts go.
    auto warm = co_await limiter.decide(b.ctx, "warm-up");
    CO_ASSERT_TRUE(warm);
    auto reset = co_await control->command(b.ctx, cmd("CONFIG", "RESETSTAT"));
    CO_ASSERT_TRUE(reset);
    const bool paused = co_await fleet_pause_writes(b.ctx, *control, true);
    CO_ASSERT_TRUE(paused);
    std::mutex mu;
    std::vector<orca::JoinHandle<void>> callers;
    for (int i = 0; i < kCallers; ++i)
      callers.push_back(orca::spawn([&]() -> orca::Task<void> {
        auto d = co_await limiter.decide(b.ctx, "email");
        std::lock_guard lock(mu);
        if (!d) {
          ++failed;
        } else if (d->allowed) {
          ++admitted;
          remaining.push_back(d->remaining);
        } else if (d->retry_after > 59min) {
          ++refused_for_most_of_an_hour;
        }
      }));
    const bool queued = co_await fleet_wait_queued(b.ctx, limiter, "email", kQueued);
    const bool resumed = co_await fleet_pause_writes(b.ctx, *control, false);
    for (auto& c : callers)
      co_await std::move(c);
    CO_ASSERT_TRUE(queued && resumed);
    script_calls = co_await fleet_evalsha_calls(b.ctx, *control);
    co_await client->closed();
    co_await control->closed();
  });
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(admitted, kBurst);
  EXPECT_EQ(refused_for_most_of_an_hour, kCallers - kBurst);
  std::sort(remaining.begin(), remaining.end());
  std::vector<std::int64_t> each(kBurst);
  std::iota(each.begin(), each.end(), 0);
  EXPECT_EQ(remaining, each) << "each admitted decision sees what the ones before it left";
  EXPECT_EQ(script_calls, 2 + 3) << "two alone, then 298 queued in batches of 128, 128 and 42";
}

// One batch of requests with their own costs, in the order they queued: on a burst of
// 10 with 2 units taken, [1, 5, 3, 1] admits 1 and 5, refuses 3 (2 left) without
// taking anything, and admits the last 1.
TEST(FleetRateLimiter, ABatchDecidesEachRequestInOrderWithItsOwnCost) {
  ORCA_REDIS_SERVER(server);
  const std::vector<std::int64_t> costs{1, 5, 3, 1};
  std::vector<std::optional<orca::Result<orca::resilience::Decision>>> got(4);
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    // One connection: the server runs the two held calls, then the batch, in the order
    // they were sent (across connections, a paused server may take them in any order).
    orca::redis::ClientOptions one_connection;
    one_connection.pool_size = 1;
    auto client = co_await Client::connect(b.ctx, url_of(server), one_connection);
    CO_ASSERT_TRUE(client);
    auto control = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(control);
    FleetRateLimiter limiter(*client, "test:limit:", {.events = 1, .per = 1h, .burst = 10});
    // Load the script first: on a fresh server a first call goes out twice (EVALSHA,
    // then EVAL on NOSCRIPT), and its second send could land after the batch.
    auto warm = co_await limiter.decide(b.ctx, "warm-up");
    CO_ASSERT_TRUE(warm);
    const bool paused = co_await fleet_pause_writes(b.ctx, *control, true);
    CO_ASSERT_TRUE(paused);
    std::vector<orca::JoinHandle<void>> first;  // hold the two slots
    for (int i = 0; i < FleetRateLimiter::kMaxInFlight; ++i)
      first.push_back(orca::spawn([&]() -> orca::Task<void> {
        auto d = co_await limiter.decide(b.ctx, "email");
        EXPECT_TRUE(d && d->allowed);
      }));
    // Both hold their slots before the batch's callers come (else one of those could
    // take a slot and go out alone, and a held call would queue in its place).
    bool queued = co_await fleet_wait_in_flight(b.ctx, limiter, "email", 2);
    std::vector<orca::JoinHandle<void>> batch;
    for (std::size_t i = 0; i < costs.size() && queued; ++i) {
      // One at a time, each once the one before it is queued: the queue's order.
      batch.push_back(orca::spawn([&, i]() -> orca::Task<void> {
        auto d = co_await limiter.decide(b.ctx, "email", costs[i]);
        got[i].emplace(std::move(d));
      }));
      queued = co_await fleet_wait_queued(b.ctx, limiter, "email", i + 1);
    }
    const bool resumed = co_await fleet_pause_writes(b.ctx, *control, false);
    for (auto& t : first)
      co_await std::move(t);
    for (auto& t : batch)
      co_await std::move(t);
    CO_ASSERT_TRUE(queued && resumed);
    co_await client->closed();
    co_await control->closed();
  });
  std::vector<orca::resilience::Decision> d;
  for (const auto& g : got) {
    ASSERT_TRUE(g.has_value() && g->has_value()) << (g ? describe(g->error()) : "no answer");
    d.push_back(**g);
  }
  EXPECT_TRUE(d[0].allowed);
  EXPECT_EQ(d[0].remaining, 7);
  EXPECT_TRUE(d[1].allowed);
  EXPECT_EQ(d[1].remaining, 2);
  EXPECT_FALSE(d[2].allowed) << "3 units asked, 2 left";
  EXPECT_GT(d[2].retry_after, 59min);
  EXPECT_TRUE(d[3].allowed) << "the refusal before it took nothing";
  EXPECT_EQ(d[3].remaining, 1);
}

// Callers that leave while queued (their batch not sent) take nothing: of a burst of
// 10, the 3 callers that stayed take 3, and 7 are left for take_up_to.
TEST(FleetRateLimiter, AQueuedCallerThatLeavesTakesNothing) {
  ORCA_REDIS_SERVER(server);
  int stayed_admitted = 0;
  std::vector<std::error_code> left;
  std::int64_t left_over = -1;
  std::size_t queued_after_leaving = 99;
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto client = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(client);
    auto control = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(control);
    FleetRateLimiter limiter(*client, "test:limit:", {.events = 1, .per = 1h, .burst = 10});
    // Load the script first: on a fresh server a first call goes out twice (EVALSHA,
    // then EVAL on NOSCRIPT), and its second send could land after the batch.
    auto warm = co_await limiter.decide(b.ctx, "warm-up");
    CO_ASSERT_TRUE(warm);
    const bool paused = co_await fleet_pause_writes(b.ctx, *control, true);
    CO_ASSERT_TRUE(paused);
    std::mutex mu;
    // Three that stay: two hold the slots, one queues.
    std::vector<orca::JoinHandle<void>> stay;
    for (int i = 0; i < 3; ++i)
      stay.push_back(orca::spawn([&]() -> orca::Task<void> {
        auto d = co_await limiter.decide(b.ctx, "email");
        std::lock_guard lock(mu);
        if (d && d->allowed) ++stayed_admitted;
      }));
    bool queued = co_await fleet_wait_queued(b.ctx, limiter, "email", 1);
    // Four that queue behind them, then leave.
    auto [leave_ctx, leave] = orca::with_cancel(b.ctx);
    std::vector<orca::JoinHandle<void>> leavers;
    for (int i = 0; i < 4; ++i)
      leavers.push_back(orca::spawn([&, ctx = leave_ctx]() -> orca::Task<void> {
        auto d = co_await limiter.decide(ctx, "email");
        std::lock_guard lock(mu);
        left.push_back(d ? std::error_code() : std::error_code(d.error()));
      }));
    const bool all_queued = co_await fleet_wait_queued(b.ctx, limiter, "email", 5);
    queued = queued && all_queued;
    leave();
    for (auto& t : leavers)
      co_await std::move(t);
    queued_after_leaving = limiter.queued("email");
    const bool resumed = co_await fleet_pause_writes(b.ctx, *control, false);
    for (auto& t : stay)
      co_await std::move(t);
    CO_ASSERT_TRUE(queued && resumed);
    auto rest = co_await limiter.take_up_to(b.ctx, "email", 100);
    CO_ASSERT_TRUE(rest);
    left_over = rest->granted;
    co_await client->closed();
    co_await control->closed();
  });
  EXPECT_EQ(stayed_admitted, 3);
  ASSERT_EQ(left.size(), 4u);
  for (const auto& e : left)
    EXPECT_EQ(e, make_error_code(orca::errc::canceled)) << "got " << e.message();
  EXPECT_EQ(queued_after_leaving, 1u) << "the leavers left the queue";
  EXPECT_EQ(left_over, 7) << "10 - the 3 that stayed: the 4 that left took nothing";
}

// A batch sent to a server that does not answer ends at the limiter's batch timeout
// (here 100 ms; 5 s by default) with deadline_exceeded, and gives the key's slot
// back, however long its callers would have waited.
TEST(FleetRateLimiter, ABatchTheServerDoesNotAnswerEndsAtTheBatchTimeout) {
  ORCA_REDIS_SERVER(server);
  std::optional<orca::Result<orca::resilience::Decision>> queued_got;
  std::vector<std::error_code> holders;
  int in_flight_after = -1;
  bool constructor_refused_zero = false;
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto client = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(client);
    auto control = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(control);
    try {
      FleetRateLimiter zero(*client, "test:limit:", kSlow, 0ms);
    } catch (const std::invalid_argument&) {
      constructor_refused_zero = true;
    }
    FleetRateLimiter limiter(*client, "test:limit:", kSlow, 100ms);
    auto warm = co_await limiter.decide(b.ctx, "warm-up");
    CO_ASSERT_TRUE(warm);
    // Paused for 4 s, not for good: a limiter that ignored its 100 ms and waited its
    // default 5 s would see the server answer, and the batch succeed.
    auto paused = co_await control->command(b.ctx, cmd("CLIENT", "PAUSE", "4000", "WRITE"));
    CO_ASSERT_TRUE(paused && !paused->is_error());
    // Two callers hold the slots, under a context that the test ends; a third queues.
    auto [hold_ctx, release] = orca::with_cancel(b.ctx);
    std::mutex mu;
    std::vector<orca::JoinHandle<void>> held;
    for (int i = 0; i < FleetRateLimiter::kMaxInFlight; ++i)
      held.push_back(orca::spawn([&, ctx = hold_ctx]() -> orca::Task<void> {
        auto d = co_await limiter.decide(ctx, "email");
        std::lock_guard lock(mu);
        holders.push_back(d ? std::error_code() : std::error_code(d.error()));
      }));
    bool queued = co_await fleet_wait_in_flight(b.ctx, limiter, "email", 2);
    auto waiter = orca::spawn([&]() -> orca::Task<void> {
      auto d = co_await limiter.decide(b.ctx, "email");  // no deadline of its own
      queued_got.emplace(std::move(d));
    });
    const bool one_queued = co_await fleet_wait_queued(b.ctx, limiter, "email", 1);
    queued = queued && one_queued;
    // The holders leave: their slots pass to the queued caller's batch, which the
    // paused server does not answer.
    release();
    for (auto& t : held)
      co_await std::move(t);
    co_await std::move(waiter);
    in_flight_after = limiter.in_flight("email");
    const bool resumed = co_await fleet_pause_writes(b.ctx, *control, false);
    CO_ASSERT_TRUE(queued && resumed);
    co_await client->closed();
    co_await control->closed();
  });
  EXPECT_TRUE(constructor_refused_zero);
  ASSERT_EQ(holders.size(), 2u);
  for (const auto& e : holders)
    EXPECT_EQ(e, make_error_code(orca::errc::canceled)) << "got " << e.message();
  ASSERT_TRUE(queued_got.has_value());
  ASSERT_FALSE(queued_got->has_value()) << "the paused server answered";
  EXPECT_EQ(std::error_code(queued_got->error()), make_error_code(orca::errc::deadline_exceeded))
      << "got " << describe(queued_got->error());
  EXPECT_EQ(in_flight_after, 0) << "the key's slots are free again";
}

TEST(FleetRateLimiter, AnUnreachableServerGrantsNothingAtOnce) {
  std::int64_t granted = -1;
  std::error_code error;
  {
    ORCA_REDIS_SERVER(server);
    run_on(1, [&]() -> orca::Task<void> {
      Bounded b;
      auto client = co_await Client::connect(b.ctx, url_of(server));
      CO_ASSERT_TRUE(client);
      FleetRateLimiter limiter(*client, "test:limit:", kSlow);
      co_await orca::blocking([&] { server.stop(); });
      // Until the client has seen the connection go, a call may still be in flight:
      // each fails once the server is gone, and none waits for it to come back.
      for (int i = 0; i < 3; ++i) {
        auto g = co_await limiter.take_up_to(b.ctx, "email", 5);
        if (g) {
          granted = g->granted;
          continue;
        }
        error = g.error();
        break;
      }
      co_await client->closed();
    });
  }
  EXPECT_TRUE(error) << "take_up_to on a stopped server must fail, got " << granted << " granted";
  EXPECT_NE(error, make_error_code(orca::errc::deadline_exceeded)) << "it failed at once";
}

// Three processes (limiter_process.cpp) draw on one limit for a second each, as fast
// as Redis answers, starting together (they wait for each other on a counter in
// Redis). GCRA on the server's clock admits exactly burst + rate * t over an
// interval t of unbroken demand (±1). By the server's clock the test takes the whole
// interval, from the first call of any process to the last call of any, over which
// the units kept must not exceed what the limit allows (no decision is lost between
// processes: exact); and the interval in which all three draw at once, which must
// be nearly all of it, over which they must have kept at least 99% of the rate (the
// limit admits what is asked while demand lasts; a process's last calls, as it
// stops, are one or two processes' demand, which a loaded machine or a sanitizer
// may leave below the rate).
TEST(FleetRateLimiter, ThreeProcessesAdmitWithinOnePercentOfTheLimit) {
  ORCA_REDIS_SERVER(server);
  constexpr double kRate = 2000;
  constexpr std::int64_t kBurst = 50;
  std::vector<pid_t> pids;
  std::vector<std::string> outs;
  for (int p = 0; p < 3; ++p) {
    outs.push_back(server.dir() + "/limiter" + std::to_string(p) + ".out");
    pids.push_back(orca_test::redis_detail::spawn(
        {ORCA_REDIS_LIMITER_PROCESS, server.url(), "accuracy", std::to_string(kRate),
         std::to_string(kBurst), "8", "1000", "3"},
        server.dir(), outs.back()));
    ASSERT_GT(pids.back(), 0) << "fork failed";
  }
  std::int64_t kept = 0, first = 0, last = 0, latest_first = 0, earliest_last = 0, refused = 0;
  for (int p = 0; p < 3; ++p) {
    int status = 0;
    if (!orca_test::redis_detail::reap_within(pids[p], std::chrono::seconds(60), &status)) {
      for (pid_t pid : pids)
        ::kill(pid, SIGKILL);
      FAIL() << "limiter process " << p << " did not finish";
    }
    // Its "result KEPT FIRST LAST" line, among whatever else it wrote.
    std::ifstream in(outs[p]);
    std::string line, all;
    std::int64_t k = -1, f = -1, l = -1;
    while (std::getline(in, line)) {
      all.append(line).append("\n");
      long long kk = -1, ff = -1, ll = -1, rr = -1;
      if (std::sscanf(line.c_str(), "result %lld %lld %lld %lld", &kk, &ff, &ll, &rr) == 4) {
        k = kk;
        f = ff;
        l = ll;
        refused += rr;
      }
    }
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0 && k >= 0 && f > 0 && l > 0)
        << "limiter process " << p << " failed; it wrote:\n"
        << all;
    kept += k;
    first = p == 0 ? f : std::min(first, f);
    last = p == 0 ? l : std::max(last, l);
    latest_first = p == 0 ? f : std::max(latest_first, f);
    earliest_last = p == 0 ? l : std::min(earliest_last, l);
  }
  ASSERT_LT(latest_first, earliest_last) << "the processes' intervals must overlap (unbroken "
                                            "demand); one started after another ended";
  const double seconds = static_cast<double>(last - first) / 1e6;
  const double allowed = static_cast<double>(kBurst) + kRate * seconds;
  const double together = static_cast<double>(earliest_last - latest_first) / 1e6;
  const double at_least = 0.99 * kRate * together;
  EXPECT_GE(together, 0.9 * seconds)
      << "the processes drew together for " << together << " s of " << seconds << " s";
  EXPECT_LE(kept, static_cast<std::int64_t>(allowed) + 1)
      << "kept " << kept << " units over " << seconds << " s, the limit allows " << allowed;
  // Whether the limit admits what is asked can be told only while more is asked than
  // it allows, all the time: a loaded machine or a sanitizer leaves gaps in the
  // processes' demand (ASan on two busy cores: 2.4x the limit asked overall, 94% kept),
  // which leave demand, not the limiter, below the rate. Refusals of ten times what was
  // kept show demand far above the limit throughout (unloaded, release: about 50x).
  if (refused >= 10 * kept) {
    EXPECT_GE(static_cast<double>(kept), at_least)
        << "kept " << kept << " units (refused " << refused << "); all three drew for " << together
        << " s, in which the limit admits " << kRate * together << " (99%: " << at_least << ")";
  } else {
    std::printf(
        "demand stayed near the limit (refused %lld, kept %lld): the 99%% floor is "
        "not checked in this run\n",
        static_cast<long long>(refused), static_cast<long long>(kept));
  }
  std::printf(
      "kept %lld units over %.3f s (all three for %.3f s): %.3f%% of what the limit "
      "allows; refused %lld\n",
      static_cast<long long>(kept), seconds, together, 100.0 * static_cast<double>(kept) / allowed,
      static_cast<long long>(refused));
}

TEST(FleetRateLimiter, RatesBeyondItsResolutionAreRefused) {
  Client unconnected;
  EXPECT_THROW(FleetRateLimiter(unconnected, "x:", {.events = 2'000'000, .per = 1s}),
               std::invalid_argument);
  EXPECT_THROW(FleetRateLimiter(unconnected, "x:", {.events = -1}), std::invalid_argument);
}

}  // namespace
