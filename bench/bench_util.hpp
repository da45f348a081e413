// Helpers shared by orca_bench workloads: result lines, checks, memory readings.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace orca::bench {

// One result line in the shape of ../shared/peers/README.md, for implementation `impl`
// (orca, or a peer that is orca in another configuration: adaptive_limit's "fixed").
inline void emit_as(const char* impl, const char* workload, const char* metric, double value,
                    const char* unit, const char* better) {
  std::printf(
      "{\"workload\": \"%s\", \"impl\": \"%s\", \"metric\": \"%s\", \"value\": %.6g, "
      "\"unit\": \"%s\", \"better\": \"%s\"}\n",
      workload, impl, metric, value, unit, better);
  std::fflush(stdout);
}

// The impl name emit() writes: "orca", or the name of the configuration orca_bench
// was started in (`--impl metrics_on`).
inline const char*& emitted_impl() {
  static const char* impl = "orca";
  return impl;
}

inline void emit(const char* workload, const char* metric, double value, const char* unit,
                 const char* better) {
  emit_as(emitted_impl(), workload, metric, value, unit, better);
}

template <class... Args>
void check(bool ok, const char* format, Args... args) {
  if (ok) return;
  std::fprintf(stderr, "check failed: ");
  if constexpr (sizeof...(Args) == 0) {
    std::fputs(format, stderr);
  } else {
    std::fprintf(stderr, format, args...);
  }
  std::fprintf(stderr, "\n");
  std::exit(1);
}

// A field of /proc/self/status in bytes (VmRSS, VmHWM).
long proc_status_bytes(const char* field);

inline double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace orca::bench
