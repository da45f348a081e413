// Many connections at once: concurrent echo clients on a multi-worker runtime
// (every byte checked), and 10,000 simultaneous loopback connections (no limit but
// the process's descriptor rlimit).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "net_test_support.hpp"

namespace {

using orca::net::Address;
using orca::net::TcpListener;
using orca::net::TcpStream;
using orca_net_test::describe;
using orca_net_test::run_on;

// Bytes of message `m` of client `c`: a pattern no other client or message shares,
// so a byte delivered to the wrong connection or out of order is caught.
std::vector<std::byte> message(int c, int m, std::size_t size) {
  std::vector<std::byte> out(size);
  std::uint32_t x = static_cast<std::uint32_t>(c) * 2654435761u + static_cast<std::uint32_t>(m);
  for (auto& b : out) {
    x = x * 1103515245u + 12345u;
    b = static_cast<std::byte>(x >> 24);
  }
  return out;
}

// Connects, then for each message: write it, read the echo, compare.
orca::Task<bool> echo_client(Address addr, int client, int messages) {
  auto conn = co_await TcpStream::connect(orca::background(), addr);
  EXPECT_TRUE(conn) << "client " << client << " connect: " << describe(conn.error());
  if (!conn) co_return false;
  bool ok = true;
  for (int m = 0; m < messages && ok; ++m) {
    // Sizes from 1 byte to ~16 KiB: small ones exercise the fast path, large ones
    // fill the socket buffers and park.
    const std::size_t size = 1 + static_cast<std::size_t>((client * 7919 + m * 104729) % 16000);
    const std::vector<std::byte> out = message(client, m, size);
    const orca::Result<void> w = co_await conn->write_all(orca::background(), out);
    std::vector<std::byte> in(size);
    const orca::Result<void> r = co_await conn->read_exact(orca::background(), in);
    ok = w && r && in == out;
    EXPECT_TRUE(ok) << "client " << client << " message " << m << ": write " << describe(w.error())
                    << ", read " << describe(r.error())
                    << (in == out ? "" : ", echoed bytes differ");
  }
  co_return ok;
}

constexpr int kClients = 100;
constexpr int kConns = 10'000;
constexpr int kMessages = 10;

TEST(TcpStress, ManyConcurrentClientsEveryByteEchoed) {
  run_on(4, []() -> orca::Task<void> {
    auto l = TcpListener::listen(Address::loopback_v4(0));
    EXPECT_TRUE(l);
    if (!l) co_return;
    auto [ctx, stop] = orca::with_cancel(orca::background());
    auto server =
        orca::spawn([ctx = ctx, lp = &*l] { return orca_net_test::echo_server(ctx, lp); });
    const Address addr = l->local_address();
    std::vector<orca::JoinHandle<bool>> clients;
    for (int c = 0; c < kClients; ++c)
      clients.push_back(orca::spawn([addr, c] { return echo_client(addr, c, kMessages); }));
    int good = 0;
    for (auto& h : clients) {
      const bool ok = co_await std::move(h);
      good += ok ? 1 : 0;
    }
    EXPECT_EQ(good, kClients) << "clients that saw every byte echoed";
    stop();
    co_await std::move(server);
  });
}

// Raises the soft descriptor limit to the hard one; returns the limit reached.
rlim_t raise_nofile() {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  getrlimit(RLIMIT_NOFILE, &lim);
  return lim.rlim_cur;
}

// The client side of the 10,000-connection test, in a forked child so that each
// process needs one descriptor per connection (the hard limit here may be 20,000,
// too few for both ends in one process). After fork() in a process that has had
// threads, the child may only make async-signal-safe calls: plain syscalls into a
// static array, no allocation. Exit status: 0, or the step that failed.
int connection_fds[kConns];

[[noreturn]] void hold_and_echo_connections(const Address& addr) {
  // 1. Open every connection and keep it open.
  for (int i = 0; i < kConns; ++i) {
    const int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, addr.native(), addr.native_size()) != 0) _exit(10);
    connection_fds[i] = fd;
  }
  // 2. With all of them open, send one distinct 64-byte message on each...
  unsigned char out[64];
  unsigned char in[64];
  auto fill = [&](int i) {
    std::uint32_t x = static_cast<std::uint32_t>(i) * 2654435761u + 1;
    for (auto& b : out) {
      x = x * 1103515245u + 12345u;
      b = static_cast<unsigned char>(x >> 24);
    }
  };
  for (int i = 0; i < kConns; ++i) {
    fill(i);
    if (::write(connection_fds[i], out, sizeof out) != static_cast<ssize_t>(sizeof out)) _exit(11);
  }
  // 3. ...and check every echo.
  for (int i = 0; i < kConns; ++i) {
    fill(i);
    std::size_t got = 0;
    while (got < sizeof in) {
      const ssize_t n = ::read(connection_fds[i], in + got, sizeof in - got);
      if (n <= 0) _exit(12);
      got += static_cast<std::size_t>(n);
    }
    for (std::size_t k = 0; k < sizeof in; ++k)
      if (in[k] != out[k]) _exit(13);
  }
  for (int i = 0; i < kConns; ++i)
    ::close(connection_fds[i]);
  _exit(0);
}

TEST(TcpStress, TenThousandConcurrentConnectionsAllEcho) {
  constexpr rlim_t kNeed = kConns + 256;  // per process, plus the runtime's own
  const rlim_t got = raise_nofile();
  if (got != RLIM_INFINITY && got < kNeed)
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit is " << got << ", below the " << kNeed
                 << " descriptors this test needs per process";
  auto l = TcpListener::listen(Address::loopback_v4(0), 4096);
  ASSERT_TRUE(l) << describe(l.error());
  const Address addr = l->local_address();
  const pid_t child = fork();
  ASSERT_GE(child, 0) << "fork: " << std::strerror(errno);
  if (child == 0) hold_and_echo_connections(addr);

  int open_now = 0;
  int most_open = 0;
  int status = -1;
  run_on(2, [&]() -> orca::Task<void> {
    // The child's exit (or a 60 s hang guard) ends the accept loop.
    auto [ctx, stop] = orca::with_timeout(orca::background(), std::chrono::seconds(60));
    auto reaper = orca::spawn([&, stop = stop]() -> orca::Task<void> {
      status = co_await orca::blocking([child] {
        int st = 0;
        return ::waitpid(child, &st, 0) == child ? st : -1;
      });
      stop();
    });
    orca::WaitGroup connections;
    orca::Mutex mu;  // open_now and most_open: echo tasks run on both workers
    for (int accepted = 0; accepted < kConns; ++accepted) {
      orca::Result<TcpStream> conn = co_await l->accept(ctx);
      EXPECT_TRUE(conn) << "accept " << accepted << ": " << describe(conn.error());
      if (!conn) break;
      connections.add(1);
      {
        auto guard = co_await mu.lock(orca::background());
        most_open = std::max(most_open, ++open_now);
      }
      orca::go([&, c = std::move(*conn)]() mutable -> orca::Task<void> {
        co_await orca_net_test::echo_connection(orca::background(), std::move(c));
        {
          auto guard = co_await mu.lock(orca::background());
          --open_now;
        }
        connections.done();
      });
    }
    co_await connections.wait();  // every echo task saw its client's EOF
    co_await std::move(reaper);
  });
  ASSERT_TRUE(WIFEXITED(status)) << "child status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "client step failed (10 connect, 11 write, 12 read, "
                                       "13 wrong echo)";
  EXPECT_EQ(most_open, kConns) << "connections open at once on the server side";
}

}  // namespace
