// The families every orca process can report about itself, read at scrape time (no
// cost in between):
//  - process (the names Prometheus' client libraries use, from /proc/self):
//    process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
//    process_max_fds, process_cpu_seconds_total, process_start_time_seconds;
//  - runtime (from orca::stats()): orca_runtime_tasks{state} (alive, runnable,
//    parked), orca_runtime_workers, orca_runtime_steals_total, orca_runtime_timers,
//    orca_runtime_netpoll_waits (tasks parked on a socket), orca_runtime_blocking_threads.
//
//   orca::metrics::Registry registry;
//   auto standard = orca::metrics::register_standard_metrics(registry);  // keep it alive
//
// The runtime's figures are all zero when the scrape runs outside orca::run. On a
// system without /proc the process families are empty.
//
// Thread safety: as Registry's. The returned registrations must not outlive the
// registry.
#pragma once

#include <vector>

#include "orca/metrics/registry.hpp"

namespace orca::metrics {

[[nodiscard]] std::vector<Registration> register_process_metrics(Registry& registry);
[[nodiscard]] std::vector<Registration> register_runtime_metrics(Registry& registry);
// Both.
[[nodiscard]] std::vector<Registration> register_standard_metrics(Registry& registry);

}  // namespace orca::metrics
