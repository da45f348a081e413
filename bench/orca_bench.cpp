// orca_bench: orca's side of the workloads in ../shared/peers/README.md.
//
//   orca_bench WORKLOAD   run one workload, print its result lines (JSON, one per line)
//   orca_bench --list     the workloads it knows
//
//   orca_bench --impl fixed adaptive_limit
//                         adaptive_limit's peer: the same driver under a fixed limit
//   orca_bench --impl metrics_on jobs_embedded
//                         jobs_embedded with the center and node reporting into a
//                         metrics registry (ORCA_BENCH_METRICS=1), as `orca serve`
//                         does; its result lines carry impl "metrics_on"
//
// (`orca_bench --jobs-redis-worker MODE CONCURRENCY` is the jobs_redis_* workloads'
// worker process, started by them; see jobs_redis_workloads.cpp.)
//
// Each workload checks its own results and exits 1 with a message if a check fails.
// Figures follow the Go peer's method (first, cold round in a fresh process) so
// that the runner can pair them.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>

#include "bench_util.hpp"

namespace orca::bench {

void spawn_join(std::size_t n, const char* workload);
void park_cancel(std::size_t n, const char* workload);
void tree_cancel();
void ctx_ops();
void pingpong(const char* workload);
void chan_throughput(int producers, int consumers, const char* workload);
void select2_ready();
void select2_default();
void worker_pool();
void rwmutex_read();
void timer_reset();
void timeout_storm(std::size_t n);
void fanout_first_error();
void jobs_embedded();
void jobs_redis_enqueue();
void jobs_redis_process(int workers, const char* workload);
void jobs_redis_latency();
void jobs_redis_recovery();
int jobs_redis_worker(const std::string& mode, int concurrency);
void limiter_redis();
void queue_rate_limit();
void redis_lock();
void limiter_local(int threads, const char* workload);
void breaker_overhead(int threads, const char* workload);
void http_client_keepalive();
void adaptive_limit(bool fixed);

namespace {

const std::map<std::string, std::function<void()>>& workloads() {
  static const std::map<std::string, std::function<void()>> table = {
      {"spawn_join_100k", [] { spawn_join(100'000, "spawn_join_100k"); }},
      {"spawn_join_1m", [] { spawn_join(1'000'000, "spawn_join_1m"); }},
      {"park_cancel_100k", [] { park_cancel(100'000, "park_cancel_100k"); }},
      {"park_cancel_1m", [] { park_cancel(1'000'000, "park_cancel_1m"); }},
      {"tree_cancel", [] { tree_cancel(); }},
      {"ctx_ops", [] { ctx_ops(); }},
      {"pingpong_p1", [] { pingpong("pingpong_p1"); }},
      {"pingpong_p2", [] { pingpong("pingpong_p2"); }},
      {"chan_throughput_1p1c", [] { chan_throughput(1, 1, "chan_throughput_1p1c"); }},
      {"chan_throughput_4p4c", [] { chan_throughput(4, 4, "chan_throughput_4p4c"); }},
      {"select2_ready", [] { select2_ready(); }},
      {"select2_default", [] { select2_default(); }},
      {"worker_pool", [] { worker_pool(); }},
      {"rwmutex_read", [] { rwmutex_read(); }},
      {"timer_reset", [] { timer_reset(); }},
      {"timeout_storm_100k", [] { timeout_storm(100'000); }},
      {"fanout_first_error", [] { fanout_first_error(); }},
      {"jobs_embedded", [] { jobs_embedded(); }},
      {"jobs_redis_enqueue", [] { jobs_redis_enqueue(); }},
      {"jobs_redis_process", [] { jobs_redis_process(1, "jobs_redis_process"); }},
      {"jobs_redis_process_2w", [] { jobs_redis_process(2, "jobs_redis_process_2w"); }},
      {"jobs_redis_latency", [] { jobs_redis_latency(); }},
      {"jobs_redis_recovery", [] { jobs_redis_recovery(); }},
      // Also on the redis-server of REDIS_PORT, which they FLUSHALL.
      {"limiter_redis", [] { limiter_redis(); }},
      {"queue_rate_limit", [] { queue_rate_limit(); }},
      {"redis_lock", [] { redis_lock(); }},
      {"limiter_local_t1", [] { limiter_local(1, "limiter_local_t1"); }},
      {"limiter_local_t2", [] { limiter_local(2, "limiter_local_t2"); }},
      {"breaker_overhead_t1", [] { breaker_overhead(1, "breaker_overhead_t1"); }},
      {"breaker_overhead_t2", [] { breaker_overhead(2, "breaker_overhead_t2"); }},
      {"adaptive_limit", [] { adaptive_limit(false); }},
      // Needs ORCA_BENCH_HTTP_ADDR: bench/run starts the server (orca_http_hello).
      {"http_client_keepalive", [] { http_client_keepalive(); }},
  };
  return table;
}

}  // namespace
}  // namespace orca::bench

int main(int argc, char** argv) {
  using orca::bench::workloads;
  if (argc == 4 && std::strcmp(argv[1], "--jobs-redis-worker") == 0)
    return orca::bench::jobs_redis_worker(argv[2], std::atoi(argv[3]));
  if (argc == 4 && std::strcmp(argv[1], "--impl") == 0 && std::strcmp(argv[2], "fixed") == 0 &&
      std::strcmp(argv[3], "adaptive_limit") == 0) {
    orca::bench::adaptive_limit(true);
    return 0;
  }
  if (argc == 4 && std::strcmp(argv[1], "--impl") == 0 && std::strcmp(argv[2], "metrics_on") == 0 &&
      std::strcmp(argv[3], "jobs_embedded") == 0) {
    setenv("ORCA_BENCH_METRICS", "1", 1);
    orca::bench::emitted_impl() = "metrics_on";
    orca::bench::jobs_embedded();
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "--list") == 0) {
    for (const auto& [name, fn] : workloads())
      std::printf("%s\n", name.c_str());
    return 0;
  }
  if (argc != 2 || workloads().count(argv[1]) == 0) {
    std::fprintf(stderr,
                 "usage: orca_bench WORKLOAD | --impl fixed adaptive_limit |"
                 " --impl metrics_on jobs_embedded | --list\n");
    return 2;
  }
  workloads().at(argv[1])();
  return 0;
}
