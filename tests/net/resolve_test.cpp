// resolve and dial: IP literals without a lookup, "localhost" through getaddrinfo,
// a name that cannot exist, a context that ends before the lookup does, and dial
// moving on from an address that refuses to the next one. No traffic leaves the
// machine except the lookup of a ".invalid" name, which RFC 6761 makes fail.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "net_test_support.hpp"
#include "orca/net/dial.hpp"
#include "orca/net/resolve.hpp"

namespace {

using namespace std::chrono_literals;
using orca::net::Address;
using orca::net::TcpListener;
using orca_net_test::describe;
using orca_net_test::run_on;

std::string list(const std::vector<Address>& addrs) {
  std::string out;
  for (const Address& a : addrs) {
    if (!out.empty()) out.append(", ");
    out.append(a.to_string());
  }
  return out;
}

// Whether the hosts file maps "localhost" to ::1 (then resolve must return it too).
bool hosts_lists_v6_localhost() {
  std::ifstream hosts("/etc/hosts");
  std::string line;
  while (std::getline(hosts, line)) {
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    std::string addr;
    std::string name;
    if (!(words >> addr) || addr != "::1") continue;
    while (words >> name)
      if (name == "localhost") return true;
  }
  return false;
}

// A loopback port nobody listens on: taken from a listener, which is then closed.
std::uint16_t closed_port() {
  auto l = TcpListener::listen(Address::loopback_v4(0));
  EXPECT_TRUE(l) << describe(l.error());
  const std::uint16_t port = l->local_address().port();
  l->close();
  return port;
}

TEST(ParseIpLiteral, StrictFormsOnly) {
  auto v4 = orca::net::parse_ip_literal("10.1.2.3", 80);
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->to_string(), "10.1.2.3:80");
  auto v6 = orca::net::parse_ip_literal("fe80::1", 443);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->to_string(), "[fe80::1]:443");
  for (const char* not_literal : {"", "localhost", "127.1", "0x7f.0.0.1", "[::1]", "1.2.3.4.5",
                                  "::1%lo", "1.2.3.256", "a.b.c.d"})
    EXPECT_FALSE(orca::net::parse_ip_literal(not_literal, 1))
        << "parse_ip_literal(\"" << not_literal << "\"): got an address, want none";
}

TEST(Resolve, IpLiteralsNeedNoLookup) {
  run_on(1, []() -> orca::Task<void> {
    auto v4 = co_await orca::net::resolve(orca::background(), "127.0.0.1", 6379);
    EXPECT_TRUE(v4 && v4->size() == 1 && (*v4)[0] == Address::loopback_v4(6379))
        << (v4 ? list(*v4) : describe(v4.error()));
    auto v6 = co_await orca::net::resolve(orca::background(), "::1", 6379);
    EXPECT_TRUE(v6 && v6->size() == 1 && (*v6)[0] == Address::loopback_v6(6379))
        << (v6 ? list(*v6) : describe(v6.error()));
    // A fresh runtime starts its blocking pool on first use: still no thread, so
    // no getaddrinfo ran.
    EXPECT_EQ(orca::stats().blocking_threads, 0u);
  });
}

TEST(Resolve, LocalhostIsLoopback) {
  const bool want_v6 = hosts_lists_v6_localhost();
  run_on(2, [want_v6]() -> orca::Task<void> {
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 10s);  // a hang fails, not stalls
    auto got = co_await orca::net::resolve(ctx, "localhost", 8080);
    cancel();
    EXPECT_TRUE(got) << describe(got.error());
    if (!got) co_return;
    EXPECT_FALSE(got->empty());
    bool v4 = false;
    bool v6 = false;
    for (const Address& a : *got) {
      EXPECT_TRUE(a == Address::loopback_v4(8080) || a == Address::loopback_v6(8080))
          << "got " << a.to_string() << ", want 127.0.0.1:8080 or [::1]:8080";
      v4 |= a.is_v4();
      v6 |= a.is_v6();
    }
    EXPECT_TRUE(v4) << "got " << list(*got) << ", want 127.0.0.1 among them";
    if (want_v6) {
      EXPECT_TRUE(v6) << "got " << list(*got) << ", want ::1 too (/etc/hosts has it)";
    }
    // Names are not case-sensitive.
    auto upper = co_await orca::net::resolve(orca::background(), "LOCALHOST", 8080);
    EXPECT_TRUE(upper && upper->size() == got->size())
        << (upper ? list(*upper) : describe(upper.error()));
  });
}

TEST(Resolve, NameThatCannotExistFails) {
  run_on(2, []() -> orca::Task<void> {
    // The machine's resolver may be slow or absent: a deadline bounds the wait,
    // and running out of it is an accepted outcome. Success is not.
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 500ms);
    auto got = co_await orca::net::resolve(ctx, "no-such-host.invalid", 80);
    cancel();
    EXPECT_FALSE(got) << "got " << list(*got) << ", want an error";
    if (got) co_return;
    const std::error_code e = got.error();
    EXPECT_TRUE(e == orca::net::errc::no_such_host || e == orca::net::errc::resolver_temporary ||
                e == orca::errc::deadline_exceeded)
        << "got " << describe(e) << ", want no_such_host (or a resolver timeout)";
    if (e == orca::net::errc::no_such_host) {
      EXPECT_EQ(e.message(), "no such host");
    }
  });
}

TEST(Resolve, MalformedNamesAreNoSuchHost) {
  run_on(1, []() -> orca::Task<void> {
    for (const std::string& bad : {std::string(), std::string("local\0host", 10)}) {
      auto got = co_await orca::net::resolve(orca::background(), bad, 80);
      EXPECT_EQ(got.error(), make_error_code(orca::net::errc::no_such_host))
          << "got " << (got ? list(*got) : describe(got.error()));
    }
  });
}

TEST(Resolve, DoneContextReturnsItsErrorWithoutALookup) {
  run_on(1, []() -> orca::Task<void> {
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    cancel();
    auto got = co_await orca::net::resolve(ctx, "localhost", 80);
    EXPECT_EQ(got.error(), make_error_code(orca::errc::canceled))
        << "got " << (got ? list(*got) : describe(got.error()));
    auto literal = co_await orca::net::resolve(ctx, "127.0.0.1", 80);
    EXPECT_EQ(literal.error(), make_error_code(orca::errc::canceled));
    EXPECT_EQ(orca::stats().blocking_threads, 0u);
  });
}

// Cancels while getaddrinfo runs on its pool thread (or just before, or just after:
// the race is the point). resolve must return either the context's error or the
// lookup's answer, and the abandoned lookup must finish without touching the
// caller's frame (the sanitizer builds check that).
TEST(Resolve, CancelWhileResolvingReturnsCanceled) {
  run_on(2, []() -> orca::Task<void> {
    for (int i = 0; i < 50; ++i) {
      auto [ctx, cancel] = orca::with_cancel(orca::background());
      orca::go([cancel = cancel]() { cancel(); });
      auto got = co_await orca::net::resolve(ctx, "localhost", 80);
      EXPECT_TRUE(got || got.error() == orca::errc::canceled)
          << "got " << describe(got.error()) << ", want canceled or the addresses";
      cancel();
    }
  });
}

TEST(Dial, TriesEachAddressUntilOneAccepts) {
  run_on(2, []() -> orca::Task<void> {
    auto listener = TcpListener::listen(Address::loopback_v4(0));
    EXPECT_TRUE(listener) << describe(listener.error());
    if (!listener) co_return;
    const Address open = listener->local_address();
    const std::vector<Address> addrs = {Address::loopback_v4(closed_port()), open};
    auto conn = co_await orca::net::dial(orca::background(), std::span<const Address>(addrs));
    EXPECT_TRUE(conn) << describe(conn.error());
    if (conn) {
      EXPECT_EQ(conn->peer_address(), open);
    }
    auto accepted = co_await listener->accept(orca::background());
    EXPECT_TRUE(accepted) << describe(accepted.error());
  });
}

TEST(Dial, ReturnsTheLastErrorWhenEveryAddressFails) {
  run_on(1, []() -> orca::Task<void> {
    const std::vector<Address> addrs = {Address::loopback_v4(closed_port()),
                                        Address::loopback_v4(closed_port())};
    auto conn = co_await orca::net::dial(orca::background(), std::span<const Address>(addrs));
    EXPECT_TRUE(!conn && conn.error() == std::errc::connection_refused)
        << "got " << describe(conn.error()) << ", want connection refused";
    auto none = co_await orca::net::dial(orca::background(), std::span<const Address>());
    EXPECT_TRUE(!none && none.error() == std::errc::invalid_argument)
        << "got " << describe(none.error()) << ", want invalid argument";
  });
}

TEST(Dial, ByNameAndByLiteral) {
  run_on(2, []() -> orca::Task<void> {
    auto listener = TcpListener::listen(Address::loopback_v4(0));
    EXPECT_TRUE(listener) << describe(listener.error());
    if (!listener) co_return;
    const std::uint16_t port = listener->local_address().port();
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 10s);
    for (const char* host : {"localhost", "127.0.0.1"}) {
      auto conn = co_await orca::net::dial(ctx, host, port);
      EXPECT_TRUE(conn) << host << ": " << describe(conn.error());
      if (conn) {
        EXPECT_EQ(conn->peer_address(), Address::loopback_v4(port));
      }
      auto accepted = co_await listener->accept(ctx);
      EXPECT_TRUE(accepted) << describe(accepted.error());
    }
    cancel();
  });
}

}  // namespace
