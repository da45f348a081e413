// Registry and metrics: exact sums under concurrency, get-or-make families, the
// cardinality cap, callbacks and their registrations, the standard families.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "orca/metrics/registry.hpp"
#include "orca/metrics/standard_metrics.hpp"
#include "orca/runtime/run.hpp"
#include "orca/runtime/sleep.hpp"
#include "orca/runtime/spawn.hpp"

using orca::Task;
using namespace orca::metrics;

namespace {

TEST(Metrics, ConcurrentIncrementsFromManyTasksSumExactly) {
  Registry registry;
  Counter& counter = registry.counter("t_incs_total", "Increments.");
  Histogram& histogram = registry.histogram("t_values", "Values.", {1, 10});
  Family<Counter>& family = registry.counter_family("t_by_task_total", "By parity.", {"parity"});
  constexpr int kTasks = 64;
  constexpr int kEach = 2000;
  orca::run([&]() -> Task<void> {
    std::vector<orca::JoinHandle<void>> tasks;
    for (int t = 0; t < kTasks; ++t) {
      tasks.push_back(orca::spawn([&, t]() -> Task<void> {
        for (int i = 0; i < kEach; ++i) {
          counter.inc();
          histogram.observe(static_cast<double>(i % 20));
          family.with({t % 2 == 0 ? "even" : "odd"}).inc(2);
          if (i % 500 == 0) co_await orca::yield();  // move between workers
        }
      }));
    }
    for (auto& t : tasks)
      co_await std::move(t);
  });
  EXPECT_EQ(counter.value(), std::uint64_t{kTasks} * kEach);
  const HistogramSnapshot snap = histogram.snapshot();
  EXPECT_EQ(snap.count, std::uint64_t{kTasks} * kEach);
  // i % 20 over 2000 values: 0 and 1 are <= 1 (200 of them), 0..10 are <= 10 (1100).
  EXPECT_EQ(snap.buckets[0], std::uint64_t{kTasks} * 200);
  EXPECT_EQ(snap.buckets[1], std::uint64_t{kTasks} * 1100);
  EXPECT_DOUBLE_EQ(snap.sum, double{kTasks} * 100 * 190);  // 100 rounds of 0+...+19
  EXPECT_EQ(family.with({"even"}).value(), std::uint64_t{kTasks / 2} * kEach * 2);
  EXPECT_EQ(family.with({"odd"}).value(), std::uint64_t{kTasks / 2} * kEach * 2);
}

TEST(Metrics, ThreadsOutsideTheRuntimeCountToo) {
  Registry registry;
  Counter& counter = registry.counter("t_threads_total", "From threads.");
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i)
        counter.inc();
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(counter.value(), 80'000u);
}

TEST(Metrics, AskingAgainReturnsTheSameFamily) {
  Registry registry;
  auto& a = registry.counter_family("t_same_total", "Same.", {"k"});
  auto& b = registry.counter_family("t_same_total", "Same.", {"k"});
  EXPECT_EQ(&a, &b);
  a.with({"x"}).inc();
  EXPECT_EQ(b.with({"x"}).value(), 1u);
  EXPECT_THROW(registry.gauge_family("t_same_total", "Other type.", {"k"}), std::invalid_argument);
  EXPECT_THROW(registry.counter_family("t_same_total", "Other labels.", {"j"}),
               std::invalid_argument);
}

TEST(Metrics, BadNamesAndLabelsAreRefused) {
  Registry registry;
  EXPECT_THROW(registry.counter("t_no_suffix", "A counter without _total."), std::invalid_argument);
  EXPECT_THROW(registry.gauge("9starts_with_digit", "x"), std::invalid_argument);
  EXPECT_THROW(registry.gauge("has-dash", "x"), std::invalid_argument);
  EXPECT_THROW(registry.gauge_family("t_g", "x", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(registry.gauge_family("t_g2", "x", {"a", "a"}), std::invalid_argument);
  EXPECT_THROW(registry.histogram_family("t_h", "x", {"le"}, {1}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("t_h2", "x", {2, 1}), std::invalid_argument);
  auto& f = registry.gauge_family("t_two", "x", {"a", "b"});
  EXPECT_THROW(f.with({"only one"}), std::invalid_argument);
}

TEST(Metrics, AFamilyCollapsesLabelSetsPastItsCap) {
  Registry registry;
  auto& f = registry.counter_family("t_capped_total", "Capped.", {"user"}, {.max_series = 2});
  f.with({"a"}).inc();
  f.with({"b"}).inc();
  f.with({"c"}).inc();  // past the cap
  f.with({"d"}).inc(5);
  f.with({"a"}).inc();  // made before the cap: its own series still
  EXPECT_EQ(f.size(), 2u);
  EXPECT_EQ(f.overflowed(), 2u);
  EXPECT_EQ(f.with({"a"}).value(), 2u);
  const std::string text = registry.render(Format::kPrometheusText);
  EXPECT_NE(text.find("t_capped_total{user=\"__overflow__\"} 6\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("user=\"c\""), std::string::npos) << text;
}

TEST(Metrics, CallbacksRunAtScrapeTimeUntilTheirRegistrationGoes) {
  Registry registry;
  int calls = 0;
  {
    Registration r = registry.callback("t_depth", "Depth.", MetricType::kGauge, {"queue"},
                                       [&calls](std::vector<Sample>& out) {
                                         ++calls;
                                         out.push_back({{"q1"}, 7});
                                       });
    EXPECT_EQ(calls, 0);
    const std::string text = registry.render(Format::kPrometheusText);
    EXPECT_NE(text.find("t_depth{queue=\"q1\"} 7\n"), std::string::npos) << text;
    EXPECT_EQ(calls, 1);
  }
  const std::string text = registry.render(Format::kPrometheusText);
  EXPECT_EQ(text.find("t_depth{"), std::string::npos) << text;
  EXPECT_EQ(calls, 1);
}

TEST(Metrics, BeforeScrapeHooksRunOnRefresh) {
  Registry registry;
  int runs = 0;
  Registration hook = registry.before_scrape([&runs](orca::Context) -> Task<void> {
    ++runs;
    co_return;
  });
  orca::run([&]() -> Task<void> { co_await registry.refresh(orca::background()); });
  EXPECT_EQ(runs, 1);
  hook.reset();
  orca::run([&]() -> Task<void> { co_await registry.refresh(orca::background()); });
  EXPECT_EQ(runs, 1);
}

TEST(Metrics, StandardFamiliesReadTheProcessAndTheRuntime) {
  Registry registry;
  auto standard = register_standard_metrics(registry);
  std::string text;
  orca::run([&]() -> Task<void> {
    text = registry.render(Format::kPrometheusText);
    co_return;
  });
  for (const char* name :
       {"process_resident_memory_bytes ", "process_open_fds ", "process_cpu_seconds_total ",
        "process_start_time_seconds ", "orca_runtime_tasks{state=\"alive\"} ",
        "orca_runtime_workers ", "orca_runtime_steals_total ", "orca_runtime_timers ",
        "orca_runtime_netpoll_waits "})
    EXPECT_NE(text.find(std::string("\n") + name), std::string::npos) << name << " in\n" << text;
  EXPECT_EQ(text.find("\norca_runtime_workers 0\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("\nprocess_resident_memory_bytes 0\n"), std::string::npos) << text;
}

}  // namespace
