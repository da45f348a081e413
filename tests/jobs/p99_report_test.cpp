// The P99 rule and its report (p99_report.hpp), on samples made up by the test and a
// SQLite store holding the jobs they name: the rule's arithmetic, the report's content
// (slowest runs with trace ids and audit trails, queues, runtime), once per window,
// and the bounded count of report files.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "jobs_test_support.hpp"
#include "orca/jobs/p99_report.hpp"
#include "support/result_assertions.hpp"

namespace orca::jobs::testing {
namespace {

AttemptSample sample(JobId id, std::chrono::milliseconds took, WallClock::time_point ended) {
  AttemptSample s;
  s.id = id;
  s.attempt = 1;
  s.type = "t";
  s.queue = "default";
  s.node = "n1";
  s.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  s.took = took;
  s.ended = ended;
  return s;
}

TEST(P99Report, ThePercentileNeedsEnoughRunsInTheWindow) {
  TempDir dir;
  auto opened = SqliteBroker::open({.path = dir.db()});
  ASSERT_OK(opened);
  SqliteBroker& broker = **opened;
  P99Report report(
      broker,
      {.threshold = 500ms, .window = 5min, .min_samples = 10, .dir = (dir.path() / "r").string()});
  const auto now = WallClock::now();
  for (int i = 0; i < 9; ++i)
    report.record(sample(i + 1, 10ms, now - 1s));
  EXPECT_FALSE(report.p99(now).has_value()) << "9 runs are fewer than min_samples";
  report.record(sample(10, 900ms, now - 1s));
  report.record(sample(11, 5000ms, now - 10min));  // outside the window
  ASSERT_TRUE(report.p99(now).has_value());
  // Nearest rank: the 99th percentile of 10 runs is the slowest.
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(*report.p99(now)), 900ms);
}

TEST(P99Report, FiringWritesTheEvidenceOncePerWindowAndKeepsTheNewestReports) {
  TempDir dir;
  auto opened = SqliteBroker::open({.path = dir.db()});
  ASSERT_OK(opened);
  SqliteBroker& broker = **opened;
  const std::string reports = (dir.path() / "reports").string();
  P99Report report(broker, {.threshold = 500ms,
                            .window = 5min,
                            .min_samples = 3,
                            .dir = reports,
                            .keep_reports = 2,
                            .slowest = 2});
  std::vector<std::string> paths;
  std::string quiet;
  orca::run([&]() -> Task<void> {
    Context ctx = hang_guard();
    JobSpec s = spec("t");
    s.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    std::vector<JobSpec> three(3, s);
    auto added = co_await broker.enqueue(ctx, std::move(three));
    const auto t0 = WallClock::now();
    report.record(sample((*added)[0].id, 100ms, t0));
    auto below = co_await report.check(ctx, t0 + 1s);
    quiet = *below;
    report.record(sample((*added)[1].id, 800ms, t0));
    report.record(sample((*added)[2].id, 1200ms, t0));
    auto fired = co_await report.check(ctx, t0 + 1s);
    paths.push_back(*fired);
    auto again = co_await report.check(ctx, t0 + 2s);  // the same window: no second report
    paths.push_back(*again);
    // Later windows fire again; only the newest two reports stay.
    for (int k = 1; k <= 2; ++k) {
      const auto later = t0 + k * 6min;
      for (int i = 0; i < 3; ++i)
        report.record(sample((*added)[2].id, 900ms, later));
      auto next = co_await report.check(ctx, later + 1s);
      paths.push_back(*next);
    }
  });
  EXPECT_EQ(quiet, "") << "a P99 of 100 ms does not fire";
  ASSERT_EQ(paths.size(), 4u);
  EXPECT_NE(paths[0], "");
  EXPECT_EQ(paths[1], "") << "one report per window";
  EXPECT_NE(paths[2], "");
  EXPECT_NE(paths[3], "");
  std::size_t json_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(reports))
    json_files += entry.path().extension() == ".json" ? 1 : 0;
  EXPECT_EQ(json_files, 2u) << "keep_reports bounds the files";
  EXPECT_FALSE(std::filesystem::exists(paths[0])) << "the oldest report was deleted";

  std::ifstream in(paths[3]);
  const auto doc = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc["rule"]["threshold_ms"], 500);
  EXPECT_EQ(doc["slowest"].size(), 2u);
  EXPECT_EQ(doc["slowest"][0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_GE(doc["slowest"][0]["audit"].size(), 1u) << doc.dump();
  EXPECT_EQ(doc["queues"][0]["queue"], "default");
  EXPECT_TRUE(doc["queues"][0]["oldest_pending_due_ms"].is_number_integer())
      << "the three jobs are pending: the queue has a lag; got " << doc["queues"].dump();
  EXPECT_TRUE(doc["runtime"].contains("live_tasks"));
  std::string txt_path = paths[3];
  txt_path.replace(txt_path.size() - 5, 5, ".txt");
  std::ifstream txt(txt_path);
  std::stringstream text;
  text << txt.rdbuf();
  EXPECT_NE(text.str().find("P99 of job run times over the last 300 s: 900.0 ms"),
            std::string::npos)
      << text.str();
  EXPECT_NE(text.str().find("trace 4bf92f3577b34da6a3ce929d0e0e4736"), std::string::npos);
  EXPECT_NE(text.str().find("3 pending; oldest pending due "), std::string::npos) << text.str();
}

TEST(P99Report, BadOptionsAreRefused) {
  TempDir dir;
  auto opened = SqliteBroker::open({.path = dir.db()});
  ASSERT_OK(opened);
  SqliteBroker& broker = **opened;
  EXPECT_THROW(P99Report(broker, {.threshold = 0ms}), std::invalid_argument);
  EXPECT_THROW(P99Report(broker, {.dir = ""}), std::invalid_argument);
}

}  // namespace
}  // namespace orca::jobs::testing
