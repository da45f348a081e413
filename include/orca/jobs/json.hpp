// JSON forms of the job model, shared by the CLI (--json), the HTTP API and the
// brokers' own storage of templates, so that each of them is a thin layer.
//
// Payloads are bytes: a payload that is valid UTF-8 is written as "payload" (text),
// any other as "payload_base64"; both are accepted on input. Times are Unix
// milliseconds; durations are milliseconds.
//
// Errors: job_spec_from_json returns an Error whose detail() names the offending
// field instead of throwing, so that callers can answer bad input with a 4xx. Thread
// safety: pure functions.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "orca/jobs/broker.hpp"
#include "orca/jobs/job.hpp"
#include "orca/jobs/queue_status.hpp"
#include "orca/runtime/result.hpp"

namespace orca::jobs {

nlohmann::json to_json(const JobSpec& spec);
nlohmann::json to_json(const Job& job);
nlohmann::json to_json(const NodeInfo& node);
nlohmann::json to_json(const AuditEntry& entry);
// {"queue", "counts": {state: n}, "oldest_pending_due_ms": unix ms, or null when no
// job is pending}.
nlohmann::json to_json(const QueueStats& stats);
// A QueueStats's fields, plus "rate_limit" ({"rates": [...], "scope": "fleet" or
// "node", "nodes": N}, or null), "throttled", "throttled_nodes",
// "breaker_held_types".
nlohmann::json to_json(const QueueStatus& status);

// Reads a spec; bad input is errc::invalid_job with a detail() naming what is wrong
// ("priority: expected an integer"). Unknown fields are errors too: a typo must not
// silently drop an option; so are payload and payload_base64 together, times or
// durations out of range (run_at_ms and deadline_ms in 0..kMaxUnixMs, durations in
// 0..kMaxDurationMs), and a spec check_job_spec refuses.
Result<JobSpec> job_spec_from_json(const nlohmann::json& in);

// The latest time a job may name, 2199-12-31T23:59:59.999Z, and the longest duration
// (about 10 years): inside what the clocks' 64-bit nanoseconds can hold (up to
// 2262-04-11), with room for a duration added to such a time. (Year 9999 overflowed
// the conversion to nanoseconds, found by fuzz/job_spec_fuzz.cpp.)
// (job_spec_from_json's messages spell these numbers out: keep them in step.)
inline constexpr std::int64_t kMaxUnixMs = 7'258'118'399'999;
inline constexpr std::int64_t kMaxDurationMs = 315'360'000'000;

// Parses JSON text strictly: malformed text and an object with the same key twice
// (which a lenient parser would resolve silently, last one wins) are refused as
// std::errc::invalid_argument, with a detail() saying which ("malformed JSON",
// "duplicate key \"type\"").
Result<nlohmann::json> parse_json_strict(std::string_view text);

std::string base64_encode(std::string_view bytes);
bool base64_decode(std::string_view text, std::string& out);

}  // namespace orca::jobs
