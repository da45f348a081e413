// The job state machine: which event may move a job from which state to which, with
// what attempt count, node, ready time and last error, and what its audit row says.
// One pure function (no I/O, no clock of its own) that the brokers apply.
//
// Invariant: every outcome that changes a job names exactly one audit row, and the
// row's `from` is the state the snapshot had. A refused event changes nothing.
//
// The SQLite broker (sqlite_broker.cpp) calls transition() for each of its job
// transitions. The Redis broker's Lua scripts (src/jobs/lua/) cannot call C++: they
// implement the same rules, and tests/jobs/state_machine_cross_test.cpp drives both
// brokers with the same random event sequences and checks every job against this
// function's prediction.
//
// Rules, by event (JobDocs: docs/JOBS.md has the diagram):
//  1. assign:   pending at the attempt the center saw -> leased to the node, or
//               running with attempt + 1 (start); else lease_lost.
//  2. claim:    pending, or leased to the claiming node -> running, attempt + 1; else
//               lease_lost.
//  3. complete: only the running attempt of the reporting node (else lease_lost):
//               succeeded; cancelled (the handler stopped, or a retryable, permanent
//               or handed-back end of a job whose cancel was requested); failed
//               (permanent); dead (retryable with no attempts left, or whose retry
//               would start at or past the deadline); retrying at now + delay; pending
//               again at its place with the attempt not counted (hand-back).
//  4. cancel:   scheduled, pending, retrying, leased -> cancelled; running -> flagged
//               (cancel_requested, one audit row running -> running), the node ends it;
//               a running job already flagged: nothing; finished: invalid_state.
//  5. requeue:  failed or dead -> pending, attempts reset, ready now; else, or while
//               another live job holds its unique key, invalid_state.
//  6. promote:  scheduled or retrying whose ready time has come -> pending; else
//               nothing.
//  7. reclaim:  leased or running on a node that is gone or whose lease expired ->
//               pending at its place (the attempt of a running job counts), or
//               cancelled (running, cancel requested), or dead (running, no attempts
//               left); anything else: nothing.
//  8. unreadable: a job whose stored spec no longer parses, met by a claim: failed at
//               once with the parser's message (after a claim row: its attempt counts);
//               only a job running on the acting node, else lease_lost.
//
// Thread safety: a pure function; call it from anywhere.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "orca/jobs/broker.hpp"
#include "orca/jobs/errors.hpp"
#include "orca/jobs/job.hpp"

namespace orca::jobs {

// What a transition reads of a job.
struct JobSnapshot {
  JobState state = JobState::kPending;
  int attempt = 0;
  std::string node;
  bool cancel_requested = false;
  int max_attempts = 1;
  std::optional<WallClock::time_point> deadline;
  WallClock::time_point ready_at{};
  std::string last_error;

  static JobSnapshot of(const Job& job);
};

struct JobEvent {
  enum class Kind : std::uint8_t {
    kAssign,
    kClaim,
    kComplete,
    kCancel,
    kRequeue,
    kPromote,
    kReclaim,
    kUnreadable,
  };
  Kind kind = Kind::kClaim;
  std::string node;                       // assign, claim, complete, unreadable: the node acting
  int attempt = 0;                        // assign, complete: the attempt the actor saw (fencing)
  bool start = false;                     // assign: start it at once
  Outcome outcome = Outcome::kSucceeded;  // complete
  // complete: the handler's error; reclaim: why (the node is gone, its lease expired);
  // unreadable: the parser's message.
  std::string error;
  std::chrono::milliseconds retry_delay{0};  // complete, retryable
  bool key_held = false;                     // requeue: another live job holds the job's unique key

  static JobEvent assign(std::string node, int seen_attempt, bool start);
  static JobEvent claim(std::string node);
  static JobEvent complete(const Completion& c);
  static JobEvent cancel();
  static JobEvent requeue(bool key_held = false);
  static JobEvent promote();
  static JobEvent reclaim(std::string why);
  static JobEvent unreadable(std::string node, std::string why);
};

struct TransitionOutcome {
  // Set: the event does not apply to the job as it is (lease_lost for a node's stale
  // report, invalid_state for a user's request); nothing changes.
  std::optional<errc> refused;
  // False (and not refused): nothing to do (promoting a job not yet due, cancelling a
  // running job already flagged, reclaiming a job that moved on).
  bool changed = false;

  // The job after the event (when changed).
  JobState to = JobState::kPending;
  int attempt = 0;
  std::string node;
  bool cancel_requested = false;
  WallClock::time_point ready_at{};
  std::string last_error;
  // to is terminal: the broker sets the job's finished time and frees its unique key.
  bool finished = false;

  // The audit row: from is the snapshot's state, to, node and attempt as above.
  std::string audit_error;
};

// The outcome of `event` on a job that is `job` now, `now` by the broker's clock.
TransitionOutcome transition(const JobSnapshot& job, const JobEvent& event,
                             WallClock::time_point now);

// The state a job starts in: scheduled when its run_at is after `now`, else pending.
JobState enqueued_state(const JobSpec& spec, WallClock::time_point now) noexcept;

}  // namespace orca::jobs
