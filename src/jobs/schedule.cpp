// Parsing and stepping of periodic schedules (schedule.hpp).
#include "orca/jobs/schedule.hpp"

#include <charconv>
#include <vector>

#include "orca/jobs/errors.hpp"

namespace orca::jobs {

namespace {

// The longest "@every" interval: about 10 years, as json.hpp's kMaxDurationMs. Longer
// ones would overflow the clock's 64-bit nanoseconds when added to a time.
constexpr std::int64_t kMaxEveryMs = 315'360'000'000;

bool parse_int(std::string_view s, int& out) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

// Messages are built with append: GCC 12 warns falsely (-Wrestrict, PR 105651) on
// chains of operator+ that start from a literal.
std::string concat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts)
    out.append(p);
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t at = s.find(sep, start);
    out.push_back(
        s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

// Sets bits lo..hi of one field. Returns what is wrong (bad syntax or range), or an
// empty string if nothing is.
template <std::size_t N>
std::string parse_field(std::string_view field, int lo, int hi, std::bitset<N>& bits, bool& any) {
  any = field == "*";
  for (std::string_view part : split(field, ',')) {
    int step = 1;
    std::string_view range = part;
    if (const std::size_t slash = part.find('/'); slash != std::string_view::npos) {
      range = part.substr(0, slash);
      if (!parse_int(part.substr(slash + 1), step) || step <= 0)
        return concat({"bad step in \"", part, "\""});
    }
    int a = lo;
    int b = hi;
    if (range != "*") {
      const std::size_t dash = range.find('-');
      if (dash == std::string_view::npos) {
        if (!parse_int(range, a))
          return concat({"\"", part, "\" is not a number, range, list or step"});
        b = part.find('/') != std::string_view::npos ? hi : a;
      } else if (!parse_int(range.substr(0, dash), a) || !parse_int(range.substr(dash + 1), b)) {
        return concat({"bad range \"", range, "\""});
      }
    }
    if (a < lo || b > hi || a > b)
      return concat({range, " is out of range ", std::to_string(lo), "-", std::to_string(hi)});
    // Stepping in long long: v + step must not overflow an int ("1-5/2147483647").
    for (long long v = a; v <= b; v += step)
      bits.set(static_cast<std::size_t>(v));
  }
  return {};
}

Error bad_schedule(std::string why) {
  return Error(make_error_code(errc::bad_schedule), std::move(why));
}

}  // namespace

Result<Schedule> Schedule::parse(std::string_view text) {
  Schedule s;
  s.text_ = std::string(text);
  if (text.starts_with("@every ")) {
    std::string_view d = text.substr(7);
    std::int64_t n = 0;
    const auto [p, ec] = std::from_chars(d.data(), d.data() + d.size(), n);
    const std::string_view unit(p, static_cast<std::size_t>(d.data() + d.size() - p));
    std::int64_t scale = 0;
    if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1000;
    else if (unit == "m")
      scale = 60'000;
    else if (unit == "h")
      scale = 3'600'000;
    if (ec != std::errc() || p == d.data() || scale == 0 || n <= 0)
      return bad_schedule(
          concat({"\"@every\" needs a positive whole duration like 30s, 500ms, 5m or 2h, got \"", d,
                  "\""}));
    if (n > kMaxEveryMs / scale)
      return bad_schedule(
          concat({"\"@every\" is at most 315360000000ms (about 10 years), got \"", d, "\""}));
    s.every_ = std::chrono::milliseconds(n * scale);
    return s;
  }
  std::vector<std::string_view> fields;
  for (std::string_view f : split(text, ' '))
    if (!f.empty()) fields.push_back(f);
  if (fields.size() != 5)
    return bad_schedule(
        concat({"expected \"@every <duration>\" or 5 cron fields (minute hour "
                "day-of-month month day-of-week), got ",
                std::to_string(fields.size()), " fields"}));
  static constexpr const char* kNames[] = {"minute", "hour", "day-of-month", "month",
                                           "day-of-week"};
  bool any = false;
  std::bitset<8> dow;
  for (int i = 0; i < 5; ++i) {
    std::string field_error;
    switch (i) {
      case 0:
        field_error = parse_field(fields[0], 0, 59, s.minute_, any);
        break;
      case 1:
        field_error = parse_field(fields[1], 0, 23, s.hour_, any);
        break;
      case 2:
        field_error = parse_field(fields[2], 1, 31, s.dom_, s.dom_any_);
        break;
      case 3:
        field_error = parse_field(fields[3], 1, 12, s.month_, any);
        break;
      case 4:
        field_error = parse_field(fields[4], 0, 7, dow, s.dow_any_);
        break;
    }
    if (!field_error.empty())
      return bad_schedule(
          concat({"field ", std::to_string(i + 1), " (", kNames[i], "): ", field_error}));
  }
  for (int d = 0; d < 7; ++d)
    s.dow_[static_cast<std::size_t>(d)] = dow[static_cast<std::size_t>(d)];
  if (dow[7]) s.dow_.set(0);
  return s;
}

WallClock::time_point Schedule::next_after(WallClock::time_point t) const {
  using namespace std::chrono;
  if (every_.count() > 0) return t + every_;
  // Walk forward, skipping whole months, days and hours that cannot match; a valid
  // spec matches within 5 years (Feb 29 on a given weekday is the worst case).
  auto m = floor<minutes>(t) + minutes(1);
  const auto limit = m + hours(24 * 366 * 5);
  while (m < limit) {
    const auto day = floor<days>(m);
    const year_month_day ymd{day};
    const auto month = static_cast<unsigned>(ymd.month());
    if (!month_[month]) {
      const auto next = year_month_day{ymd.year() / ymd.month() / 1} + months(1);
      m = sys_days(next);
      continue;
    }
    const bool dom_ok = dom_[static_cast<unsigned>(ymd.day())];
    const bool dow_ok = dow_[weekday(day).c_encoding()];
    const bool day_ok = dom_any_ || dow_any_ ? (dom_ok && dow_ok) : (dom_ok || dow_ok);
    if (!day_ok) {
      m = day + days(1);
      continue;
    }
    const auto h = floor<hours>(m - day).count();
    if (!hour_[static_cast<std::size_t>(h)]) {
      m = floor<hours>(m) + hours(1);
      continue;
    }
    if (!minute_[static_cast<std::size_t>((m - floor<hours>(m)).count())]) {
      m += minutes(1);
      continue;
    }
    return time_point_cast<WallClock::duration>(m);
  }
  return WallClock::time_point::max();
}

}  // namespace orca::jobs
