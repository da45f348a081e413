// parse_retry_after and parse_http_date (include/orca/net/http/retry_after.hpp): a
// hand-written reader of the three date forms, locale-free (strptime's month names
// follow LC_TIME), with every field range-checked.
#include "orca/net/http/retry_after.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace orca::http {

namespace {

// A field of only digits, `min_len`..`max_len` of them.
std::optional<int> number(std::string_view s, std::size_t min_len, std::size_t max_len) {
  if (s.size() < min_len || s.size() > max_len) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::optional<unsigned> month_of(std::string_view m) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (unsigned i = 0; i < 12; ++i)
    if (m == kMonths[i]) return i + 1;
  return std::nullopt;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const auto at = s.find(sep);
    std::string_view piece = s.substr(0, at);
    if (!piece.empty()) out.push_back(piece);  // asctime pads a day below 10 with a space
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

std::optional<std::chrono::system_clock::time_point> make_time(int year,
                                                               std::optional<unsigned> month,
                                                               std::optional<int> day,
                                                               std::string_view hms) {
  const std::vector<std::string_view> t = split(hms, ':');
  if (!month || !day || t.size() != 3 || hms.size() != 8) return std::nullopt;
  const auto h = number(t[0], 2, 2);
  const auto m = number(t[1], 2, 2);
  const auto s = number(t[2], 2, 2);
  if (!h || !m || !s || *h > 23 || *m > 59 || *s > 60) return std::nullopt;  // 60: a leap second
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(*month),
                                         std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return std::nullopt;  // 30 Feb
  return std::chrono::sys_days(date) + std::chrono::hours(*h) + std::chrono::minutes(*m) +
         std::chrono::seconds(*s);
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text) {
  const std::vector<std::string_view> f = split(trim_blanks(text), ' ');
  if (f.empty()) return std::nullopt;
  if (f[0].ends_with(',')) {
    // IMF-fixdate: "Sun," "06" "Nov" "1994" "08:49:37" "GMT"
    if (f.size() == 6 && f[5] == "GMT") {
      const auto year = number(f[3], 4, 4);
      if (!year) return std::nullopt;
      return make_time(*year, month_of(f[2]), number(f[1], 2, 2), f[4]);
    }
    // RFC 850: "Sunday," "06-Nov-94" "08:49:37" "GMT"
    if (f.size() == 4 && f[3] == "GMT") {
      const std::vector<std::string_view> d = split(f[1], '-');
      if (d.size() != 3 || f[1].size() != 9) return std::nullopt;
      const auto yy = number(d[2], 2, 2);
      if (!yy) return std::nullopt;
      return make_time(*yy < 70 ? 2000 + *yy : 1900 + *yy, month_of(d[1]), number(d[0], 2, 2),
                       f[2]);
    }
    return std::nullopt;
  }
  // asctime: "Sun" "Nov" "6" "08:49:37" "1994"
  if (f.size() == 5) {
    const auto year = number(f[4], 4, 4);
    if (!year) return std::nullopt;
    return make_time(*year, month_of(f[1]), number(f[2], 1, 2), f[3]);
  }
  return std::nullopt;
}

std::optional<std::chrono::nanoseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) {
  value = trim_blanks(value);
  if (value.empty()) return std::nullopt;
  if (value.find_first_not_of("0123456789") == std::string_view::npos) {
    // A billion seconds (32 years) is forever to a retry; the cut keeps the nanoseconds
    // far from overflowing.
    constexpr std::int64_t kMost = 1'000'000'000;
    std::int64_t seconds = 0;
    for (char c : value) {
      seconds = seconds * 10 + (c - '0');
      if (seconds > kMost) {
        seconds = kMost;
        break;
      }
    }
    return std::chrono::seconds(seconds);
  }
  const auto when = parse_http_date(value);
  if (!when) return std::nullopt;
  if (*when <= now) return std::chrono::nanoseconds(0);
  return std::chrono::duration_cast<std::chrono::nanoseconds>(*when - now);
}

std::string retry_after_seconds(std::chrono::nanoseconds wait) {
  const auto s = std::chrono::ceil<std::chrono::seconds>(wait).count();
  return std::to_string(s < 1 ? 1 : s);
}

}  // namespace orca::http
