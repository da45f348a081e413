// P99Report (p99_report.hpp): samples in a deque under a lock (appended at the end,
// dropped from the front as they leave the window), the rule evaluated on a copy, and
// the report written on the blocking pool.
#include "orca/jobs/p99_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <system_error>

#include "orca/jobs/job_trace.hpp"
#include "orca/jobs/json.hpp"
#include "orca/runtime/blocking.hpp"
#include "orca/runtime/stats.hpp"
#include "orca/trace/log.hpp"

namespace orca::jobs {

namespace {

using nlohmann::json;

double ms_of(std::chrono::nanoseconds d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

std::string utc(WallClock::time_point t) {
  const std::time_t secs = WallClock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string fixed(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", v);
  return text;
}

// The nearest-rank percentile of sorted values.
std::chrono::nanoseconds percentile(const std::vector<std::chrono::nanoseconds>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1];
}

// Writes both files and deletes the oldest reports beyond `keep`. Returns "" or why not.
std::string write_report(const std::string& dir, const std::string& stem, const std::string& js,
                         const std::string& text, std::size_t keep) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return std::string("cannot create ").append(dir).append(": ").append(ec.message());
  for (const auto& [ext, body] : {std::pair{".json", &js}, std::pair{".txt", &text}}) {
    const fs::path path = fs::path(dir) / (stem + ext);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << *body;
    out.close();
    if (!out) return std::string("cannot write ").append(path.string());
  }
  std::vector<std::string> stems;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("orca-p99-", 0) == 0 && entry.path().extension() == ".json")
      stems.push_back(entry.path().stem().string());
  }
  // Same-length names (a 13-digit millisecond time) sort by time.
  std::sort(stems.begin(), stems.end());
  for (std::size_t i = 0; i + keep < stems.size(); ++i) {
    fs::remove(fs::path(dir) / (stems[i] + ".json"), ec);
    fs::remove(fs::path(dir) / (stems[i] + ".txt"), ec);
  }
  return {};
}

}  // namespace

P99Report::P99Report(Broker& broker, P99ReportOptions options)
    : broker_(broker), options_(std::move(options)) {
  if (options_.threshold.count() <= 0 || options_.window.count() <= 0 ||
      options_.check_interval.count() <= 0)
    throw std::invalid_argument(
        "P99 report: threshold, window and check interval must be positive");
  if (options_.max_samples == 0 || options_.keep_reports == 0)
    throw std::invalid_argument("P99 report: max_samples and keep_reports must be at least 1");
  if (options_.dir.empty()) throw std::invalid_argument("P99 report: the directory is empty");
}

void P99Report::record(AttemptSample sample) {
  std::lock_guard lock(mu_);
  if (samples_.size() >= options_.max_samples) samples_.pop_front();
  samples_.push_back(std::move(sample));
}

std::function<void(const Job&, Outcome, std::chrono::nanoseconds)> P99Report::recorder() {
  return [this](const Job& job, Outcome outcome, std::chrono::nanoseconds took) {
    AttemptSample s;
    s.id = job.id;
    s.attempt = job.attempt;
    s.type = job.spec.type;
    s.queue = job.spec.queue;
    s.node = job.node;
    // A label of the submitter's own stays as it is; else the trace the attempt's
    // span is in (derived from the job when it was submitted outside any).
    s.trace_id = job.spec.trace_id.empty() ? attempt_trace_id(job) : job.spec.trace_id;
    s.took = took;
    s.failed = outcome == Outcome::kRetryable || outcome == Outcome::kPermanent;
    s.ended = WallClock::now();
    record(std::move(s));
  };
}

void P99Report::watch(const Node& node) {
  nodes_.push_back(&node);
}

std::optional<std::chrono::nanoseconds> P99Report::p99(WallClock::time_point now) const {
  std::vector<std::chrono::nanoseconds> took;
  {
    std::lock_guard lock(mu_);
    for (const AttemptSample& s : samples_)
      if (s.ended > now - options_.window && s.ended <= now) took.push_back(s.took);
  }
  if (took.empty() || took.size() < options_.min_samples) return std::nullopt;
  std::sort(took.begin(), took.end());
  return percentile(took, 0.99);
}

Task<Result<std::string>> P99Report::check(Context ctx, WallClock::time_point now) {
  std::vector<AttemptSample> window;
  {
    std::lock_guard lock(mu_);
    while (!samples_.empty() && samples_.front().ended <= now - options_.window)
      samples_.pop_front();
    for (const AttemptSample& s : samples_)
      if (s.ended <= now) window.push_back(s);
  }
  if (window.empty() || window.size() < options_.min_samples) co_return std::string();
  std::vector<std::chrono::nanoseconds> took;
  for (const AttemptSample& s : window)
    took.push_back(s.took);
  std::sort(took.begin(), took.end());
  const std::chrono::nanoseconds p99 = percentile(took, 0.99);
  if (p99 <= options_.threshold) co_return std::string();
  if (last_report_ && now - *last_report_ < options_.window) co_return std::string();

  // The evidence: the slowest runs with their trails, the queues, the breakers, the runtime.
  std::sort(window.begin(), window.end(),
            [](const AttemptSample& a, const AttemptSample& b) { return a.took > b.took; });
  if (window.size() > options_.slowest) window.resize(options_.slowest);
  json report;
  report["time"] = utc(now);
  report["rule"] = {
      {"threshold_ms", options_.threshold.count()},
      {"window_s", std::chrono::duration_cast<std::chrono::seconds>(options_.window).count()},
      {"p99_ms", ms_of(p99)},
      {"p50_ms", ms_of(percentile(took, 0.5))},
      {"runs", took.size()}};
  std::string text = std::string("orca P99 report, ").append(utc(now)).append("\n");
  text.append("P99 of job run times over the last ")
      .append(std::to_string(report["rule"]["window_s"].get<std::int64_t>()))
      .append(" s: ")
      .append(fixed(ms_of(p99)))
      .append(" ms (threshold ")
      .append(std::to_string(options_.threshold.count()))
      .append(" ms, P50 ")
      .append(fixed(ms_of(percentile(took, 0.5))))
      .append(" ms, ")
      .append(std::to_string(took.size()))
      .append(" runs)\n\nSlowest runs:\n");
  report["slowest"] = json::array();
  for (const AttemptSample& s : window) {
    json run{{"id", s.id},           {"attempt", s.attempt},
             {"type", s.type},       {"queue", s.queue},
             {"node", s.node},       {"trace_id", s.trace_id},
             {"failed", s.failed},   {"duration_ms", ms_of(s.took)},
             {"ended", utc(s.ended)}};
    text.append("  job ")
        .append(std::to_string(s.id))
        .append(" (")
        .append(s.type)
        .append(", queue ")
        .append(s.queue)
        .append(") attempt ")
        .append(std::to_string(s.attempt))
        .append(" on ")
        .append(s.node)
        .append(": ")
        .append(fixed(ms_of(s.took)))
        .append(" ms")
        .append(s.failed ? ", failed" : "")
        .append(s.trace_id.empty() ? std::string() : std::string(", trace ").append(s.trace_id))
        .append("\n");
    auto trail = co_await broker_.audit(ctx, s.id);
    run["audit"] = json::array();
    if (trail) {
      for (const AuditEntry& e : *trail) {
        run["audit"].push_back(to_json(e));
        text.append("      ")
            .append(utc(e.at))
            .append(" ")
            .append(e.from ? std::string(to_string(*e.from)) : std::string("(new)"))
            .append(" -> ")
            .append(to_string(e.to))
            .append(e.node.empty() ? std::string() : std::string(" node ").append(e.node))
            .append(e.error.empty() ? std::string() : std::string(" ").append(e.error))
            .append("\n");
      }
    } else {
      run["audit_error"] = trail.error().message();
    }
    report["slowest"].push_back(std::move(run));
  }
  text.append("\nQueues:\n");
  report["queues"] = json::array();
  auto queues = co_await broker_.queues(ctx);
  if (queues) {
    for (const QueueStats& q : *queues) {
      report["queues"].push_back(to_json(q));
      text.append("  ").append(q.queue).append(":");
      for (const auto& [state, n] : q.counts)
        text.append(" ").append(std::to_string(n)).append(" ").append(to_string(state));
      if (q.oldest_pending_due)  // the queue's lag
        text.append("; oldest pending due ")
            .append(fixed(std::chrono::duration<double>(now - *q.oldest_pending_due).count()))
            .append(" s ago");
      text.append("\n");
    }
  } else {
    report["queues_error"] = queues.error().message();
    text.append("  (unavailable: ").append(queues.error().message()).append(")\n");
  }
  text.append("\nBreakers:\n");
  report["breakers"] = json::array();
  for (const Node* node : nodes_)
    for (const TypeBreakerStatus& b : node->breakers()) {
      report["breakers"].push_back({{"node", node->id()},
                                    {"type", b.type},
                                    {"state", resilience::to_string(b.state)},
                                    {"rejected", b.rejected}});
      text.append("  node ")
          .append(node->id())
          .append(" type ")
          .append(b.type)
          .append(": ")
          .append(resilience::to_string(b.state))
          .append("\n");
    }
  if (report["breakers"].empty()) text.append("  (none)\n");
  const RuntimeStats rt = orca::stats();
  report["runtime"] = {{"workers", rt.workers},
                       {"live_tasks", rt.live_tasks},
                       {"parked_tasks", rt.parked_tasks},
                       {"runnable_tasks", rt.live_tasks - rt.parked_tasks},
                       {"timers_pending", rt.timers_pending},
                       {"blocking_in_flight", rt.blocking_in_flight},
                       {"blocking_threads", rt.blocking_threads},
                       {"held_tasks", rt.held_tasks},
                       {"spare_workers", rt.spare_workers}};
  text.append("\nRuntime: ")
      .append(std::to_string(rt.workers))
      .append(" workers, ")
      .append(std::to_string(rt.live_tasks))
      .append(" live tasks (")
      .append(std::to_string(rt.parked_tasks))
      .append(" parked), ")
      .append(std::to_string(rt.timers_pending))
      .append(" timers, ")
      .append(std::to_string(rt.blocking_in_flight))
      .append(" blocking calls, ")
      .append(std::to_string(rt.held_tasks))
      .append(" tasks found holding their worker\n");

  const std::string stem = std::string("orca-p99-").append(std::to_string(to_unix_ms(now)));
  const std::string js = report.dump(2);
  auto write = [this, &stem, &js, &text] {
    return write_report(options_.dir, stem, js, text, options_.keep_reports);
  };
  const std::string why = co_await blocking(write);  // a named callable: GCC PR 101367
  if (!why.empty()) {
    trace::log(trace::LogLevel::kError, std::string("orca: P99 report: ").append(why));
    co_return make_error_code(std::errc::io_error);
  }
  last_report_ = now;
  const std::string path = (std::filesystem::path(options_.dir) / (stem + ".json")).string();
  json summary{{"report_name", stem},
               {"time", report["time"]},
               {"threshold_ms", report["rule"]["threshold_ms"]},
               {"window_s", report["rule"]["window_s"]},
               {"p99_ms", report["rule"]["p99_ms"]},
               {"runs", report["rule"]["runs"]},
               {"report", path},
               {"report_text", (std::filesystem::path(options_.dir) / (stem + ".txt")).string()},
               {"slowest", json::array()}};
  for (const json& run : report["slowest"]) {
    json brief = run;
    brief.erase("audit");
    brief.erase("audit_error");
    brief.erase("ended");
    summary["slowest"].push_back(std::move(brief));
  }
  {
    std::lock_guard lock(mu_);
    summary_ = summary.dump();
  }
  co_return path;
}

Task<void> P99Report::run(Context ctx) {
  for (;;) {
    auto slept = co_await sleep_for(ctx, options_.check_interval);
    if (!slept) co_return;
    auto written = co_await check(ctx, WallClock::now());
    if (written && !written->empty())
      trace::log(trace::LogLevel::kWarn, std::string("orca: job P99 above ")
                                             .append(std::to_string(options_.threshold.count()))
                                             .append(" ms over the last window: report written to ")
                                             .append(*written));
    if (written && !written->empty() && options_.notify) {
      Task<void> told = options_.notify(ctx, last_summary());
      co_await std::move(told);
    }
  }
}

std::string P99Report::last_summary() const {
  std::lock_guard lock(mu_);
  return summary_;
}

}  // namespace orca::jobs
