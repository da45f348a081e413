// ConnectivityWindow and OutageLog (orca/jobs/detail/broker_reachability.hpp).
#include "orca/jobs/detail/broker_reachability.hpp"

#include <cstdio>

namespace orca::jobs::detail {

namespace {

std::string seconds_text(Clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", std::chrono::duration<double>(d).count());
  return buf;
}

}  // namespace

void ConnectivityWindow::reached(Clock::time_point at) noexcept {
  // A pause longer than max_gap since the last success breaks the streak as a failure
  // would: nothing was seen of the broker in between.
  if (!since_ || !last_ || at - *last_ > max_gap_) since_ = at;
  last_ = at;
}

bool ConnectivityWindow::trusted(Clock::time_point now) const noexcept {
  return since_ && last_ && now - *last_ <= max_gap_ && now - *since_ >= window_;
}

std::optional<std::string> OutageLog::failed(Clock::time_point at, std::string_view why) {
  const std::string reason = why.empty() ? std::string("no reason given") : std::string(why);
  if (!since_) {
    since_ = at;
    last_report_ = at;
    return "orca: " + who_ + ": broker unreachable (" + reason + "); retrying";
  }
  if (at - *last_report_ < repeat_) return std::nullopt;
  last_report_ = at;
  return "orca: " + who_ + ": broker still unreachable after " + seconds_text(at - *since_) + " (" +
         reason + "); retrying";
}

std::optional<std::string> OutageLog::reached(Clock::time_point at) {
  if (!since_) return std::nullopt;
  const auto lasted = at - *since_;
  since_.reset();
  last_report_.reset();
  return "orca: " + who_ + ": broker reachable again after " + seconds_text(lasted);
}

}  // namespace orca::jobs::detail
