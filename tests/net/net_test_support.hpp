// Helpers for the orca_net tests: byte-span conversions, a run() wrapper, and an
// echo server task used by several tests.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "orca/net/tcp_listener.hpp"
#include "orca/net/tcp_stream.hpp"
#include "orca/orca.hpp"

namespace orca_net_test {

inline std::span<const std::byte> bytes_of(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

inline std::string string_of(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// Runs `entry` on a runtime of `workers` threads (gtest's EXPECT_* work inside
// coroutines; ASSERT_* would return from the coroutine, so they are not used there).
template <class F>
void run_on(unsigned workers, F&& entry) {
  orca::RunOptions options;
  options.workers = workers;
  orca::run(std::forward<F>(entry), options);
}

inline std::string describe(std::error_code ec) {
  return ec ? ec.category().name() + std::string(":") + std::to_string(ec.value()) + " (" +
                  ec.message() + ")"
            : "success";
}

// Echoes everything it reads on `conn` until EOF or an error, then closes it.
inline orca::Task<void> echo_connection(orca::Context ctx, orca::net::TcpStream conn) {
  std::vector<std::byte> buf(4096);  // small: the stress test holds 10,000 of them
  for (;;) {
    orca::Result<std::size_t> n = co_await conn.read(ctx, buf);
    if (!n || *n == 0) break;
    const orca::Result<void> w = co_await conn.write_all(ctx, std::span(buf.data(), *n));
    if (!w) break;
  }
}

// Accepts until the listener is closed or ctx ends, echoing each connection in its
// own task.
inline orca::Task<void> echo_server(orca::Context ctx, orca::net::TcpListener* listener) {
  for (;;) {
    orca::Result<orca::net::TcpStream> conn = co_await listener->accept(ctx);
    if (!conn) co_return;
    orca::go([ctx, c = std::move(*conn)]() mutable { return echo_connection(ctx, std::move(c)); });
  }
}

}  // namespace orca_net_test
