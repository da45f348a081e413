// The job model: what a producer submits (JobSpec), what a broker keeps about it
// (Job), its states, and the retry policy that turns a failed attempt into a delay.
//
// Invariant: a job is "live" (pending, scheduled, retrying, leased, running) until it
// reaches one terminal state (succeeded, failed, cancelled, dead); only live jobs hold
// their unique key, and only failed/dead jobs (the dead-letter set) can be re-queued.
//
// Times are wall-clock (system_clock) because they are shared between processes
// through the broker; a handler's deadline is converted to the runtime's steady clock
// as remaining time when the handler starts.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace orca::jobs {

using JobId = std::int64_t;
using WallClock = std::chrono::system_clock;

// Numbering matters: every state below kSucceeded is live (brokers index on it).
enum class JobState : std::uint8_t {
  kPending = 0,    // ready to run, waiting for a node
  kScheduled = 1,  // run_at is in the future (delayed or periodic job)
  kRetrying = 2,   // an attempt failed; waits for its backoff to pass
  kLeased = 3,     // the center assigned it to a node that has not started it yet
  kRunning = 4,    // a node's handler runs it (leased; the lease is extended by heartbeats)
  kSucceeded = 5,  // terminal: the handler returned success
  kFailed = 6,     // terminal: a permanent error; in the dead-letter set
  kCancelled = 7,  // terminal: cancelled by a user; never retried
  kDead = 8,       // terminal: attempts exhausted; in the dead-letter set
};

inline constexpr bool is_live(JobState s) noexcept {
  return s < JobState::kSucceeded;
}
std::string_view to_string(JobState s) noexcept;
// "pending", "running", ... (the names to_string gives); nothing for anything else.
std::optional<JobState> parse_job_state(std::string_view name) noexcept;

// Exponential backoff with jitter: the delay before attempt n+1 after attempt n
// failed is min(max_delay, base * multiplier^(n-1)), then spread by +-jitter (a
// fraction) so that jobs failing together do not retry together.
struct RetryPolicy {
  int max_attempts = 3;  // attempts in all, including the first (1: never retried)
  std::chrono::milliseconds base_delay{1000};
  double multiplier = 2.0;
  std::chrono::milliseconds max_delay{std::chrono::minutes(10)};
  double jitter = 0.2;  // 0..1

  // `attempt` is the 1-based attempt that failed; `random01` is uniform in [0, 1)
  // (passed in so brokers and tests can choose their source of randomness).
  std::chrono::milliseconds delay_after(int attempt, double random01) const noexcept;
};

// What a producer submits.
struct JobSpec {
  std::string type;                               // routing key: nodes register handlers by type
  std::string payload;                            // opaque bytes, handed to the handler as they are
  std::string queue = "default";                  // queues share nodes by weight (no starvation)
  int priority = 0;                               // higher first, within a queue
  RetryPolicy retry;                              //
  std::chrono::milliseconds timeout{0};           // per attempt; 0: none
  std::optional<WallClock::time_point> deadline;  // absolute, across attempts
  std::string unique_key;  // non-empty: a second enqueue while a live job holds it is a no-op
  std::optional<WallClock::time_point> run_at;  // delayed job; nothing or past: now
  std::string trace_id;
  std::map<std::string, std::string> headers;
};

// A job as the broker keeps it: the spec plus its state.
struct Job {
  JobId id = 0;
  JobSpec spec;
  JobState state = JobState::kPending;
  int attempt = 0;                // attempts started so far
  std::string node;               // the node it is leased to (leased, running), or that ran it last
  bool cancel_requested = false;  // running job asked to stop; its node cancels the handler
  std::string last_error;
  WallClock::time_point created_at{};
  WallClock::time_point updated_at{};
  WallClock::time_point ready_at{};     // when it is (or was) due to run
  WallClock::time_point lease_until{};  // leased, running: the node must heartbeat before
  std::optional<WallClock::time_point> finished_at;
};

// Limits every broker enforces on enqueue (bad input gets a clear error and
// nothing is written).
struct JobLimits {
  std::size_t max_payload_bytes = 1 << 20;
  std::size_t max_type_bytes = 128;
  std::size_t max_queue_bytes = 128;
  std::size_t max_unique_key_bytes = 512;
  std::size_t max_headers = 64;
  int max_attempts = 1000;
};

// Empty if `spec` is acceptable; otherwise what is wrong with it, in words for a
// user ("payload is 2000000 bytes, the limit is 1048576"). Types and queues are
// 1..128 characters of [A-Za-z0-9_.:-].
std::string check_job_spec(const JobSpec& spec, const JobLimits& limits = {});
// Empty if `queue` is a queue name check_job_spec accepts; otherwise what is wrong.
std::string check_queue_name(std::string_view queue, const JobLimits& limits = {});
// Empty if Broker::delete_finished may take (queue, state): a good queue name, and a
// finished state or none; otherwise what is wrong.
std::string check_delete_finished(std::string_view queue, std::optional<JobState> state,
                                  const JobLimits& limits = {});

// Milliseconds since the Unix epoch, the unit brokers store.
inline std::int64_t to_unix_ms(WallClock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline WallClock::time_point from_unix_ms(std::int64_t ms) noexcept {
  return WallClock::time_point(std::chrono::milliseconds(ms));
}

}  // namespace orca::jobs
