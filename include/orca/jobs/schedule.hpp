// Schedule: when a periodic job runs. Either a fixed interval ("@every 30s", units
// ms, s, m, h; at most about 10 years) or a 5-field cron spec "minute hour
// day-of-month month day-of-week" in UTC, each field `*`, a number, a range `a-b`,
// a list `a,b`, or a step `*/n`, `a-b/n` (day-of-week 0-7, 0 and 7 are Sunday). As
// in cron, when both day fields are restricted a day matching either runs. Names
// (JAN, MON) and @hourly-style macros other than @every are not supported.
//
// Thread safety: immutable after parse; const members from any thread.
#pragma once

#include <bitset>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "orca/jobs/job.hpp"
#include "orca/runtime/result.hpp"

namespace orca::jobs {

class Schedule {
 public:
  // The schedule, or errc::bad_schedule with a detail() saying what is wrong and
  // where ("field 2 (hour): 24 is out of range 0-23").
  static Result<Schedule> parse(std::string_view text);

  // The first run strictly after `t`. For cron specs, whole minutes.
  WallClock::time_point next_after(WallClock::time_point t) const;
  const std::string& text() const noexcept { return text_; }

 private:
  Schedule() = default;
  std::string text_;
  std::chrono::milliseconds every_{0};  // > 0: interval schedule
  std::bitset<60> minute_;
  std::bitset<24> hour_;
  std::bitset<32> dom_;    // 1..31
  std::bitset<13> month_;  // 1..12
  std::bitset<7> dow_;     // 0..6, Sunday = 0
  bool dom_any_ = true;
  bool dow_any_ = true;
};

}  // namespace orca::jobs
