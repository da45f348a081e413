// What one process has seen of the broker through its own calls, and the two things
// built on it: whether the silence of others may be judged (ConnectivityWindow), and
// what to log about an outage (OutageLog). An outage of the broker stops every
// node's heartbeats at once; it is evidence about the broker, not about the nodes.
//
// Invariant: ConnectivityWindow::trusted() is true only after `window` of calls that
// all succeeded, none further than `max_gap` from the one before, the last one no
// further than `max_gap` from now. Both classes are plain values fed time points, so
// tests drive them with any clock they like.
//
// Thread safety: none; each is owned by one task (or guarded by its owner's mutex).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "orca/runtime/clock.hpp"

namespace orca::jobs::detail {

// Whether a judge (a center reaping dead nodes and expired leases) has reached the
// broker for long enough that a node's missing heartbeat says something about the
// node. A node that was cut off with everyone else heartbeats again within its
// interval once the broker is back; so the judge waits for as long as it would give
// a node (the node timeout) of its own continuous reach before judging anyone.
class ConnectivityWindow {
 public:
  // window: the continuous reach required (the node timeout). max_gap: the longest
  // pause between two successful calls that still counts as continuous; beyond it
  // the judge was not watching (its process was stopped, a call was held up while a
  // connection came back), and an outage may hide in the pause.
  ConnectivityWindow(Clock::duration window, Clock::duration max_gap) noexcept
      : window_(window), max_gap_(max_gap) {}

  // A broker call succeeded at `at`.
  void reached(Clock::time_point at) noexcept;
  // A broker call failed: continuity starts again at the next success.
  void lost() noexcept { since_.reset(); }
  // True if, at `now`, the broker has been reached continuously for the window.
  bool trusted(Clock::time_point now) const noexcept;

 private:
  Clock::duration window_;
  Clock::duration max_gap_;
  std::optional<Clock::time_point> since_;  // first success of the current streak
  std::optional<Clock::time_point> last_;   // latest success
};

// The lines to log about an outage seen by `who` ("center", "node w1"): one when it
// starts, one at most every `repeat` while it lasts, one when it ends with its
// duration. Each call returns the line to print (without a newline), if any.
class OutageLog {
 public:
  explicit OutageLog(std::string who, Clock::duration repeat = std::chrono::seconds(10))
      : who_(std::move(who)), repeat_(repeat) {}

  // A broker call failed at `at`, for `why` (the broker's description of the failure).
  std::optional<std::string> failed(Clock::time_point at, std::string_view why);
  // A broker call succeeded at `at`.
  std::optional<std::string> reached(Clock::time_point at);
  bool in_outage() const noexcept { return since_.has_value(); }

 private:
  std::string who_;
  Clock::duration repeat_;
  std::optional<Clock::time_point> since_;        // first failure of the outage
  std::optional<Clock::time_point> last_report_;  // when the last line was logged
};

}  // namespace orca::jobs::detail
