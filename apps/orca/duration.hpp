// Parsing of durations on the command line, as Go's time.ParseDuration does:
// "250ms", "3s", "1.5m", "1h30m", "500us" (or "µs"), "0".
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace orca::cli {

// Nothing unless the text is "0" or one or more non-negative decimal numbers, each
// followed by its unit: ns, us (µs), ms, s, m or h.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

}  // namespace orca::cli
