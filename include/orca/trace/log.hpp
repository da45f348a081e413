// The process's log: one line per event on stderr, either the human form orca has
// always written ("orca: node w1: breaker for job type x opened...") or one JSON
// object per line, with the trace id of the context it was written under:
//
//   {"time":"2026-12-07T05:00:00.123Z","level":"info","message":"...",
//    "trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","job_id":42,"node":"w1"}
//
//   orca::trace::set_log_options({.format = orca::trace::LogFormat::kJson});
//   orca::trace::log(orca::trace::LogLevel::kWarn, "broker unreachable", &ctx, {.node = id});
//
// Levels: debug (every job state change a node sees: started, succeeded, failed,
// retried, cancelled, handed back), info (the default: start and stop lines,
// leadership, breaker changes, outages, progress), warn, error. Nothing is logged
// per job at info, so the default costs a busy node no line per job; callers of
// debug lines check log_enabled(kDebug) before building them.
//
// Thread safety: every function from any thread; each line is one write(2) (lines
// of concurrent writers never interleave). set_log_options is meant for start-up.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "orca/context/context.hpp"

namespace orca::trace {

enum class LogLevel : std::uint8_t { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat : std::uint8_t { kText, kJson };

// "debug", "info", "warn", "error" / "text", "json"; nothing for anything else.
std::optional<LogLevel> parse_log_level(std::string_view name) noexcept;
std::optional<LogFormat> parse_log_format(std::string_view name) noexcept;
std::string_view to_string(LogLevel level) noexcept;

struct LogOptions {
  LogFormat format = LogFormat::kText;
  LogLevel level = LogLevel::kInfo;  // lines below it are not written
  int fd = 2;                        // where lines go (stderr)
};
void set_log_options(LogOptions options) noexcept;
LogOptions log_options() noexcept;
bool log_enabled(LogLevel level) noexcept;

// What a line is about, when known (the JSON form's fields; the text form is the
// message alone).
struct LogFields {
  std::int64_t job_id = 0;    // 0: none
  std::string_view node;      // empty: none
  std::string_view trace_id;  // empty: ctx's span context's, if any
};

// Writes `message` at `level` if enabled. `ctx` (may be null) supplies the trace id.
void log(LogLevel level, std::string_view message, const Context* ctx = nullptr,
         LogFields fields = {});

// The line log() would write, without its newline (for tests and for callers that
// send lines elsewhere). `unix_ms` is the time shown.
std::string format_log_line(LogFormat format, LogLevel level, std::string_view message,
                            std::string_view trace_id, const LogFields& fields,
                            std::int64_t unix_ms);

}  // namespace orca::trace
