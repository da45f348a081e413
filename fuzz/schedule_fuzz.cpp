// Fuzz target: periodic schedules (include/orca/jobs/schedule.hpp). Properties: a
// refusal says why; a parsed schedule's next run is strictly after the time asked
// (or never: time_point::max), a cron spec's on a whole minute; the text it keeps
// parses again to a schedule with the same next runs.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "orca/jobs/errors.hpp"
#include "orca/jobs/json.hpp"
#include "orca/jobs/schedule.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using orca::jobs::Schedule;
  using orca::jobs::WallClock;
  // The first 8 bytes choose the time to step from, anywhere a job may name
  // (0..kMaxUnixMs); the rest is the schedule's text.
  std::uint64_t seed = 0;
  if (size >= 8) {
    std::memcpy(&seed, data, 8);
    data += 8;
    size -= 8;
  }
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto s = Schedule::parse(text);
  if (!s) {
    FUZZ_CHECK(s.error() == orca::jobs::errc::bad_schedule);
    FUZZ_CHECK(!s.error().detail().empty());
    return 0;
  }
  FUZZ_CHECK(s->text() == text);
  const auto again = Schedule::parse(s->text());
  FUZZ_CHECK(again.has_value(), "%s", std::string(again.error().detail()).c_str());

  const std::int64_t ms =
      static_cast<std::int64_t>(seed % static_cast<std::uint64_t>(orca::jobs::kMaxUnixMs + 1));
  WallClock::time_point t = orca::jobs::from_unix_ms(ms);
  const bool cron = !text.starts_with("@every ");
  for (int i = 0; i < 3; ++i) {
    const auto next = s->next_after(t);
    FUZZ_CHECK(next == again->next_after(t));
    if (next == WallClock::time_point::max()) break;
    FUZZ_CHECK(next > t, "next run %lld ms is not after %lld ms",
               static_cast<long long>(orca::jobs::to_unix_ms(next)),
               static_cast<long long>(orca::jobs::to_unix_ms(t)));
    if (cron)
      FUZZ_CHECK(next.time_since_epoch() % std::chrono::minutes(1) == WallClock::duration(0));
    t = next;
  }
  return 0;
}
