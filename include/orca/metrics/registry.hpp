// Registry: the metrics of a process (or of one component, in a test) and their
// exposition, in the Prometheus text format 0.0.4 or in OpenMetrics 1.0 (with
// exemplars), whichever the scraper asks for.
//
//   orca::metrics::Registry registry;
//   auto& served = registry.counter_family("app_requests_total", "Requests served.", {"code"});
//   served.with({"200"}).inc();
//   auto depth = registry.callback("app_queue_depth", "Items queued.", MetricType::kGauge, {},
//                                  [&q](std::vector<Sample>& out) { out.push_back({{}, q.size()});
//                                  });
//   std::string text = registry.render(Format::kPrometheusText);
//
// Making metrics is get-or-make: asking again for a name with the same type, labels
// (and buckets) returns the same family, so that components sharing a registry (two
// HTTP servers, several nodes) add to the same series. Asking for a name with
// another type or other labels throws std::invalid_argument, as does a malformed
// name (Prometheus' [a-zA-Z_:][a-zA-Z0-9_:]*), a label name that is malformed, starts
// with "__" or is "le" of a histogram, or a counter name without the "_total" suffix.
//
// Callbacks give figures the program keeps anyway (a queue's depth, the runtime's
// counts, /proc) at scrape time, at no cost in between. Each callback belongs to a
// family (several callbacks may feed one, e.g. one per node); the Registration it
// returns removes it when destroyed, so a callback never runs after what it reads is
// gone. A callback runs on the scraping thread while the registry's lock is held: it
// must be quick, must not block, and must not call back into the registry.
// Figures that need a wait (a broker's queue counts) are fetched by a before-scrape
// hook (before_scrape), which a scrape awaits first (refresh()), and kept for the
// callback to read.
//
// Thread safety: every member from any thread, concurrently. The registry must
// outlive the families' users and every Registration.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/metrics/family.hpp"
#include "orca/runtime/task.hpp"

namespace orca::metrics {

// The two exposition formats.
enum class Format {
  kPrometheusText,  // text/plain; version=0.0.4 (no exemplars)
  kOpenMetrics,     // application/openmetrics-text; version=1.0.0 (exemplars)
};

// The format for a scraper's Accept header: OpenMetrics if it accepts
// application/openmetrics-text (with a non-zero q), else the Prometheus text format.
Format negotiate(std::string_view accept) noexcept;
// The Content-Type of a scrape in `format`.
std::string_view content_type(Format format) noexcept;

// One sample a callback reports: its label values (in the family's label order)
// and its value.
struct Sample {
  std::vector<std::string> labels;
  double value = 0;
};
using Collect = std::function<void(std::vector<Sample>&)>;

class Registry;

// Keeps a callback or a before-scrape hook registered; destroying (or reset()) it
// removes it. A callback's removal waits for a render that is running it to finish.
// A hook is copied by each refresh() before it runs (refresh awaits, and must not
// hold the lock meanwhile), so a refresh under way may still run it after its
// removal: a hook keeps what it uses alive itself (a shared_ptr in its capture).
class Registration {
 public:
  Registration() = default;
  Registration(Registration&& other) noexcept
      : registry_(std::exchange(other.registry_, nullptr)), id_(other.id_) {}
  Registration& operator=(Registration&& other) noexcept {
    if (this != &other) {
      reset();
      registry_ = std::exchange(other.registry_, nullptr);
      id_ = other.id_;
    }
    return *this;
  }
  ~Registration() { reset(); }
  void reset() noexcept;

 private:
  friend class Registry;
  Registration(Registry* registry, std::uint64_t id) : registry_(registry), id_(id) {}
  Registry* registry_ = nullptr;
  std::uint64_t id_ = 0;
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Counter& counter(std::string name, std::string help);
  Family<Counter>& counter_family(std::string name, std::string help,
                                  std::vector<std::string> labels, FamilyOptions options = {});
  Gauge& gauge(std::string name, std::string help);
  Family<Gauge>& gauge_family(std::string name, std::string help, std::vector<std::string> labels,
                              FamilyOptions options = {});
  Histogram& histogram(std::string name, std::string help, std::vector<double> bounds);
  Family<Histogram>& histogram_family(std::string name, std::string help,
                                      std::vector<std::string> labels, std::vector<double> bounds,
                                      FamilyOptions options = {});

  // A family whose samples `collect` reports at scrape time (a counter or a gauge).
  [[nodiscard]] Registration callback(std::string name, std::string help, MetricType type,
                                      std::vector<std::string> labels, Collect collect);
  // A hook awaited by refresh() before each scrape.
  [[nodiscard]] Registration before_scrape(std::function<Task<void>(Context)> hook);

  // Runs the before-scrape hooks, one after the other (a scrape calls it before
  // render()). A hook's exception is dropped: a scrape shows what it has.
  Task<void> refresh(Context ctx);
  // Every family, sorted by name, its series sorted by label values.
  std::string render(Format format) const;

 private:
  friend class Registration;
  struct Entry;
  Entry& entry(std::string&& name, std::string&& help, MetricType type,
               std::vector<std::string>&& labels, const std::vector<double>* bounds);
  void remove(std::uint64_t id) noexcept;

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>, std::less<>> entries_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, std::function<Task<void>(Context)>> hooks_;
};

}  // namespace orca::metrics
