// P99Report: the P99 rule of orca's alerts, evaluated inside the process that runs the
// jobs, and the diagnostic report it writes when the rule fires, so that an on-call
// engineer starts from evidence rather than from a graph.
//
//   jobs::P99Report report(broker, {.threshold = 500ms, .dir = "/var/lib/orca/reports"});
//   node_options.on_attempt_end = report.recorder();   // every handler run is a sample
//   report.watch(node);                                 // its breakers go in reports
//   orca::go([&] { return report.run(ctx); });          // checks every check_interval
//
// The rule: over the last `window` (5 min), the 99th percentile of the handlers' run
// times exceeds `threshold` (500 ms) with at least `min_samples` runs; the same rule
// and defaults as deploy/prometheus's alert. When it fires, at most once per window, a
// report is written as two files, DIR/orca-p99-UNIXMS.json and .txt (the same facts,
// machine- and human-readable): the rule's figures; the `slowest` runs of the window
// with their job type, queue, node, trace id and audit trail; every queue's counts by
// state and lag (its oldest pending job's due time); each watched node's breakers; the
// runtime's state (tasks by state, workers, timers, blocking calls, tasks found holding
// their worker). Only the newest `keep_reports` reports are kept: older ones are deleted
// as new ones are written.
//
// Memory: the window keeps at most max_samples runs (the oldest go first): at 300
// jobs/s, 100,000 samples are 5 minutes.
//
// Thread safety: record() from any thread; watch() before run(); check() and run()
// from one task at a time. Errors: check() returns the broker's error or the file
// system's (the rule stays armed and fires again at the next check).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/jobs/broker.hpp"
#include "orca/jobs/node.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::jobs {

// One handler run.
struct AttemptSample {
  JobId id = 0;
  int attempt = 0;
  std::string type;
  std::string queue;
  std::string node;
  std::string trace_id;
  std::chrono::nanoseconds took{0};  // the handler's run time
  bool failed = false;
  WallClock::time_point ended{};
};

// Told of each report: its summary, a JSON object with the rule's figures and the
// slowest runs (alert_webhook.hpp posts it to a URL): {"report_name", "time",
// "threshold_ms", "window_s", "p99_ms", "runs", "report" (the JSON file's path),
// "report_text" (the text file's), "slowest": [{"id", "attempt", "type", "queue",
// "node", "trace_id", "duration_ms", "failed"}]}.
using P99Notify = std::function<Task<void>(Context, std::string summary)>;

struct P99ReportOptions {
  std::chrono::milliseconds threshold{500};
  std::chrono::milliseconds window{std::chrono::minutes(5)};
  std::chrono::milliseconds check_interval{std::chrono::seconds(15)};
  std::size_t min_samples = 20;  // a P99 of fewer runs is noise
  std::size_t max_samples = 100'000;
  std::string dir = "orca-reports";
  std::size_t keep_reports = 20;
  std::size_t slowest = 10;  // runs described in a report
  // Called by run() after each report is written, in run()'s task (so a slow receiver
  // delays the next check, never the nodes or the server); nothing: no one is told.
  P99Notify notify;
};

class P99Report {
 public:
  // Throws std::invalid_argument for a zero threshold, window, check interval,
  // max_samples or keep_reports, or an empty dir.
  P99Report(Broker& broker, P99ReportOptions options);

  void record(AttemptSample sample);
  // A NodeOptions::on_attempt_end that records into this report (which must outlive
  // the node).
  std::function<void(const Job&, Outcome, std::chrono::nanoseconds)> recorder();
  void watch(const Node& node);

  // The P99 run time over the window ending at `now`; nothing below min_samples.
  std::optional<std::chrono::nanoseconds> p99(WallClock::time_point now) const;
  // Evaluates the rule at `now`; when it fires, writes a report and returns the path of
  // its JSON file; "" when it does not fire (or already fired in this window).
  Task<Result<std::string>> check(Context ctx, WallClock::time_point now);
  // check() every check_interval until ctx is done; logs each report's path (warn)
  // and hands its summary to options.notify.
  Task<void> run(Context ctx);
  // The summary of the last report written (P99Notify's JSON); "" before the first.
  std::string last_summary() const;

 private:
  Broker& broker_;
  const P99ReportOptions options_;
  std::vector<const Node*> nodes_;
  mutable std::mutex mu_;              // guards samples_ and summary_
  std::deque<AttemptSample> samples_;  // oldest first
  std::optional<WallClock::time_point> last_report_;
  std::string summary_;  // of the last report (mu_)
};

}  // namespace orca::jobs
