// ConnectivityWindow and OutageLog (orca/jobs/detail/broker_reachability.hpp), fed
// time points by hand: when a center may judge nodes by their heartbeats, and which
// lines an outage logs.
#include "orca/jobs/detail/broker_reachability.hpp"

#include <gtest/gtest.h>

namespace orca::jobs::testing {
namespace {

using namespace std::chrono_literals;
using detail::ConnectivityWindow;
using detail::OutageLog;

// The node timeout of CenterOptions, and the pause the center allows (half of it).
constexpr auto kWindow = 3000ms;
constexpr auto kMaxGap = 1500ms;

const Clock::time_point t0 = Clock::time_point{} + 1000s;

// Successes every `step` from `from` up to and including `to`.
void reach_every(ConnectivityWindow& w, Clock::time_point from, Clock::time_point to,
                 Clock::duration step) {
  for (auto t = from; t <= to; t += step)
    w.reached(t);
}

TEST(BrokerReachability, NotTrustedBeforeAnyCall) {
  ConnectivityWindow w(kWindow, kMaxGap);
  EXPECT_FALSE(w.trusted(t0));
  EXPECT_FALSE(w.trusted(t0 + 1h));
}

TEST(BrokerReachability, TrustedAfterAWindowOfSuccesses) {
  ConnectivityWindow w(kWindow, kMaxGap);
  reach_every(w, t0, t0 + 2900ms, 100ms);
  EXPECT_FALSE(w.trusted(t0 + 2900ms)) << "2.9 s of reach, want 3 s";
  w.reached(t0 + 3000ms);
  EXPECT_TRUE(w.trusted(t0 + 3000ms));
}

TEST(BrokerReachability, AFailureRestartsTheWindow) {
  ConnectivityWindow w(kWindow, kMaxGap);
  reach_every(w, t0, t0 + 5s, 100ms);
  ASSERT_TRUE(w.trusted(t0 + 5s));
  w.lost();
  EXPECT_FALSE(w.trusted(t0 + 5100ms)) << "trusted right after a failed call";
  // The broker is back: a window of reach from the first success after the failure.
  reach_every(w, t0 + 35s, t0 + 37900ms, 100ms);
  EXPECT_FALSE(w.trusted(t0 + 37900ms)) << "trusted 2.9 s after the outage ended";
  w.reached(t0 + 38s);
  EXPECT_TRUE(w.trusted(t0 + 38s));
}

TEST(BrokerReachability, APauseLongerThanTheGapRestartsTheWindow) {
  // A call held up for 30 s that then succeeds (a connection came back under it)
  // hides whatever happened meanwhile: it counts as the start of a new streak.
  ConnectivityWindow w(kWindow, kMaxGap);
  reach_every(w, t0, t0 + 5s, 100ms);
  ASSERT_TRUE(w.trusted(t0 + 5s));
  w.reached(t0 + 35s);
  EXPECT_FALSE(w.trusted(t0 + 35s)) << "trusted right after a 30 s pause";
  reach_every(w, t0 + 35100ms, t0 + 38s, 100ms);
  EXPECT_TRUE(w.trusted(t0 + 38s));
}

TEST(BrokerReachability, APauseWithinTheGapKeepsTheWindow) {
  ConnectivityWindow w(kWindow, kMaxGap);
  reach_every(w, t0, t0 + 2s, 100ms);
  w.reached(t0 + 3400ms);  // 1.4 s after the last: a slow trim, say
  EXPECT_TRUE(w.trusted(t0 + 3400ms));
}

TEST(BrokerReachability, NotTrustedWhenTheLastSuccessIsOlderThanTheGap) {
  // The judge asks before its next call: if it has seen nothing for longer than
  // the gap (it was stopped), it does not judge on old news.
  ConnectivityWindow w(kWindow, kMaxGap);
  reach_every(w, t0, t0 + 5s, 100ms);
  EXPECT_TRUE(w.trusted(t0 + 6500ms));
  EXPECT_FALSE(w.trusted(t0 + 6600ms));
}

TEST(BrokerReachability, OutageLogsItsStartOnce) {
  OutageLog log("node w1");
  EXPECT_FALSE(log.reached(t0).has_value()) << "a success with no outage logs nothing";
  auto first = log.failed(t0, "heartbeat: connection lost");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, "orca: node w1: broker unreachable (heartbeat: connection lost); retrying");
  for (auto t = t0 + 100ms; t < t0 + 10s; t += 100ms)
    EXPECT_FALSE(log.failed(t, "claim: connection lost").has_value()) << "repeated before 10 s";
  EXPECT_TRUE(log.in_outage());
}

TEST(BrokerReachability, OutageRepeatsEveryTenSeconds) {
  OutageLog log("center");
  ASSERT_TRUE(log.failed(t0, "x").has_value());
  int lines = 0;
  std::string last;
  for (auto t = t0 + 50ms; t <= t0 + 30s; t += 50ms)
    if (auto line = log.failed(t, "reap nodes: connection refused")) {
      ++lines;
      last = *line;
    }
  EXPECT_EQ(lines, 3) << "lines in 30 s after the first";
  EXPECT_EQ(last,
            "orca: center: broker still unreachable after 30.0 s (reap nodes: connection "
            "refused); retrying");
}

TEST(BrokerReachability, RecoveryLogsTheOutagesLengthOnce) {
  OutageLog log("node w2");
  ASSERT_TRUE(log.failed(t0, "x").has_value());
  auto back = log.reached(t0 + 30200ms);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, "orca: node w2: broker reachable again after 30.2 s");
  EXPECT_FALSE(log.in_outage());
  EXPECT_FALSE(log.reached(t0 + 30300ms).has_value()) << "recovery logged twice";
  // The next outage starts afresh.
  auto again = log.failed(t0 + 40s, "y");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, "orca: node w2: broker unreachable (y); retrying");
}

}  // namespace
}  // namespace orca::jobs::testing
