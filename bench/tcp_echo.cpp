// orca_tcp_echo: the tcp_echo workload's orca server and the load generator that
// bench/run points at every implementation's server (orca's and Go's), so both are
// measured by the same client.
//
//   orca_tcp_echo server [ADDRESS]     echo server, default 127.0.0.1:0; prints
//                                      "listening PORT"; runs until SIGTERM/SIGINT
//   orca_tcp_echo client ADDRESS [--conns N] [--seconds S] [--warmup S] [--size B]
//                        [--workers W] [--impl NAME]
//
// The client opens N connections (default 1,000), each a task doing round trips of
// B bytes (default 64: write, then read the echo back and compare), waits out the
// warm-up, and counts the round trips completed in the next S seconds. It prints
// one result line (../shared/peers/README.md) with impl = NAME: workload tcp_echo,
// metric round_trips_per_sec. The server mirrors the Go peer's (a task per
// connection, 4 KiB buffer, read then write back).
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "orca/net/tcp_listener.hpp"
#include "orca/net/tcp_stream.hpp"
#include "orca/orca.hpp"

namespace {

using orca::net::Address;
using orca::net::TcpListener;
using orca::net::TcpStream;

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "orca_tcp_echo: %s\nusage: orca_tcp_echo server [ADDRESS]\n"
               "       orca_tcp_echo client ADDRESS [--conns N] [--seconds S] [--warmup S] "
               "[--size B] [--workers W] [--impl NAME]\n",
               why);
  std::exit(2);
}

void raise_nofile() {
  // 1,000 connections (and more for other runs) exceed the usual soft limit of 1024;
  // Go raises its soft limit the same way at start-up.
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &lim);
  }
}

Address parse_or_die(const std::string& text) {
  auto a = Address::parse(text);
  if (!a) usage(("bad address: " + text).c_str());
  return *a;
}

// ---------------------------------------------------------------- server

// Read what is there, write it back; the connection's task ends with it. No
// context: the Go peer's connections watch none either, and tasks still running at
// exit are torn down by run().
orca::Task<void> serve_echo(TcpStream conn) {
  std::vector<std::byte> buf(4096);
  for (;;) {
    orca::Result<std::size_t> n = co_await conn.read(orca::background(), buf);
    if (!n || *n == 0) co_return;
    const orca::Result<void> w =
        co_await conn.write_all(orca::background(), std::span(buf.data(), *n));
    if (!w) co_return;
  }
}

int server(const std::string& text) {
  const Address addr = parse_or_die(text);
  return orca::run([addr]() -> orca::Task<int> {
    auto listener = TcpListener::listen(addr);
    if (!listener) {
      std::fprintf(stderr, "orca_tcp_echo: listen %s: %s\n", addr.to_string().c_str(),
                   listener.error().message().c_str());
      co_return 1;
    }
    std::printf("listening %u\n", static_cast<unsigned>(listener->local_address().port()));
    std::fflush(stdout);
    auto [stop, unregister] = orca::signal_context(orca::background(), {SIGINT, SIGTERM});
    for (;;) {
      orca::Result<TcpStream> conn = co_await listener->accept(stop);
      if (!conn) {
        if (stop.is_done()) break;
        // EMFILE and the like: back off a little, as Go's http.Server does.
        std::fprintf(stderr, "orca_tcp_echo: accept: %s\n", conn.error().message().c_str());
        co_await orca::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      orca::go([c = std::move(*conn)]() mutable { return serve_echo(std::move(c)); });
    }
    unregister();
    co_return 0;
  });
}

// ---------------------------------------------------------------- client

struct alignas(64) Counter {  // one cache line per connection: no false sharing
  std::atomic<std::uint64_t> round_trips{0};
};

struct ClientOptions {
  Address addr;
  int conns = 1000;
  double seconds = 5;
  double warmup = 1;
  std::size_t size = 64;
  unsigned workers = 0;
  std::string impl = "orca";
};

int client(const ClientOptions& o) {
  orca::RunOptions run_options;
  run_options.workers = o.workers;
  return orca::run(
      [&o]() -> orca::Task<int> {
        std::vector<Counter> counters(static_cast<std::size_t>(o.conns));
        std::atomic<bool> stop{false};
        std::atomic<int> failures{0};
        orca::WaitGroup connected;
        orca::WaitGroup finished;
        connected.add(o.conns);
        finished.add(o.conns);
        auto [start_ctx, start] = orca::with_cancel(orca::background());
        // Connect in waves that fit the listen backlog: an overflowing backlog
        // drops SYNs, which the kernel retries only after a second.
        orca::Semaphore connecting(256);
        for (int i = 0; i < o.conns; ++i) {
          orca::go([&, i, start_ctx = start_ctx]() -> orca::Task<void> {
            const orca::Result<void> permit = co_await connecting.acquire(orca::background());
            (void)permit;
            orca::Result<TcpStream> conn = co_await TcpStream::connect(orca::background(), o.addr);
            connecting.release();
            connected.done();
            if (!conn) {
              if (failures.fetch_add(1) == 0)
                std::fprintf(stderr, "orca_tcp_echo: connect: %s\n",
                             conn.error().message().c_str());
              finished.done();
              co_return;
            }
            co_await start_ctx.done();
            std::vector<std::byte> out(o.size);
            for (std::size_t k = 0; k < out.size(); ++k)
              out[k] = static_cast<std::byte>(i * 31 + static_cast<int>(k));
            std::vector<std::byte> in(o.size);
            std::atomic<std::uint64_t>& count = counters[static_cast<std::size_t>(i)].round_trips;
            while (!stop.load(std::memory_order_relaxed)) {
              orca::Result<void> r = co_await conn->write_all(orca::background(), out);
              if (r) r = co_await conn->read_exact(orca::background(), in);
              if (!r || in != out) {
                if (failures.fetch_add(1) == 0)
                  std::fprintf(stderr, "orca_tcp_echo: round trip: %s\n",
                               r ? "echo differs" : r.error().message().c_str());
                break;
              }
              // Relaxed: a statistic read once at each end of the window.
              count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            }
            finished.done();
          });
        }
        co_await connected.wait();
        if (failures.load() != 0) {
          stop.store(true);
          start();
          co_await finished.wait();
          co_return 1;
        }
        start();
        auto sum = [&] {
          std::uint64_t total = 0;
          for (const Counter& c : counters)
            total += c.round_trips.load(std::memory_order_relaxed);
          return total;
        };
        using Seconds = std::chrono::duration<double>;
        co_await orca::sleep_for(Seconds(o.warmup));
        const auto t0 = std::chrono::steady_clock::now();
        const std::uint64_t n0 = sum();
        co_await orca::sleep_for(Seconds(o.seconds));
        const std::uint64_t n1 = sum();
        const double elapsed = Seconds(std::chrono::steady_clock::now() - t0).count();
        stop.store(true, std::memory_order_relaxed);
        co_await finished.wait();
        if (failures.load() != 0) co_return 1;
        std::printf(
            "{\"workload\": \"tcp_echo\", \"impl\": \"%s\", \"metric\": \"round_trips_per_sec\", "
            "\"value\": %.6g, \"unit\": \"1/s\", \"better\": \"higher\", \"conns\": %d, "
            "\"size\": %zu}\n",
            o.impl.c_str(), static_cast<double>(n1 - n0) / elapsed, o.conns, o.size);
        std::fflush(stdout);
        co_return 0;
      },
      run_options);
}

}  // namespace

int main(int argc, char** argv) {
  raise_nofile();
  if (argc < 2) usage("no mode");
  const std::string mode = argv[1];
  if (mode == "server") {
    if (argc > 3) usage("too many arguments");
    return server(argc == 3 ? argv[2] : "127.0.0.1:0");
  }
  if (mode != "client") usage("unknown mode");
  if (argc < 3) usage("client needs the server's ADDRESS");
  ClientOptions o;
  o.addr = parse_or_die(argv[2]);
  for (int i = 3; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + flag).c_str());
    const char* v = argv[i + 1];
    char* end = nullptr;
    if (flag == "--impl") {
      o.impl = v;
      continue;
    }
    const double x = std::strtod(v, &end);
    if (end == v || *end != '\0' || x < 0) usage(("bad value for " + flag).c_str());
    if (flag == "--conns") {
      o.conns = static_cast<int>(x);
    } else if (flag == "--seconds") {
      o.seconds = x;
    } else if (flag == "--warmup") {
      o.warmup = x;
    } else if (flag == "--size") {
      o.size = static_cast<std::size_t>(x);
    } else if (flag == "--workers") {
      o.workers = static_cast<unsigned>(x);
    } else {
      usage(("unknown flag " + flag).c_str());
    }
  }
  if (o.conns < 1 || o.size < 1 || o.seconds <= 0) usage("conns, size and seconds must be > 0");
  return client(o);
}
