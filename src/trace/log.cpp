// The process's log (log.hpp): options in relaxed atomics (read on every line, set
// once at start), one write(2) per line.
#include "orca/trace/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include "orca/trace/otlp_json.hpp"
#include "orca/trace/span_context.hpp"

namespace orca::trace {

namespace {

// Relaxed: each is a setting read on its own; a line racing a change may use the old one.
std::atomic<std::uint8_t> g_format{static_cast<std::uint8_t>(LogFormat::kText)};
std::atomic<std::uint8_t> g_level{static_cast<std::uint8_t>(LogLevel::kInfo)};
std::atomic<int> g_fd{2};

void append_time(std::string& out, std::int64_t unix_ms) {
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char text[96];  // room for any int the format could meet, which GCC checks
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  out.append(text);
}

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view name) noexcept {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warn") return LogLevel::kWarn;
  if (name == "error") return LogLevel::kError;
  return std::nullopt;
}

std::optional<LogFormat> parse_log_format(std::string_view name) noexcept {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

void set_log_options(LogOptions options) noexcept {
  g_format.store(static_cast<std::uint8_t>(options.format), std::memory_order_relaxed);
  g_level.store(static_cast<std::uint8_t>(options.level), std::memory_order_relaxed);
  g_fd.store(options.fd, std::memory_order_relaxed);
}

LogOptions log_options() noexcept {
  return {static_cast<LogFormat>(g_format.load(std::memory_order_relaxed)),
          static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)),
          g_fd.load(std::memory_order_relaxed)};
}

bool log_enabled(LogLevel level) noexcept {
  return static_cast<std::uint8_t>(level) >= g_level.load(std::memory_order_relaxed);
}

std::string format_log_line(LogFormat format, LogLevel level, std::string_view message,
                            std::string_view trace_id, const LogFields& fields,
                            std::int64_t unix_ms) {
  std::string out;
  if (format == LogFormat::kText) {
    out.append(message);
    return out;
  }
  out.reserve(96 + message.size());
  out.append("{\"time\":\"");
  append_time(out, unix_ms);
  out.append("\",\"level\":\"").append(to_string(level)).append("\",\"message\":");
  append_json_string(out, message);
  if (!trace_id.empty()) {
    out.append(",\"trace_id\":");
    append_json_string(out, trace_id);
  }
  if (fields.job_id != 0) out.append(",\"job_id\":").append(std::to_string(fields.job_id));
  if (!fields.node.empty()) {
    out.append(",\"node\":");
    append_json_string(out, fields.node);
  }
  out.push_back('}');
  return out;
}

void log(LogLevel level, std::string_view message, const Context* ctx, LogFields fields) {
  if (!log_enabled(level)) return;
  const LogOptions o = log_options();
  std::string trace_hex;
  std::string_view trace_id = fields.trace_id;
  if (trace_id.empty() && ctx != nullptr && o.format == LogFormat::kJson) {
    if (const SpanContext* sc = span_context_of(*ctx); sc != nullptr && sc->valid()) {
      trace_hex = sc->trace_id.hex();
      trace_id = trace_hex;
    }
  }
  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  std::string line;
  try {
    line = format_log_line(o.format, level, message, trace_id, fields, now_ms);
    line.push_back('\n');
  } catch (...) {
    return;  // out of memory: a log line is not worth failing the caller
  }
  std::size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = ::write(o.fd, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace orca::trace
