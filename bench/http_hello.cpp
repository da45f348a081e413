// orca_http_hello: orca's side of the http_hello workload: an HTTP/1.1 server
// answering every GET / with "Hello, World!" (13 bytes, text/plain), as the Go
// peer's net/http server does. bench/run starts it and loads it with wrk.
//
//   orca_http_hello [ADDRESS]   default 127.0.0.1:0; prints "listening PORT" on stdout
//
// Serves until SIGTERM or SIGINT, then shuts down gracefully (1 s grace).
#include <sys/resource.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "orca/net/http/metrics.hpp"
#include "orca/net/http/server.hpp"
#include "orca/orca.hpp"

int main(int argc, char** argv) {
  // 10,000 connections need more descriptors than the usual soft limit of 1024
  // (Go raises its soft limit the same way at start-up).
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &lim);
  }
  const std::string text = argc > 1 ? argv[1] : "127.0.0.1:0";
  return orca::run([text]() -> orca::Task<int> {
    auto address = orca::net::Address::parse(text);
    if (!address) {
      std::fprintf(stderr, "orca_http_hello: bad address %s\n", text.c_str());
      co_return 2;
    }
    orca::http::Router router;
    router.get("/", [](orca::Context, orca::http::Request) -> orca::Task<orca::http::Response> {
      co_return orca::http::Response::text(200, "Hello, World!");
    });
    // ORCA_BENCH_METRICS=1: the server's families and GET /metrics, as `orca serve`
    // has them, to measure what metrics cost; unset, none.
    const char* metrics_on = std::getenv("ORCA_BENCH_METRICS");
    orca::metrics::Registry registry;
    orca::http::ServerOptions options;
    if (metrics_on != nullptr && *metrics_on == '1') {
      orca::http::add_metrics_route(router, registry);
      options.metrics = &registry;
    }
    orca::http::Server server(std::move(router), options);
    auto started = server.start(*address);
    if (!started) {
      std::fprintf(stderr, "orca_http_hello: %s\n", started.error().message().c_str());
      co_return 1;
    }
    std::printf("listening %u\n", static_cast<unsigned>(server.local_address().port()));
    std::fflush(stdout);
    auto [stop, unregister] = orca::signal_context(orca::background(), {SIGINT, SIGTERM});
    (void)co_await stop.done();
    unregister();
    auto [grace, cancel] = orca::with_timeout(orca::background(), std::chrono::seconds(1));
    (void)co_await server.shutdown(grace);
    cancel();
    co_return 0;
  });
}
