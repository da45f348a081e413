// The job state machine (state_machine.hpp): the rules, numbered as there.
#include "orca/jobs/state_machine.hpp"

#include <algorithm>

namespace orca::jobs {

JobSnapshot JobSnapshot::of(const Job& job) {
  JobSnapshot s;
  s.state = job.state;
  s.attempt = job.attempt;
  s.node = job.node;
  s.cancel_requested = job.cancel_requested;
  s.max_attempts = job.spec.retry.max_attempts;
  s.deadline = job.spec.deadline;
  s.ready_at = job.ready_at;
  s.last_error = job.last_error;
  return s;
}

JobEvent JobEvent::assign(std::string node, int seen_attempt, bool start) {
  JobEvent e;
  e.kind = Kind::kAssign;
  e.node = std::move(node);
  e.attempt = seen_attempt;
  e.start = start;
  return e;
}

JobEvent JobEvent::claim(std::string node) {
  JobEvent e;
  e.kind = Kind::kClaim;
  e.node = std::move(node);
  return e;
}

JobEvent JobEvent::complete(const Completion& c) {
  JobEvent e;
  e.kind = Kind::kComplete;
  e.node = c.node;
  e.attempt = c.attempt;
  e.outcome = c.outcome;
  e.error = c.error;
  e.retry_delay = c.retry_delay;
  return e;
}

JobEvent JobEvent::cancel() {
  JobEvent e;
  e.kind = Kind::kCancel;
  return e;
}

JobEvent JobEvent::requeue(bool key_held) {
  JobEvent e;
  e.kind = Kind::kRequeue;
  e.key_held = key_held;
  return e;
}

JobEvent JobEvent::promote() {
  JobEvent e;
  e.kind = Kind::kPromote;
  return e;
}

JobEvent JobEvent::reclaim(std::string why) {
  JobEvent e;
  e.kind = Kind::kReclaim;
  e.error = std::move(why);
  return e;
}

JobEvent JobEvent::unreadable(std::string node, std::string why) {
  JobEvent e;
  e.kind = Kind::kUnreadable;
  e.node = std::move(node);
  e.error = std::move(why);
  return e;
}

namespace {

TransitionOutcome refuse(errc why) {
  TransitionOutcome o;
  o.refused = why;
  return o;
}

// The job as it is, about to move to `to`: every field the event does not name keeps
// its value. An empty error keeps the job's last one; the audit row gets `note` if
// there is one, else the error (a note is for the audit only: cancel, requeue).
TransitionOutcome move(const JobSnapshot& job, JobState to, const std::string& error,
                       const std::string& note = {}) {
  TransitionOutcome o;
  o.changed = true;
  o.to = to;
  o.attempt = job.attempt;
  o.node = job.node;
  // The flag is a request to the running attempt: it goes with the attempt.
  o.cancel_requested = to == JobState::kRunning && job.cancel_requested;
  o.ready_at = job.ready_at;
  o.last_error = error.empty() ? job.last_error : error;
  o.finished = !is_live(to);
  o.audit_error = note.empty() ? error : note;
  return o;
}

// 3. A node's report of the attempt it ran.
TransitionOutcome complete(const JobSnapshot& job, const JobEvent& e, WallClock::time_point now) {
  if (job.state != JobState::kRunning || job.node != e.node || job.attempt != e.attempt)
    return refuse(errc::lease_lost);
  switch (e.outcome) {
    case Outcome::kSucceeded:
      return move(job, JobState::kSucceeded, e.error);
    case Outcome::kCancelled:
      return move(job, JobState::kCancelled, e.error);
    case Outcome::kPermanent:
      return move(job, job.cancel_requested ? JobState::kCancelled : JobState::kFailed, e.error);
    case Outcome::kRetryable: {
      if (job.cancel_requested) return move(job, JobState::kCancelled, e.error);
      // Both sides in whole milliseconds, as the brokers store them.
      const auto at = std::chrono::time_point_cast<std::chrono::milliseconds>(now) + e.retry_delay;
      if (job.attempt >= job.max_attempts ||
          (job.deadline &&
           at >= std::chrono::time_point_cast<std::chrono::milliseconds>(*job.deadline)))
        return move(job, JobState::kDead, e.error);
      TransitionOutcome o = move(job, JobState::kRetrying, e.error);
      o.ready_at = at;
      o.node.clear();
      return o;
    }
    case Outcome::kHandBack: {
      if (job.cancel_requested) return move(job, JobState::kCancelled, e.error);
      // Interrupted, not failed: the attempt does not count, and the job keeps its
      // place in the queue (its ready time).
      TransitionOutcome o = move(job, JobState::kPending, e.error);
      o.attempt = std::max(0, job.attempt - 1);
      o.node.clear();
      return o;
    }
  }
  return refuse(errc::invalid_state);
}

}  // namespace

TransitionOutcome transition(const JobSnapshot& job, const JobEvent& e, WallClock::time_point now) {
  using Kind = JobEvent::Kind;
  switch (e.kind) {
    case Kind::kAssign: {  // 1
      if (job.state != JobState::kPending || job.attempt != e.attempt)
        return refuse(errc::lease_lost);
      TransitionOutcome o = move(job, e.start ? JobState::kRunning : JobState::kLeased, {});
      o.node = e.node;
      o.attempt = job.attempt + (e.start ? 1 : 0);
      return o;
    }
    case Kind::kClaim: {  // 2
      if (job.state != JobState::kPending &&
          !(job.state == JobState::kLeased && job.node == e.node))
        return refuse(errc::lease_lost);
      TransitionOutcome o = move(job, JobState::kRunning, {});
      o.node = e.node;
      o.attempt = job.attempt + 1;
      return o;
    }
    case Kind::kComplete:  // 3
      return complete(job, e, now);
    case Kind::kCancel: {  // 4
      if (!is_live(job.state)) return refuse(errc::invalid_state);
      if (job.state == JobState::kRunning) {
        if (job.cancel_requested) return {};
        TransitionOutcome o = move(job, JobState::kRunning, {}, "cancel requested");
        o.cancel_requested = true;
        return o;
      }
      return move(job, JobState::kCancelled, {}, "cancelled");
    }
    case Kind::kRequeue: {  // 5
      if ((job.state != JobState::kFailed && job.state != JobState::kDead) || e.key_held)
        return refuse(errc::invalid_state);
      TransitionOutcome o = move(job, JobState::kPending, {}, "requeued");
      o.attempt = 0;
      o.node.clear();
      o.ready_at = std::chrono::time_point_cast<std::chrono::milliseconds>(now);
      return o;
    }
    case Kind::kPromote: {  // 6
      if (job.state != JobState::kScheduled && job.state != JobState::kRetrying) return {};
      if (job.ready_at > now) return {};
      TransitionOutcome o = move(job, JobState::kPending, {});
      o.node.clear();
      return o;
    }
    case Kind::kReclaim: {  // 7
      if (job.state == JobState::kLeased)
        return [&] {
          TransitionOutcome o = move(job, JobState::kPending, e.error);
          o.node.clear();
          return o;
        }();
      if (job.state != JobState::kRunning) return {};
      if (job.cancel_requested) return move(job, JobState::kCancelled, e.error);
      if (job.attempt >= job.max_attempts) return move(job, JobState::kDead, e.error);
      TransitionOutcome o = move(job, JobState::kPending, e.error);
      o.node.clear();
      return o;
    }
    case Kind::kUnreadable: {  // 8
      if (job.state != JobState::kRunning || job.node != e.node) return refuse(errc::lease_lost);
      TransitionOutcome o = move(job, JobState::kFailed, e.error);
      o.node = e.node;
      return o;
    }
  }
  return refuse(errc::invalid_state);
}

JobState enqueued_state(const JobSpec& spec, WallClock::time_point now) noexcept {
  using std::chrono::milliseconds;
  using std::chrono::time_point_cast;
  return spec.run_at &&
                 time_point_cast<milliseconds>(*spec.run_at) > time_point_cast<milliseconds>(now)
             ? JobState::kScheduled
             : JobState::kPending;
}

}  // namespace orca::jobs
