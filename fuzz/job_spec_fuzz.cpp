// Fuzz target: a job spec as the HTTP API and the CLI read it (include/orca/jobs/
// json.hpp): parse_json_strict, job_spec_from_json, check_job_spec. Properties: an
// accepted spec passes check_job_spec; its JSON (to_json) dumps to text that parses
// and reads back to a spec with the same JSON (the round trip is stable); a refusal
// says why; the spec's backoff delays stay within 0..max_delay * (1 + jitter).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "orca/jobs/errors.hpp"
#include "orca/jobs/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace orca::jobs;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = parse_json_strict(text);
  if (!parsed) {
    FUZZ_CHECK(!parsed.error().detail().empty());
    return 0;
  }
  const auto read = job_spec_from_json(*parsed);
  if (!read) {
    FUZZ_CHECK(read.error() == errc::invalid_job);
    FUZZ_CHECK(!read.error().detail().empty());
    return 0;
  }
  const JobSpec& spec = *read;
  FUZZ_CHECK(check_job_spec(spec).empty(), "%s", check_job_spec(spec).c_str());

  const nlohmann::json out = to_json(spec);
  const std::string dumped = out.dump();
  const auto reparsed = parse_json_strict(dumped);
  FUZZ_CHECK(reparsed.has_value(), "to_json's text does not parse: %s",
             std::string(reparsed.error().detail()).c_str());
  const auto read_again = job_spec_from_json(*reparsed);
  FUZZ_CHECK(read_again.has_value(), "to_json's text is refused: %s",
             std::string(read_again.error().detail()).c_str());
  const JobSpec& again = *read_again;
  FUZZ_CHECK(to_json(again) == out, "round trip changed the spec: %s -> %s", dumped.c_str(),
             to_json(again).dump().c_str());
  FUZZ_CHECK(again.payload == spec.payload);

  const RetryPolicy& r = spec.retry;
  for (int attempt : {1, 2, r.max_attempts}) {
    for (double random01 : {0.0, 0.5, 0.999999}) {
      const auto d = r.delay_after(attempt, random01);
      FUZZ_CHECK(d.count() >= 0);
      FUZZ_CHECK(static_cast<double>(d.count()) <=
                 static_cast<double>(r.max_delay.count()) * (1.0 + r.jitter) + 1.0);
    }
  }
  return 0;
}
