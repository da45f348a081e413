// TcpStream and TcpListener over loopback: echo, EOF, shutdown, errors, and what
// cancelling or closing does to a parked operation (and to the socket after it).
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <csignal>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using orca::net::Address;
using orca::net::TcpListener;
using orca::net::TcpStream;
using orca_net_test::bytes_of;
using orca_net_test::describe;
using orca_net_test::run_on;
using orca_net_test::string_of;

std::error_code sys(int e) {
  return {e, std::system_category()};
}

// Connects to `addr`, sends `messages` one by one and checks each comes back.
orca::Task<void> echo_round_trips(Address addr) {
  auto conn = co_await TcpStream::connect(orca::background(), addr);
  EXPECT_TRUE(conn) << "connect: " << describe(conn.error());
  if (!conn) co_return;
  EXPECT_EQ(conn->peer_address(), addr);
  const std::vector<std::string> messages = {"hello", "orca", std::string(10000, 'x'), "bye"};
  for (const std::string& msg : messages) {
    const orca::Result<void> w = co_await conn->write_all(orca::background(), bytes_of(msg));
    EXPECT_TRUE(w) << describe(w.error());
    std::vector<std::byte> back(msg.size());
    const orca::Result<void> r = co_await conn->read_exact(orca::background(), back);
    EXPECT_TRUE(r) << describe(r.error());
    EXPECT_EQ(string_of(back), msg);
  }
  EXPECT_TRUE(conn->shutdown_write());
  std::array<std::byte, 16> rest;
  orca::Result<std::size_t> eof = co_await conn->read(orca::background(), rest);
  EXPECT_TRUE(eof && *eof == 0) << "read after shutdown_write: got "
                                << (eof ? std::to_string(*eof) + " bytes" : describe(eof.error()))
                                << ", want EOF (0)";
}

void echo_test(Address bind) {
  run_on(2, [bind]() -> orca::Task<void> {
    auto listener = TcpListener::listen(bind);
    EXPECT_TRUE(listener) << "listen: " << describe(listener.error());
    if (!listener) co_return;
    const Address addr = listener->local_address();
    EXPECT_NE(addr.port(), 0);
    auto [ctx, stop] = orca::with_cancel(orca::background());
    auto server =
        orca::spawn([ctx = ctx, l = &*listener] { return orca_net_test::echo_server(ctx, l); });
    auto client = orca::spawn([addr] { return echo_round_trips(addr); });
    co_await std::move(client);
    stop();
    co_await std::move(server);
  });
}

TEST(Tcp, EchoOverIpv4Loopback) {
  echo_test(Address::loopback_v4(0));
}

TEST(Tcp, EchoOverIpv6Loopback) {
  // Skip only if the machine has no IPv6 loopback at all.
  const int probe = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (probe < 0) GTEST_SKIP() << "no IPv6 sockets on this machine";
  const Address v6 = Address::loopback_v6(0);
  const int rc = ::bind(probe, v6.native(), v6.native_size());
  ::close(probe);
  if (rc != 0) GTEST_SKIP() << "no ::1 on this machine";
  echo_test(v6);
}

// Waits until at least `n` tasks are parked (e.g. a spawned reader is in its
// wait), so a test cancels a parked operation rather than one not yet started.
orca::Task<void> until_parked(std::int64_t n) {
  while (orca::stats().parked_tasks < n)
    co_await orca::sleep_for(1ms);
}

// A listener plus one accepted and one connected stream, for the tests below.
struct Pair {
  TcpListener listener;
  TcpStream server;
  TcpStream client;
};

orca::Task<Pair> make_pair() {
  Pair p;
  auto l = TcpListener::listen(Address::loopback_v4(0));
  EXPECT_TRUE(l) << describe(l.error());
  if (!l) co_return p;
  p.listener = std::move(*l);
  auto c = co_await TcpStream::connect(orca::background(), p.listener.local_address());
  EXPECT_TRUE(c) << describe(c.error());
  auto s = co_await p.listener.accept(orca::background());
  EXPECT_TRUE(s) << describe(s.error());
  if (c) p.client = std::move(*c);
  if (s) p.server = std::move(*s);
  co_return p;
}

TEST(Tcp, ReadExactFillsTheBufferThenReadSeesEof) {
  run_on(1, []() -> orca::Task<void> {
    Pair p = co_await make_pair();
    {
      const orca::Result<void> ok =
          co_await p.server.write_all(orca::background(), bytes_of("0123456789"));
      EXPECT_TRUE(ok) << describe(ok.error());
    }
    p.server.close();
    std::array<std::byte, 10> buf;
    const orca::Result<void> r = co_await p.client.read_exact(orca::background(), buf);
    EXPECT_TRUE(r) << describe(r.error());
    EXPECT_EQ(string_of(buf), "0123456789");
    orca::Result<std::size_t> eof = co_await p.client.read(orca::background(), buf);
    EXPECT_TRUE(eof && *eof == 0) << "got " << (eof ? std::to_string(*eof) : describe(eof.error()))
                                  << ", want EOF";
  });
}

TEST(Tcp, ReadExactReportsUnexpectedEofWhenThePeerClosesEarly) {
  run_on(1, []() -> orca::Task<void> {
    Pair p = co_await make_pair();
    {
      const orca::Result<void> ok =
          co_await p.server.write_all(orca::background(), bytes_of("12345"));
      EXPECT_TRUE(ok) << describe(ok.error());
    }
    EXPECT_TRUE(p.server.shutdown_write());
    std::array<std::byte, 10> buf;
    const orca::Result<void> r = co_await p.client.read_exact(orca::background(), buf);
    EXPECT_EQ(r.error(), make_error_code(orca::net::errc::unexpected_eof))
        << "got " << describe(r.error());
  });
}

TEST(Tcp, ShutdownWriteSendsEofAndTheOtherDirectionKeepsWorking) {
  run_on(2, []() -> orca::Task<void> {
    Pair p = co_await make_pair();
    {
      const orca::Result<void> ok =
          co_await p.client.write_all(orca::background(), bytes_of("request"));
      EXPECT_TRUE(ok) << describe(ok.error());
    }
    EXPECT_TRUE(p.client.shutdown_write());
    // The server reads to EOF, then answers on the still-open direction.
    std::string got;
    std::array<std::byte, 64> buf;
    for (;;) {
      auto n = co_await p.server.read(orca::background(), buf);
      EXPECT_TRUE(n) << describe(n.error());
      if (!n || *n == 0) break;
      got += string_of(std::span(buf.data(), *n));
    }
    EXPECT_EQ(got, "request");
    {
      const orca::Result<void> ok =
          co_await p.server.write_all(orca::background(), bytes_of("response"));
      EXPECT_TRUE(ok) << describe(ok.error());
    }
    std::array<std::byte, 8> reply;
    const orca::Result<void> r = co_await p.client.read_exact(orca::background(), reply);
    EXPECT_TRUE(r) << describe(r.error());
    EXPECT_EQ(string_of(reply), "response");
  });
}

TEST(Tcp, EmptyReadReturnsZeroAtOnce) {
  run_on(1, []() -> orca::Task<void> {
    Pair p = co_await make_pair();
    orca::Result<std::size_t> n = co_await p.client.read(orca::background(), {});
    EXPECT_TRUE(n && *n == 0);
  });
}

TEST(Tcp, ConnectToAClosedPortIsRefused) {
  run_on(1, []() -> orca::Task<void> {
    Address addr;
    {
      auto l = TcpListener::listen(Address::loopback_v4(0));
      EXPECT_TRUE(l);
      if (!l) co_return;
      addr = l->local_address();
    }  // closed: nobody listens on the port now
    auto c = co_await TcpStream::connect(orca::background(), addr);
    EXPECT_FALSE(c);
    if (!c) {
      EXPECT_EQ(c.error(), sys(ECONNREFUSED)) << "got " << describe(c.error());
    }
  });
}

TEST(Tcp, ListenOnAPortInUseFails) {
  auto a = TcpListener::listen(Address::loopback_v4(0));
  ASSERT_TRUE(a);
  auto b = TcpListener::listen(a->local_address());
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), sys(EADDRINUSE)) << "got " << describe(b.error());
  EXPECT_EQ(TcpListener::listen(Address::loopback_v4(0), 0).error(),
            std::make_error_code(std::errc::invalid_argument));
}

TEST(Tcp, CancelledReadReturnsCanceledAndTheStreamStaysUsable) {
  run_on(2, []() -> orca::Task<void> {
    Pair p = co_await make_pair();
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    TcpStream* client = &p.client;
    auto reader = orca::spawn([ctx = ctx, client]() -> orca::Task<orca::Result<std::size_t>> {
      std::array<std::byte, 16> buf;
      co_return co_await client->read(ctx, buf);
    });
    co_await until_parked(1);
    cancel();
    orca::Result<std::size_t> r = co_await std::move(reader);
    EXPECT_EQ(r.error(), make_error_code(orca::errc::canceled)) << "got " << describe(r.error());
    // Nothing was consumed: data sent now is read in full.
    {
      const orca::Result<void> ok =
          co_await p.server.write_all(orca::background(), bytes_of("after"));
      EXPECT_TRUE(ok) << describe(ok.error());
    }
    std::array<std::byte, 5> buf;
    const orca::Result<void> again = co_await p.client.read_exact(orca::background(), buf);
    EXPECT_TRUE(again) << describe(again.error());
    EXPECT_EQ(string_of(buf), "after");
  });
}

TEST(Tcp, ReadPastItsDeadlineReturnsDeadlineExceeded) {
  run_on(1, []() -> orca::Task<void> {
    Pair p = co_await make_pair();
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 20ms);
    std::array<std::byte, 16> buf;
    orca::Result<std::size_t> r = co_await p.client.read(ctx, buf);
    EXPECT_EQ(r.error(), make_error_code(orca::errc::deadline_exceeded))
        << "got " << describe(r.error());
    cancel();
    EXPECT_TRUE(p.client.is_open());
  });
}

TEST(Tcp, CancelledAcceptReturnsCanceledAndTheListenerStaysUsable) {
  run_on(2, []() -> orca::Task<void> {
    auto l = TcpListener::listen(Address::loopback_v4(0));
    EXPECT_TRUE(l);
    if (!l) co_return;
    TcpListener* listener = &*l;
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    auto acceptor = orca::spawn([ctx = ctx, listener]() { return listener->accept(ctx); });
    co_await until_parked(1);
    cancel();
    orca::Result<TcpStream> r = co_await std::move(acceptor);
    EXPECT_EQ(r.error(), make_error_code(orca::errc::canceled)) << "got " << describe(r.error());
    auto c = co_await TcpStream::connect(orca::background(), l->local_address());
    EXPECT_TRUE(c);
    auto s = co_await l->accept(orca::background());
    EXPECT_TRUE(s) << describe(s.error());
  });
}

TEST(Tcp, ClosingTheListenerWakesAParkedAccept) {
  run_on(2, []() -> orca::Task<void> {
    auto l = TcpListener::listen(Address::loopback_v4(0));
    EXPECT_TRUE(l);
    if (!l) co_return;
    TcpListener* listener = &*l;
    auto acceptor = orca::spawn([listener]() { return listener->accept(orca::background()); });
    co_await until_parked(1);
    listener->close();
    orca::Result<TcpStream> r = co_await std::move(acceptor);
    EXPECT_EQ(r.error(), make_error_code(orca::net::errc::closed)) << "got " << describe(r.error());
    EXPECT_FALSE(listener->is_open());
    EXPECT_EQ(listener->native_handle(), -1);
    auto again = co_await listener->accept(orca::background());
    EXPECT_EQ(again.error(), make_error_code(orca::net::errc::closed));
  });
}

TEST(Tcp, ClosingAStreamWakesAParkedReadAndThePeerSeesEof) {
  run_on(2, []() -> orca::Task<void> {
    Pair p = co_await make_pair();
    TcpStream* client = &p.client;
    auto reader = orca::spawn([client]() -> orca::Task<orca::Result<std::size_t>> {
      std::array<std::byte, 16> buf;
      co_return co_await client->read(orca::background(), buf);
    });
    co_await until_parked(1);
    p.client.close();
    orca::Result<std::size_t> r = co_await std::move(reader);
    EXPECT_EQ(r.error(), make_error_code(orca::net::errc::closed)) << "got " << describe(r.error());
    std::array<std::byte, 16> buf;
    orca::Result<std::size_t> eof = co_await p.server.read(orca::background(), buf);
    EXPECT_TRUE(eof && *eof == 0);
  });
}

TEST(Tcp, DestroyingAStreamWithAParkedReadClosesIt) {
  run_on(2, []() -> orca::Task<void> {
    Pair p = co_await make_pair();
    auto owned = std::make_unique<TcpStream>(std::move(p.client));
    TcpStream* client = owned.get();
    auto reader = orca::spawn([client]() -> orca::Task<orca::Result<std::size_t>> {
      std::array<std::byte, 16> buf;
      // The task holds the operation, not the stream: it may outlive the object.
      orca::Task<orca::Result<std::size_t>> op = client->read(orca::background(), buf);
      co_return co_await std::move(op);
    });
    co_await until_parked(1);
    owned.reset();
    orca::Result<std::size_t> r = co_await std::move(reader);
    EXPECT_EQ(r.error(), make_error_code(orca::net::errc::closed)) << "got " << describe(r.error());
    std::array<std::byte, 16> buf;
    orca::Result<std::size_t> eof = co_await p.server.read(orca::background(), buf);
    EXPECT_TRUE(eof && *eof == 0);
  });
}

TEST(Tcp, ASecondConcurrentReaderGetsBusy) {
  run_on(2, []() -> orca::Task<void> {
    Pair p = co_await make_pair();
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    TcpStream* client = &p.client;
    auto first = orca::spawn([ctx = ctx, client]() -> orca::Task<orca::Result<std::size_t>> {
      std::array<std::byte, 16> buf;
      co_return co_await client->read(ctx, buf);
    });
    co_await until_parked(1);
    std::array<std::byte, 16> buf;
    orca::Result<std::size_t> second = co_await client->read(orca::background(), buf);
    EXPECT_EQ(second.error(), make_error_code(orca::net::errc::busy))
        << "got " << describe(second.error());
    cancel();
    orca::Result<std::size_t> r = co_await std::move(first);
    EXPECT_EQ(r.error(), make_error_code(orca::errc::canceled)) << "got " << describe(r.error());
  });
}

TEST(Tcp, WriteToAPeerThatHasGoneFailsWithoutSigpipe) {
  run_on(1, []() -> orca::Task<void> {
    Pair p = co_await make_pair();
    p.server.close();
    std::vector<std::byte> chunk(64 * 1024);
    std::error_code err;
    for (int i = 0; i < 1000 && !err; ++i) {
      const orca::Result<void> w = co_await p.client.write_all(orca::background(), chunk);
      err = w.error();
    }
    EXPECT_TRUE(err == sys(EPIPE) || err == sys(ECONNRESET)) << "got " << describe(err);
  });
}

TEST(Tcp, CancelledWriteAllReturnsCanceled) {
  run_on(2, []() -> orca::Task<void> {
    Pair p = co_await make_pair();
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 20ms);
    // Nobody reads the server side: the buffers (kept small, so that little data
    // fills them) fill up and write_all parks.
    const int small = 16 * 1024;
    EXPECT_EQ(::setsockopt(p.client.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small),
              0);
    EXPECT_EQ(::setsockopt(p.server.native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small),
              0);
    std::vector<std::byte> big(8 * 1024 * 1024);
    const orca::Result<void> w = co_await p.client.write_all(ctx, big);
    EXPECT_EQ(w.error(), make_error_code(orca::errc::deadline_exceeded))
        << "got " << describe(w.error());
    cancel();
  });
}

TEST(Tcp, OneReaderAndOneWriterRunConcurrentlyOnAStream) {
  run_on(2, []() -> orca::Task<void> {
    auto l = TcpListener::listen(Address::loopback_v4(0));
    EXPECT_TRUE(l);
    if (!l) co_return;
    auto [ctx, stop] = orca::with_cancel(orca::background());
    auto server = orca::spawn([ctx = ctx, l = &*l] { return orca_net_test::echo_server(ctx, l); });
    auto c = co_await TcpStream::connect(orca::background(), l->local_address());
    EXPECT_TRUE(c);
    if (!c) co_return;
    // 1 MiB through a 16 KiB send buffer: the writer must wait for the echo to be
    // drained by the reader while both run. (A small receive buffer would bring in
    // TCP's zero-window probes and their timers instead.)
    const int small = 16 * 1024;
    EXPECT_EQ(::setsockopt(c->native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    constexpr std::size_t kSize = 1 << 20;
    std::vector<std::byte> out(kSize);
    for (std::size_t i = 0; i < kSize; ++i)
      out[i] = static_cast<std::byte>((i * 131 + 7) & 0xff);
    TcpStream* stream = &*c;
    auto writer = orca::spawn([stream, &out]() -> orca::Task<orca::Result<void>> {
      const orca::Result<void> w = co_await stream->write_all(orca::background(), out);
      if (w) (void)stream->shutdown_write();
      co_return w;
    });
    std::vector<std::byte> in(kSize);
    const orca::Result<void> r = co_await stream->read_exact(orca::background(), in);
    EXPECT_TRUE(r) << describe(r.error());
    const orca::Result<void> w = co_await std::move(writer);
    EXPECT_TRUE(w) << describe(w.error());
    EXPECT_TRUE(in == out) << "echoed bytes differ";
    stop();
    co_await std::move(server);
  });
}

// A task parked on a socket waits for the outside world: with every worker idle,
// no timer and no blocking call, that is not a deadlock. The outside thread connects
// only once the only worker sleeps in epoll_wait with the accept parked, which it
// reaches only past the deadlock check (runtime.cpp checks before sleeping).
TEST(Tcp, TaskWaitingOnASocketIsNotADeadlock) {
  auto l = TcpListener::listen(Address::loopback_v4(0));
  ASSERT_TRUE(l);
  const Address addr = l->local_address();
  std::atomic<pid_t> worker{0};
  std::atomic<bool> reached{false};
  std::thread outside([&] {
    // A plain thread, unknown to the runtime.
    reached = orca_net_test::until_parked_in_epoll(worker, 1);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(::connect(fd, addr.native(), addr.native_size()), 0);
    ::close(fd);
  });
  EXPECT_NO_THROW(run_on(1, [&]() -> orca::Task<void> {
    worker.store(gettid());
    auto s = co_await l->accept(orca::background());
    EXPECT_TRUE(s) << describe(s.error());
  }));
  outside.join();
  EXPECT_TRUE(reached) << "the worker was not seen asleep in epoll_wait with the accept parked";
}

// A listener made outside any runtime works in two runs one after the other (it
// registers with each run's epoll).
TEST(Tcp, ListenerOutlivesARuntime) {
  auto l = TcpListener::listen(Address::loopback_v4(0));
  ASSERT_TRUE(l);
  for (int round = 0; round < 2; ++round) {
    run_on(1, [&]() -> orca::Task<void> {
      auto [ctx, stop] = orca::with_cancel(orca::background());
      auto server =
          orca::spawn([ctx = ctx, lp = &*l] { return orca_net_test::echo_server(ctx, lp); });
      co_await echo_round_trips(l->local_address());
      stop();
      co_await std::move(server);
    });
  }
}

// The only worker sits in epoll_wait (its tasks wait on a socket and on a signal
// context); a signal delivered to it, and then the context's cancellation from the
// signal watcher thread, must still get through.
TEST(Tcp, SignalContextWorksWhileTheOnlyWorkerWaitsInEpoll) {
  run_on(1, []() -> orca::Task<void> {
    auto l = TcpListener::listen(Address::loopback_v4(0));
    EXPECT_TRUE(l);
    if (!l) co_return;
    TcpListener* listener = &*l;
    auto acceptor = orca::spawn([listener]() { return listener->accept(orca::background()); });
    auto [ctx, stop] = orca::signal_context(orca::background(), {SIGUSR1});
    const pthread_t worker = pthread_self();
    const pid_t worker_tid = gettid();
    // From outside the runtime: once the worker sleeps in epoll_wait (the acceptor and
    // this task parked), interrupt it with the signal itself (EINTR path).
    std::atomic<bool> reached{false};
    std::thread sender([worker, worker_tid, &reached] {
      std::atomic<pid_t> tid{worker_tid};
      reached = orca_net_test::until_parked_in_epoll(tid, 2);
      pthread_kill(worker, SIGUSR1);
    });
    const std::error_code err = co_await ctx.done();
    sender.join();
    EXPECT_TRUE(reached) << "the worker was not seen asleep in epoll_wait";
    EXPECT_EQ(ctx.cause(), std::error_code(SIGUSR1, orca::signal_category()))
        << "got " << describe(ctx.cause()) << " (err " << describe(err) << ")";
    stop();
    listener->close();
    orca::Result<TcpStream> r = co_await std::move(acceptor);
    EXPECT_EQ(r.error(), make_error_code(orca::net::errc::closed));
  });
}

}  // namespace
