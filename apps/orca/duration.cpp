// Durations on the command line, in Go's time.ParseDuration form (duration.hpp).
#include "duration.hpp"

#include <charconv>
#include <cmath>

namespace orca::cli {

namespace {

// Nanoseconds per unit, or 0 for an unknown unit.
double unit_scale(std::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us" || unit == "\u00b5s" || unit == "\u03bcs") return 1e3;  // micro sign, mu
  if (unit == "ms") return 1e6;
  if (unit == "s") return 1e9;
  if (unit == "m") return 60e9;
  if (unit == "h") return 3600e9;
  return 0;
}

bool is_number_char(char c) {
  return (c >= '0' && c <= '9') || c == '.';
}

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  if (text == "0") return std::chrono::nanoseconds(0);
  if (text.empty()) return std::nullopt;
  double total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    // A number (digits with at most one '.'), then its unit up to the next number.
    const std::size_t number_start = i;
    while (i < text.size() && is_number_char(text[i]))
      ++i;
    const std::size_t unit_start = i;
    while (i < text.size() && !is_number_char(text[i]))
      ++i;
    double value = 0;
    const char* first = text.data() + number_start;
    const char* last = text.data() + unit_start;
    const auto [end, ec] = std::from_chars(first, last, value, std::chars_format::fixed);
    if (ec != std::errc() || end != last || first == last) return std::nullopt;
    const double scale = unit_scale(text.substr(unit_start, i - unit_start));
    if (scale == 0) return std::nullopt;
    total += value * scale;
  }
  if (!std::isfinite(total) || total > 9.2e18) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<long long>(total));
}

}  // namespace orca::cli
