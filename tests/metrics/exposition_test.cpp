// The exposition formats to the byte: Prometheus text 0.0.4 and OpenMetrics 1.0
// (counter family names, float bounds, exemplars, # EOF), escaping of HELP text and
// label values, invalid UTF-8, and the choice of format from an Accept header.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "orca/metrics/registry.hpp"

using namespace orca::metrics;

namespace {

// The registry of the golden texts below.
void fill(Registry& r) {
  auto& jobs =
      r.counter_family("a_jobs_total", "Jobs done.\nSecond line \\ with \"quotes\".", {"queue"});
  jobs.with({"q\"1\\\n"}).inc(3);
  jobs.with({"default"}).inc();
  r.gauge("b_level", "A level.").set(2.5);
  auto& h = r.histogram_family("c_seconds", "Durations.", {"route"}, {0.25, 1});
  h.with({"/x"}).observe(0.25);
  h.with({"/x"}).observe(0.5, "4bf92f3577b34da6a3ce929d0e0e4736");
  h.with({"/x"}).observe(3);
}

TEST(Exposition, PrometheusTextFormat) {
  Registry r;
  fill(r);
  const std::string want =
      "# HELP a_jobs_total Jobs done.\\nSecond line \\\\ with \"quotes\".\n"
      "# TYPE a_jobs_total counter\n"
      "a_jobs_total{queue=\"default\"} 1\n"
      "a_jobs_total{queue=\"q\\\"1\\\\\\n\"} 3\n"
      "# HELP b_level A level.\n"
      "# TYPE b_level gauge\n"
      "b_level 2.5\n"
      "# HELP c_seconds Durations.\n"
      "# TYPE c_seconds histogram\n"
      "c_seconds_bucket{route=\"/x\",le=\"0.25\"} 1\n"
      "c_seconds_bucket{route=\"/x\",le=\"1\"} 2\n"
      "c_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"
      "c_seconds_sum{route=\"/x\"} 3.75\n"
      "c_seconds_count{route=\"/x\"} 3\n";
  EXPECT_EQ(r.render(Format::kPrometheusText), want);
}

TEST(Exposition, OpenMetricsFormatWithExemplars) {
  Registry r;
  fill(r);
  std::string got = r.render(Format::kOpenMetrics);
  // The exemplar's timestamp is the time of the observation: check it, then cut it.
  const std::string mark = "0.5 ";
  const std::size_t at = got.find("\"} " + mark);
  ASSERT_NE(at, std::string::npos) << got;
  const std::size_t ts = at + 3 + mark.size();
  const std::size_t eol = got.find('\n', ts);
  const double stamp = std::strtod(got.substr(ts, eol - ts).c_str(), nullptr);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LT(std::abs(now - stamp), 60.0) << "got timestamp " << stamp << ", want about " << now;
  got.replace(ts, eol - ts, "T");
  const std::string want =
      "# HELP a_jobs Jobs done.\\nSecond line \\\\ with \\\"quotes\\\".\n"
      "# TYPE a_jobs counter\n"
      "a_jobs_total{queue=\"default\"} 1\n"
      "a_jobs_total{queue=\"q\\\"1\\\\\\n\"} 3\n"
      "# HELP b_level A level.\n"
      "# TYPE b_level gauge\n"
      "b_level 2.5\n"
      "# HELP c_seconds Durations.\n"
      "# TYPE c_seconds histogram\n"
      "c_seconds_bucket{route=\"/x\",le=\"0.25\"} 1\n"
      "c_seconds_bucket{route=\"/x\",le=\"1.0\"} 2 # "
      "{trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} "
      "0.5 T\n"
      "c_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"
      "c_seconds_sum{route=\"/x\"} 3.75\n"
      "c_seconds_count{route=\"/x\"} 3\n"
      "# EOF\n";
  EXPECT_EQ(got, want);
}

TEST(Exposition, ExemplarsAreNotWrittenInTheTextFormat) {
  Registry r;
  r.histogram("d_seconds", "D.", {1}).observe(0.5, "abc");
  EXPECT_EQ(r.render(Format::kPrometheusText).find("trace_id"), std::string::npos);
  EXPECT_NE(r.render(Format::kOpenMetrics).find("# {trace_id=\"abc\"} 0.5 "), std::string::npos);
}

TEST(Exposition, AnOverlongTraceIdKeepsNoExemplar) {
  Registry r;
  Histogram& h = r.histogram("e_seconds", "E.", {1});
  h.observe(0.5, std::string(kMaxExemplarId + 1, 'a'));
  EXPECT_EQ(r.render(Format::kOpenMetrics).find("trace_id"), std::string::npos);
  EXPECT_EQ(h.snapshot().count, 1u);
}

TEST(Exposition, TheLatestExemplarOfABucketWins) {
  Registry r;
  Histogram& h = r.histogram("f_seconds", "F.", {1});
  h.observe(0.1, "first");
  h.observe(0.2, "second");
  const HistogramSnapshot snap = h.snapshot();
  ASSERT_TRUE(snap.exemplars[0].has_value());
  EXPECT_EQ(snap.exemplars[0]->trace_id, "second");
  EXPECT_EQ(snap.exemplars[0]->value, 0.2);
  EXPECT_FALSE(snap.exemplars[1].has_value());
}

TEST(Exposition, InvalidUtf8InLabelValuesBecomesReplacementCharacters) {
  Registry r;
  r.counter_family("g_total", "G.", {"k"})
      .with({"a\xff"
             "b\xc3"})
      .inc();
  r.counter_family("g_total", "G.", {"k"}).with({"caf\xc3\xa9"}).inc();
  const std::string text = r.render(Format::kPrometheusText);
  EXPECT_NE(text.find("g_total{k=\"a\xef\xbf\xbd"
                      "b\xef\xbf\xbd\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("g_total{k=\"caf\xc3\xa9\"} 1\n"), std::string::npos) << text;
}

TEST(Exposition, SpecialValues) {
  Registry r;
  r.gauge("h_inf", "I.").set(std::numeric_limits<double>::infinity());
  r.gauge("h_nan", "N.").set(std::numeric_limits<double>::quiet_NaN());
  r.gauge("h_neg", "M.").set(-0.125);
  const std::string text = r.render(Format::kPrometheusText);
  EXPECT_NE(text.find("\nh_inf +Inf\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nh_nan NaN\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nh_neg -0.125\n"), std::string::npos) << text;
}

TEST(Exposition, NegotiatesTheFormatFromAccept) {
  // What Prometheus 2.42 sends.
  EXPECT_EQ(negotiate("application/openmetrics-text;version=1.0.0,application/"
                      "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/"
                      "*;q=0.1"),
            Format::kOpenMetrics);
  EXPECT_EQ(negotiate("text/plain;version=0.0.4"), Format::kPrometheusText);
  EXPECT_EQ(negotiate(""), Format::kPrometheusText);
  EXPECT_EQ(negotiate("*/*"), Format::kPrometheusText);
  EXPECT_EQ(negotiate("text/plain, application/openmetrics-text; q=0"), Format::kPrometheusText);
  EXPECT_EQ(negotiate("text/plain;q=0.5, application/openmetrics-text; version=1.0.0"),
            Format::kOpenMetrics);
  EXPECT_EQ(content_type(Format::kPrometheusText), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(content_type(Format::kOpenMetrics),
            "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

}  // namespace
