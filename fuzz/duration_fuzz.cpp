// Fuzz target: the command line's durations (apps/orca/duration.hpp, Go's
// time.ParseDuration form). Properties: a parsed duration is non-negative, and its
// count of nanoseconds written as "<n>ns" parses back to itself (while the count is
// exact in a double, which the parser sums in).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "duration.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto d = orca::cli::parse_duration(text);
  if (!d) return 0;
  const long long ns = d->count();
  FUZZ_CHECK(ns >= 0, "\"%.*s\" parsed to %lld ns", static_cast<int>(size), text.data(), ns);
  if (ns <= (1LL << 53)) {
    const std::string again = std::to_string(ns) + "ns";
    const auto back = orca::cli::parse_duration(again);
    FUZZ_CHECK(back && back->count() == ns, "\"%s\" does not parse back", again.c_str());
  }
  return 0;
}
