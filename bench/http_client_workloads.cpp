// http_client_keepalive: orca's side of bench/peers/go's httpclient.go (Go's net/http
// client, default Transport). 50 tasks share one orca::http::Client (default
// options: keep-alive pool) and GET http://$ORCA_BENCH_HTTP_ADDR/ in a loop, each
// reading the whole "Hello, World!" body, against one server that bench/run starts
// for both (orca_http_hello). 1 s of warm-up (the pool fills), then requests are
// counted for 5 s: requests_per_sec. Any failed request fails the workload.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "bench_util.hpp"
#include "orca/net/http/client.hpp"
#include "orca/orca.hpp"

using namespace std::chrono_literals;

namespace orca::bench {

void http_client_keepalive() {
  constexpr int kCallers = 50;  // ../shared/peers/README.md's figure
  constexpr auto kWarmup = 1s;
  constexpr auto kMeasure = 5s;
  const char* addr = std::getenv("ORCA_BENCH_HTTP_ADDR");
  check(addr != nullptr && *addr != '\0',
        "http_client_keepalive needs ORCA_BENCH_HTTP_ADDR=host:port (bench/run starts the server)");
  std::string url("http://");
  url.append(addr).append("/");
  std::uint64_t counted = 0, failures = 0, dials = 0;
  double seconds = 0;
  orca::run([&]() -> Task<void> {
    http::Client client;
    std::atomic<bool> measuring{false};
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> ok{0};
    std::atomic<std::uint64_t> failed{0};
    WaitGroup callers;
    callers.add(kCallers);
    for (int i = 0; i < kCallers; ++i) {
      go([&]() -> Task<void> {
        while (!stop.load(std::memory_order_relaxed)) {
          Task<Result<http::Response>> call = client.get(background(), url);  // GCC PR 101367
          Result<http::Response> r = co_await std::move(call);
          if (!r || r->status != 200 || r->body != "Hello, World!") {
            failed.fetch_add(1, std::memory_order_relaxed);
          } else if (measuring.load(std::memory_order_relaxed)) {
            ok.fetch_add(1, std::memory_order_relaxed);
          }
        }
        callers.done();
      });
    }
    co_await sleep_for(kWarmup);
    measuring.store(true);
    const auto t0 = std::chrono::steady_clock::now();
    const std::uint64_t before = ok.load();
    co_await sleep_for(kMeasure);
    counted = ok.load() - before;
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stop.store(true);
    co_await callers.wait();
    failures = failed.load();
    dials = client.stats().dials;
  });
  check(failures == 0, "http_client_keepalive: %llu requests failed",
        static_cast<unsigned long long>(failures));
  std::fprintf(stderr, "http_client_keepalive: %llu connections opened\n",
               static_cast<unsigned long long>(dials));
  emit("http_client_keepalive", "requests_per_sec", static_cast<double>(counted) / seconds, "req/s",
       "higher");
}

}  // namespace orca::bench
