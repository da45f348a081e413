// Schedules (cron subset, @every), backoff, and the JSON forms of the model.
#include "jobs_test_support.hpp"

namespace orca::jobs::testing {
namespace {

WallClock::time_point utc(int y, unsigned mo, unsigned d, int h, int mi) {
  using namespace std::chrono;
  return sys_days(year{y} / month{mo} / day{d}) + hours(h) + minutes(mi);
}

Schedule parse_ok(const std::string& text) {
  auto s = Schedule::parse(text);
  EXPECT_TRUE(s.has_value()) << text << ": " << s.error();
  return *s;
}

TEST(Schedule, EveryIsAFixedInterval) {
  const Schedule s = parse_ok("@every 90s");
  const auto t = utc(2026, 1, 1, 0, 0);
  EXPECT_EQ(s.next_after(t), t + std::chrono::seconds(90));
}

TEST(Schedule, CronStepsRangesAndLists) {
  EXPECT_EQ(parse_ok("*/15 * * * *").next_after(utc(2026, 1, 1, 10, 7)), utc(2026, 1, 1, 10, 15));
  EXPECT_EQ(parse_ok("0 9-17 * * *").next_after(utc(2026, 1, 1, 17, 0)), utc(2026, 1, 2, 9, 0));
  EXPECT_EQ(parse_ok("5,10 0 * * *").next_after(utc(2026, 1, 1, 0, 5)), utc(2026, 1, 1, 0, 10));
  // 2026-01-01 is a Thursday; the next Monday 08:30 is 2026-01-05.
  EXPECT_EQ(parse_ok("30 8 * * 1").next_after(utc(2026, 1, 1, 12, 0)), utc(2026, 1, 5, 8, 30));
  // Both day fields restricted: either matches (cron's rule). 1st of month or Sunday.
  EXPECT_EQ(parse_ok("0 0 1 * 0").next_after(utc(2026, 1, 1, 1, 0)), utc(2026, 1, 4, 0, 0));
  // Feb 29 only exists in leap years.
  EXPECT_EQ(parse_ok("0 0 29 2 *").next_after(utc(2026, 1, 1, 0, 0)), utc(2028, 2, 29, 0, 0));
  // 7 is Sunday too.
  EXPECT_EQ(parse_ok("0 0 * * 7").next_after(utc(2026, 1, 1, 0, 0)), utc(2026, 1, 4, 0, 0));
}

TEST(Schedule, ParseErrorsSayWhatAndWhere) {
  const std::pair<const char*, const char*> cases[] = {
      {"* * * *", "got 4 fields"},
      {"60 * * * *", "field 1 (minute): 60 is out of range 0-59"},
      {"* 24 * * *", "field 2 (hour): 24 is out of range 0-23"},
      {"* * 0 * *", "field 3 (day-of-month)"},
      {"* * * * mon", "field 5 (day-of-week): \"mon\" is not a number"},
      {"*/0 * * * *", "bad step"},
      {"@every 0s", "positive whole duration"},
      {"@every soon", "positive whole duration"},
      // Longer would overflow the clock when added to a time (fuzz/schedule_fuzz).
      {"@every 87601h", "at most 315360000000ms"},
      {"@every 9223372036854775807h", "at most 315360000000ms"},
  };
  for (const auto& [text, want] : cases) {
    auto s = Schedule::parse(text);
    ASSERT_FALSE(s.has_value()) << text;
    EXPECT_EQ(s.error(), errc::bad_schedule) << text << ": " << s.error();
    EXPECT_NE(s.error().detail().find(want), std::string::npos)
        << text << ": got \"" << s.error().detail() << "\", want \"" << want << "\" in it";
  }
}

TEST(RetryPolicy, ExponentialCappedAndJittered) {
  RetryPolicy p;
  p.base_delay = std::chrono::milliseconds(100);
  p.multiplier = 2;
  p.max_delay = std::chrono::milliseconds(1000);
  p.jitter = 0;
  EXPECT_EQ(p.delay_after(1, 0.5).count(), 100);
  EXPECT_EQ(p.delay_after(3, 0.5).count(), 400);
  EXPECT_EQ(p.delay_after(10, 0.5).count(), 1000);
  p.jitter = 0.5;
  EXPECT_EQ(p.delay_after(1, 0.0).count(), 50);     // -50%
  EXPECT_EQ(p.delay_after(1, 0.999).count(), 149);  // almost +50%
}

TEST(Json, SpecRoundTripsIncludingBinaryPayload) {
  JobSpec s = spec("email", std::string("\xff\x00\x01", 3));
  s.queue = "critical";
  s.priority = 7;
  s.unique_key = "k";
  s.headers["tenant"] = "acme";
  s.deadline = from_unix_ms(1'800'000'000'000);
  const nlohmann::json j = to_json(s);
  EXPECT_TRUE(j.contains("payload_base64"));
  auto read = job_spec_from_json(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(read) << read.error();
  const JobSpec& back = *read;
  EXPECT_EQ(back.payload, s.payload);
  EXPECT_EQ(back.queue, "critical");
  EXPECT_EQ(back.priority, 7);
  EXPECT_EQ(back.headers.at("tenant"), "acme");
  EXPECT_EQ(back.deadline, s.deadline);
  EXPECT_EQ(back.retry.base_delay, s.retry.base_delay);
}

TEST(Json, BadSpecsNameTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"type": 5})", "type: expected a string"},
      {R"({"type": "a", "priority": "high"})", "priority: expected an integer"},
      {R"({"type": "a", "max_attempts": 0})", "max_attempts must be 1..1000, got 0"},
      {R"({"type": "a", "payload": "x", "payload_base64": "eA=="})",
       "payload and payload_base64 are exclusive"},
      {R"({"type": "a", "run_at_ms": -1})", "run_at_ms: expected Unix milliseconds in 0.."},
      {R"({"type": "a", "timeout_ms": 315360000001})", "timeout_ms: expected an integer in 0.."},
      {R"({"type": "a", "colour": "red"})", "unknown field \"colour\""},
      {R"({"type": "a", "payload_base64": "!!"})", "payload_base64: expected base64"},
      {R"({"queue": "q"})", "type must be 1..128 characters"},
      {R"([1, 2])", "expected a JSON object"},
  };
  for (const auto& [text, want] : cases) {
    auto out = job_spec_from_json(nlohmann::json::parse(text));
    ASSERT_FALSE(out) << text;
    EXPECT_EQ(out.error(), errc::invalid_job) << text << ": " << out.error();
    EXPECT_NE(out.error().detail().find(want), std::string::npos)
        << text << ": got \"" << out.error().detail() << "\"";
  }
}

TEST(Json, StrictParseRefusesDuplicateKeysAtAnyDepth) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"a": 1, "a": 2})", "duplicate key \"a\""},
      {R"({"a": {"b": 1, "c": {"b": 2}, "b": 3}})", "duplicate key \"b\""},
      {R"([{"x": 1}, {"x": 2, "x": 3}])", "duplicate key \"x\""},
      {R"({"a": )", "malformed JSON"},
  };
  for (const auto& [text, want] : cases) {
    auto parsed = parse_json_strict(text);
    ASSERT_FALSE(parsed.has_value()) << text;
    EXPECT_EQ(parsed.error(), std::errc::invalid_argument) << text;
    EXPECT_EQ(parsed.error().detail(), want) << text;
  }
  // The same key in sibling objects, and nested objects, are fine.
  auto ok = parse_json_strict(R"([{"x": 1}, {"x": 2}, {"x": {"x": 3}}])");
  ASSERT_TRUE(ok.has_value()) << ok.error();
  EXPECT_EQ((*ok)[2]["x"]["x"], 3);
}

TEST(Json, Base64) {
  for (const std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    std::string back;
    ASSERT_TRUE(base64_decode(base64_encode(s), back));
    EXPECT_EQ(back, s);
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

}  // namespace
}  // namespace orca::jobs::testing
