#include "duration.hpp"

#include <charconv>
#include <cmath>

namespace orca::cli {

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  double value = 0;
  const char* begin = text.data();
  const char* end = begin + text.size();
  const auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr == begin || !(value >= 0) || !std::isfinite(value))
    return std::nullopt;
  const std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
  double scale = 0;
  if (unit == "ns")
    scale = 1;
  else if (unit == "us")
    scale = 1e3;
  else if (unit == "ms")
    scale = 1e6;
  else if (unit == "s")
    scale = 1e9;
  else if (unit == "m")
    scale = 60e9;
  else if (unit == "h")
    scale = 3600e9;
  else
    return std::nullopt;
  const double ns = value * scale;
  if (ns > 9.2e18) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<long long>(ns));
}

}  // namespace orca::cli
