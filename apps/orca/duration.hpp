// Parsing of durations on the command line: "250ms", "3s", "1.5m", "2h", "500us".
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace orca::cli {

// Nothing if the text is not a non-negative number followed by ns, us, ms, s, m or h.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

}  // namespace orca::cli
