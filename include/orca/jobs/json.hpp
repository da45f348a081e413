// JSON forms of the job model, shared by the CLI (--json), the HTTP API and the
// brokers' own storage of templates, so that each of them is a thin layer.
//
// Payloads are bytes: a payload that is valid UTF-8 is written as "payload" (text),
// any other as "payload_base64"; both are accepted on input. Times are Unix
// milliseconds; durations are milliseconds.
//
// Errors: job_spec_from_json returns a message naming the offending field instead of
// throwing, so that callers can answer bad input with a 4xx. Thread safety: pure
// functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "orca/jobs/broker.hpp"
#include "orca/jobs/job.hpp"

namespace orca::jobs {

nlohmann::json to_json(const JobSpec& spec);
nlohmann::json to_json(const Job& job);
nlohmann::json to_json(const NodeInfo& node);
nlohmann::json to_json(const AuditEntry& entry);
nlohmann::json to_json(const QueueStats& stats);

// Reads a spec; on bad input returns false and sets `error` ("priority: expected an
// integer"). Unknown fields are errors too: a typo must not silently drop an option.
bool job_spec_from_json(const nlohmann::json& in, JobSpec& out, std::string& error);

std::string base64_encode(std::string_view bytes);
bool base64_decode(std::string_view text, std::string& out);

}  // namespace orca::jobs
