// The job state machine's rules (state_machine.hpp), one event at a time on
// snapshots; that both brokers agree with it is state_machine_cross_test.cpp.
#include "orca/jobs/state_machine.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace {

using orca::jobs::Completion;
using orca::jobs::errc;
using orca::jobs::JobEvent;
using orca::jobs::JobSnapshot;
using orca::jobs::JobState;
using orca::jobs::Outcome;
using orca::jobs::transition;
using namespace std::chrono_literals;

const orca::jobs::WallClock::time_point kRuleNow = orca::jobs::WallClock::time_point{} + 1'000'000h;

JobSnapshot rule_running_on(std::string node, int attempt, int max_attempts) {
  JobSnapshot j;
  j.state = JobState::kRunning;
  j.node = std::move(node);
  j.attempt = attempt;
  j.max_attempts = max_attempts;
  j.ready_at = kRuleNow - 1min;
  return j;
}

Completion rule_completion(std::string node, int attempt, Outcome outcome) {
  Completion c;
  c.node = std::move(node);
  c.attempt = attempt;
  c.outcome = outcome;
  c.error = "boom";
  c.retry_delay = 5s;
  return c;
}

TEST(StateMachineRules, ClaimTakesPendingAndCountsTheAttempt) {
  JobSnapshot j;
  j.max_attempts = 3;
  const auto o = transition(j, JobEvent::claim("n1"), kRuleNow);
  ASSERT_FALSE(o.refused);
  EXPECT_TRUE(o.changed);
  EXPECT_EQ(o.to, JobState::kRunning);
  EXPECT_EQ(o.attempt, 1);
  EXPECT_EQ(o.node, "n1");
  const auto again = transition(rule_running_on("n1", 1, 3), JobEvent::claim("n2"), kRuleNow);
  EXPECT_EQ(again.refused, errc::lease_lost);
}

TEST(StateMachineRules, CompleteIsFencedByNodeAndAttempt) {
  const JobSnapshot j = rule_running_on("n1", 2, 3);
  EXPECT_EQ(
      transition(j, JobEvent::complete(rule_completion("n2", 2, Outcome::kSucceeded)), kRuleNow)
          .refused,
      errc::lease_lost);
  EXPECT_EQ(
      transition(j, JobEvent::complete(rule_completion("n1", 1, Outcome::kSucceeded)), kRuleNow)
          .refused,
      errc::lease_lost);
  const auto ok =
      transition(j, JobEvent::complete(rule_completion("n1", 2, Outcome::kSucceeded)), kRuleNow);
  ASSERT_FALSE(ok.refused);
  EXPECT_EQ(ok.to, JobState::kSucceeded);
  EXPECT_TRUE(ok.finished);
}

TEST(StateMachineRules, ARetryableFailureRetriesUntilTheLastAttemptThenDies) {
  const auto retry =
      transition(rule_running_on("n1", 2, 3),
                 JobEvent::complete(rule_completion("n1", 2, Outcome::kRetryable)), kRuleNow);
  ASSERT_FALSE(retry.refused);
  EXPECT_EQ(retry.to, JobState::kRetrying);
  EXPECT_EQ(retry.ready_at, kRuleNow + 5s);
  EXPECT_FALSE(retry.finished);
  const auto dead =
      transition(rule_running_on("n1", 3, 3),
                 JobEvent::complete(rule_completion("n1", 3, Outcome::kRetryable)), kRuleNow);
  ASSERT_FALSE(dead.refused);
  EXPECT_EQ(dead.to, JobState::kDead);
  EXPECT_TRUE(dead.finished);
}

TEST(StateMachineRules, ARetryThatWouldStartPastTheDeadlineDies) {
  JobSnapshot j = rule_running_on("n1", 1, 5);
  j.deadline = kRuleNow + 2s;  // the retry would be ready at now + 5 s
  const auto o =
      transition(j, JobEvent::complete(rule_completion("n1", 1, Outcome::kRetryable)), kRuleNow);
  ASSERT_FALSE(o.refused);
  EXPECT_EQ(o.to, JobState::kDead);
}

TEST(StateMachineRules, CancelFlagsARunningJobAndRefusesAFinishedOne) {
  const auto flagged = transition(rule_running_on("n1", 1, 3), JobEvent::cancel(), kRuleNow);
  ASSERT_FALSE(flagged.refused);
  EXPECT_EQ(flagged.to, JobState::kRunning);
  EXPECT_TRUE(flagged.cancel_requested);
  JobSnapshot done;
  done.state = JobState::kSucceeded;
  EXPECT_EQ(transition(done, JobEvent::cancel(), kRuleNow).refused, errc::invalid_state);
}

TEST(StateMachineRules, UnreadableFailsOnlyAJobRunningOnTheActingNode) {
  const auto failed =
      transition(rule_running_on("n1", 1, 3), JobEvent::unreadable("n1", "bad spec"), kRuleNow);
  ASSERT_FALSE(failed.refused);
  EXPECT_EQ(failed.to, JobState::kFailed);
  EXPECT_EQ(failed.last_error, "bad spec");
  EXPECT_EQ(
      transition(rule_running_on("n2", 1, 3), JobEvent::unreadable("n1", "bad spec"), kRuleNow)
          .refused,
      errc::lease_lost);
  JobSnapshot finished;
  finished.state = JobState::kSucceeded;
  finished.node = "n1";
  EXPECT_EQ(transition(finished, JobEvent::unreadable("n1", "bad spec"), kRuleNow).refused,
            errc::lease_lost);
}

}  // namespace
