// The HTTP server's families (net/http/metrics.hpp), looked up once per server. A
// request's two series (by method, route and status) are found in a small cache of
// the combinations seen, keyed by the route pattern's address (patterns live in the
// router as long as the server) and checked against its text, so the per-request
// cost is one probe, a counter add and a histogram observation on the calling
// thread's shard; the families' label look-ups run once per combination.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "orca/metrics/registry.hpp"
#include "orca/net/http/response.hpp"
#include "orca/runtime/clock.hpp"

namespace orca::http::detail {

class ServerMetrics {
 public:
  explicit ServerMetrics(metrics::Registry& registry);
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  void connection_opened() noexcept { connections_.inc(); }
  void connection_closed() noexcept { connections_.dec(); }
  // The method as a bounded label: RFC 9110's methods and PATCH, else "OTHER". The
  // view is of a constant.
  static std::string_view method_label(std::string_view method) noexcept;
  // One answered request, `method` from method_label(); `trace_id` (32 hex digits, or
  // empty) becomes the latency bucket's exemplar.
  void request(std::string_view method, const Response& response, Clock::duration took,
               std::string_view trace_id = {});

 private:
  // One (method, route, status) and its two series.
  struct Resolved {
    std::string_view method;  // a constant of method_label()
    const char* route_data;   // the pattern's address, the cache's key
    std::string route;        // its text, checked on a hit
    int status;
    metrics::Counter* requests;
    metrics::Histogram* duration;
  };
  static constexpr std::size_t kCacheSlots = 64;
  // Combinations kept (far more than routes x methods x statuses in practice); past
  // it, requests take the families' look-ups each time.
  static constexpr std::size_t kMaxResolved = 512;

  const Resolved* find(std::string_view method, std::string_view route, int status);

  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& durations_;
  metrics::Gauge& connections_;
  std::array<std::atomic<const Resolved*>, kCacheSlots> cache_{};
  std::mutex resolved_mu_;
  std::vector<std::unique_ptr<Resolved>> resolved_;  // owns every entry ever cached
};

}  // namespace orca::http::detail
