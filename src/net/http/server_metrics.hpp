// The HTTP server's families (net/http/metrics.hpp), looked up once per server; the
// per-request cost is two label lookups without a lock, a counter add and a
// histogram observation on the calling thread's shard.
#pragma once

#include <string_view>

#include "orca/metrics/registry.hpp"
#include "orca/net/http/response.hpp"
#include "orca/runtime/clock.hpp"

namespace orca::http::detail {

class ServerMetrics {
 public:
  explicit ServerMetrics(metrics::Registry& registry);

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
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& durations_;
  metrics::Gauge& connections_;
};

}  // namespace orca::http::detail
