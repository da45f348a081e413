// The P99 report's webhook (alert_webhook.hpp): a report fired by P99Report::run is
// posted to a receiver started here, which refuses the first delivery with a 503, so
// the summary arrives by a retry; a refusal outside 5xx/429 is not retried; a URL the
// client cannot post to is refused at creation.
#include "orca/jobs/alert_webhook.hpp"

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "jobs_test_support.hpp"
#include "orca/net/http/server.hpp"
#include "support/result_assertions.hpp"

namespace orca::jobs::testing {
namespace {

constexpr const char* kWebhookTrace = "5bf92f3577b34da6a3ce929d0e0e4736";

// What the receiver saw: every delivery's body and Idempotency-Key, in order.
struct WebhookInbox {
  std::mutex mu;
  std::vector<std::string> bodies;
  std::vector<std::string> keys;
  std::atomic<int> refuse_first{0};  // answer this many deliveries with refusal_status
  int refusal_status = 503;
  std::size_t size() {
    std::lock_guard lock(mu);
    return bodies.size();
  }
};

http::Router webhook_receiver(WebhookInbox& inbox) {
  http::Router router;
  router.post("/alerts", [&inbox](Context, http::Request req) -> Task<http::Response> {
    http::Response r;
    {
      std::lock_guard lock(inbox.mu);
      inbox.bodies.push_back(req.body);
      inbox.keys.push_back(std::string(req.headers.get("Idempotency-Key").value_or("")));
    }
    if (inbox.refuse_first.fetch_sub(1) > 0) r.status = inbox.refusal_status;
    co_return r;
  });
  return router;
}

AttemptSample slow_run(JobId id, WallClock::time_point ended) {
  AttemptSample s;
  s.id = id;
  s.attempt = 1;
  s.type = "slow";
  s.queue = "default";
  s.node = "n1";
  s.trace_id = kWebhookTrace;
  s.took = 800ms;
  s.ended = ended;
  return s;
}

// Runs a P99Report whose notifier posts to a receiver started here, until the
// notifier returned (delivered or gave up), or the guard's deadline passed.
void run_report_against_receiver(WebhookInbox& inbox, const std::string& reports_dir,
                                 const std::string& db) {
  auto opened = SqliteBroker::open({.path = db});
  ASSERT_OK(opened);
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    http::Server receiver(webhook_receiver(inbox));
    std::atomic<bool> returned{false};
    EXPECT_TRUE(receiver.start(net::Address::loopback_v4(0)).has_value());
    const std::string url =
        "http://127.0.0.1:" + std::to_string(receiver.local_address().port()) + "/alerts";
    P99Report report(
        **opened,
        {.threshold = 500ms,
         .window = 5min,
         .check_interval = 5ms,
         .min_samples = 3,
         .dir = reports_dir,
         .notify = [&returned, post = alert_webhook(url, {.timeout = 2s, .max_attempts = 3})](
                       Context c, std::string summary) -> Task<void> {
           Task<void> posted = post(std::move(c), std::move(summary));
           co_await std::move(posted);
           returned = true;
         }});
    for (int i = 0; i < 3; ++i)
      report.record(slow_run(i + 1, WallClock::now()));
    auto [ctx, stop] = with_cancel(guard);
    auto running = spawn([&report, ctx = ctx] { return report.run(ctx); });
    // A bounded wait for the notifier (the guard's deadline), not a timing assertion.
    while (!returned && !guard.is_done())
      (void)co_await sleep_for(guard, 5ms);
    stop();
    co_await std::move(running);
    auto [sctx, scancel] = with_timeout(guard, 5s);
    (void)co_await receiver.shutdown(sctx);
  });
}

TEST(AlertWebhook, PostsTheReportSummaryAndRetriesARefusalByServerError) {
  TempDir dir;
  WebhookInbox inbox;
  inbox.refuse_first = 1;
  const std::string reports = (dir.path() / "reports").string();
  run_report_against_receiver(inbox, reports, dir.db());
  ASSERT_EQ(inbox.bodies.size(), 2u) << "want the 503'd delivery and its retry";
  EXPECT_EQ(inbox.bodies[0], inbox.bodies[1]) << "the retry sends the same summary";
  EXPECT_EQ(inbox.keys[0], inbox.keys[1]);
  const auto summary = nlohmann::json::parse(inbox.bodies[1], nullptr, false);
  ASSERT_TRUE(summary.is_object()) << inbox.bodies[1];
  EXPECT_EQ(summary.value("threshold_ms", 0), 500) << summary.dump();
  EXPECT_EQ(summary.value("window_s", 0), 300) << summary.dump();
  EXPECT_EQ(summary.value("p99_ms", 0.0), 800.0) << summary.dump();
  EXPECT_EQ(summary.value("runs", 0), 3) << summary.dump();
  EXPECT_EQ(inbox.keys[1], summary.value("report_name", "")) << summary.dump();
  EXPECT_TRUE(std::filesystem::exists(summary.value("report", ""))) << summary.dump();
  EXPECT_TRUE(std::filesystem::exists(summary.value("report_text", ""))) << summary.dump();
  ASSERT_EQ(summary["slowest"].size(), 3u) << summary.dump();
  EXPECT_EQ(summary["slowest"][0].value("trace_id", ""), kWebhookTrace) << summary.dump();
  EXPECT_EQ(summary["slowest"][0].value("type", ""), "slow") << summary.dump();
  EXPECT_FALSE(summary["slowest"][0].contains("audit")) << "a summary, not the report";
}

TEST(AlertWebhook, DoesNotRetryARefusalOfTheRequestItself) {
  TempDir dir;
  WebhookInbox inbox;
  inbox.refuse_first = 100;
  inbox.refusal_status = 400;
  run_report_against_receiver(inbox, (dir.path() / "reports").string(), dir.db());
  EXPECT_EQ(inbox.bodies.size(), 1u) << "want one delivery: a 400 is not retried";
}

TEST(AlertWebhook, RefusesAUrlItCannotPostTo) {
  for (const char* url : {"", "ftp://127.0.0.1/alerts", "127.0.0.1:9095/alerts", "http://"}) {
    try {
      (void)alert_webhook(url);
      ADD_FAILURE() << "accepted " << url;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("expected an http:// or https:// URL"),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_THROW((void)alert_webhook("http://127.0.0.1:1/x", {.timeout = 0ms}),
               std::invalid_argument);
  EXPECT_NO_THROW((void)alert_webhook("https://hooks.example/orca"));
}

}  // namespace
}  // namespace orca::jobs::testing
