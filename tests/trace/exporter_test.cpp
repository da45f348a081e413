// The OTLP JSON encoding, the batch exporter's bounded queue and batches, the file
// writer, and the structured log's line formats.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "orca/orca.hpp"
#include "orca/trace/batch_exporter.hpp"
#include "orca/trace/log.hpp"
#include "orca/trace/otlp_json.hpp"

namespace orca::trace {
namespace {

using nlohmann::json;

SpanData sample_span(std::string name) {
  SpanData s;
  s.context = *parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  s.context.trace_state = "k=v";
  s.parent_span_id = *SpanId::from_hex("1111111111111111");
  s.name = std::move(name);
  s.kind = SpanKind::kServer;
  s.start_unix_nano = 1'700'000'000'000'000'000;
  s.end_unix_nano = 1'700'000'000'250'000'000;
  s.status = SpanStatus::kError;
  s.status_message = "it \"failed\"\n";
  s.attributes = {{"s", std::string("x")}, {"i", std::int64_t{-3}}, {"d", 0.5}, {"b", true}};
  return s;
}

TEST(OtlpJson, EncodesTheOtlpJsonMapping) {
  const std::vector<SpanData> spans{sample_span("GET /a"), sample_span("b")};
  const json doc = json::parse(to_otlp_json(spans, "svc"));
  const json& rs = doc.at("resourceSpans").at(0);
  EXPECT_EQ(rs.at("resource").at("attributes").at(0).at("value").at("stringValue"), "svc");
  const json& span = rs.at("scopeSpans").at(0).at("spans").at(0);
  EXPECT_EQ(span.at("traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(span.at("spanId"), "00f067aa0ba902b7");
  EXPECT_EQ(span.at("parentSpanId"), "1111111111111111");
  EXPECT_EQ(span.at("traceState"), "k=v");
  EXPECT_EQ(span.at("name"), "GET /a");
  EXPECT_EQ(span.at("kind"), 2);
  EXPECT_EQ(span.at("startTimeUnixNano"), "1700000000000000000");
  EXPECT_EQ(span.at("endTimeUnixNano"), "1700000000250000000");
  EXPECT_EQ(span.at("status").at("code"), 2);
  EXPECT_EQ(span.at("status").at("message"), "it \"failed\"\n");
  const json& attrs = span.at("attributes");
  EXPECT_EQ(attrs.at(0).at("value").at("stringValue"), "x");
  EXPECT_EQ(attrs.at(1).at("value").at("intValue"), "-3");
  EXPECT_EQ(attrs.at(2).at("value").at("doubleValue"), 0.5);
  EXPECT_EQ(attrs.at(3).at("value").at("boolValue"), true);
  EXPECT_EQ(rs.at("scopeSpans").at(0).at("spans").size(), 2u);
  // A root span has no parentSpanId at all.
  SpanData root = sample_span("root");
  root.parent_span_id = SpanId{};
  const json one = json::parse(to_otlp_json(std::vector<SpanData>{root}, "svc"));
  EXPECT_FALSE(one["resourceSpans"][0]["scopeSpans"][0]["spans"][0].contains("parentSpanId"));
}

TEST(BatchExporter, AFullQueueDropsAndCountsAndFlushWritesInBatches) {
  std::vector<std::string> bodies;
  auto exporter = std::make_shared<BatchExporter>(
      [&bodies](Context, std::string body) -> Task<Result<void>> {
        bodies.push_back(std::move(body));
        co_return Result<void>{};
      },
      BatchExporterOptions{.max_queue = 5, .max_batch = 2});
  for (int i = 0; i < 7; ++i)
    exporter->on_end(sample_span("s" + std::to_string(i)));
  EXPECT_EQ(exporter->stats().dropped, 2u);
  orca::run([&]() -> Task<void> {
    auto flushed = co_await exporter->flush(background());
    EXPECT_TRUE(flushed.has_value());
  });
  ASSERT_EQ(bodies.size(), 3u);  // 2 + 2 + 1
  std::size_t spans = 0;
  for (const auto& b : bodies)
    spans += json::parse(b)["resourceSpans"][0]["scopeSpans"][0]["spans"].size();
  EXPECT_EQ(spans, 5u);
  EXPECT_EQ(exporter->stats().exported, 5u);
}

TEST(BatchExporter, AFailedWriteIsCountedAndDropped) {
  auto exporter = std::make_shared<BatchExporter>(
      [](Context, std::string) -> Task<Result<void>> {
        co_return std::make_error_code(std::errc::connection_refused);
      },
      BatchExporterOptions{});
  exporter->on_end(sample_span("a"));
  orca::run([&]() -> Task<void> {
    auto flushed = co_await exporter->flush(background());
    EXPECT_FALSE(flushed.has_value());
  });
  EXPECT_EQ(exporter->stats().failed_batches, 1u);
  EXPECT_EQ(exporter->stats().failed_spans, 1u);
}

TEST(BatchExporter, RunWritesWhatIsQueuedWhenItsContextEnds) {
  std::size_t writes = 0;
  auto exporter = std::make_shared<BatchExporter>(
      [&writes](Context, std::string) -> Task<Result<void>> {
        ++writes;
        co_return Result<void>{};
      },
      BatchExporterOptions{.interval = std::chrono::hours(1)});
  orca::run([&]() -> Task<void> {
    auto [ctx, stop] = with_cancel(background());
    auto running = spawn([exporter, ctx = ctx] { return exporter->run(ctx); });
    exporter->on_end(sample_span("a"));
    stop();
    co_await std::move(running);
  });
  EXPECT_EQ(writes, 1u);
  EXPECT_EQ(exporter->stats().exported, 1u);
}

TEST(FileWriter, AppendsOneRequestPerLine) {
  std::string dir = (std::filesystem::temp_directory_path() / "orca-trace-XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string path = dir + "/spans.jsonl";
  auto exporter = std::make_shared<BatchExporter>(file_writer(path), BatchExporterOptions{});
  orca::run([&]() -> Task<void> {
    exporter->on_end(sample_span("one"));
    (void)co_await exporter->flush(background());
    exporter->on_end(sample_span("two"));
    (void)co_await exporter->flush(background());
  });
  std::ifstream in(path);
  std::string line;
  std::vector<std::string> names;
  while (std::getline(in, line))
    names.push_back(json::parse(line)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"]
                        .get<std::string>());
  EXPECT_EQ(names, (std::vector<std::string>{"one", "two"}));
  std::filesystem::remove_all(dir);
}

TEST(Log, JsonLinesCarryTheFieldsAndTextLinesTheMessageAlone) {
  const std::string line = format_log_line(LogFormat::kJson, LogLevel::kWarn, "broker \"down\"",
                                           "4bf92f3577b34da6a3ce929d0e0e4736",
                                           {.job_id = 42, .node = "w1"}, 1'765'000'000'123);
  const json j = json::parse(line);
  EXPECT_EQ(j["time"], "2025-12-06T05:46:40.123Z");
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["message"], "broker \"down\"");
  EXPECT_EQ(j["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(j["job_id"], 42);
  EXPECT_EQ(j["node"], "w1");
  EXPECT_EQ(format_log_line(LogFormat::kText, LogLevel::kInfo, "orca: hi", "", {}, 0), "orca: hi");
  EXPECT_FALSE(json::parse(format_log_line(LogFormat::kJson, LogLevel::kInfo, "m", "", {}, 0))
                   .contains("job_id"));
}

TEST(Log, LinesBelowTheLevelAreNotWrittenAndTheTraceComesFromTheContext) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const LogOptions before = log_options();
  set_log_options({.format = LogFormat::kJson, .level = LogLevel::kInfo, .fd = fds[1]});
  EXPECT_FALSE(log_enabled(LogLevel::kDebug));
  log(LogLevel::kDebug, "hidden");
  const Context ctx = with_span_context(
      background(), *parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  log(LogLevel::kInfo, "shown", &ctx);
  set_log_options(before);
  ::close(fds[1]);
  char buf[512];
  const ssize_t n = ::read(fds[0], buf, sizeof buf);
  ::close(fds[0]);
  ASSERT_GT(n, 0);
  const std::string text(buf, static_cast<std::size_t>(n));
  ASSERT_EQ(text.back(), '\n');
  const json j = json::parse(text);
  EXPECT_EQ(j["message"], "shown");
  EXPECT_EQ(j["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
}

}  // namespace
}  // namespace orca::trace
