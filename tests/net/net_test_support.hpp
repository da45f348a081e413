// Helpers for the orca_net tests: byte-span conversions, a run() wrapper, and an
// echo server task used by several tests.
#pragma once

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
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

// Whether kernel thread `tid` of this process is blocked in epoll_wait now (its
// /proc/self/task/TID/syscall names the call it sleeps in).
inline bool in_epoll_wait(pid_t tid) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/syscall";
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return false;
  long nr = -1;
  const int got = std::fscanf(f, "%ld", &nr);
  std::fclose(f);
  if (got != 1) return false;
#ifdef SYS_epoll_wait
  if (nr == SYS_epoll_wait) return true;
#endif
#ifdef SYS_epoll_pwait2
  if (nr == SYS_epoll_pwait2) return true;
#endif
  return nr == SYS_epoll_pwait;
}

// From a thread outside the runtime: waits until `parked` tasks are parked and the
// worker thread `tid` (set by a task on it; 0 until then) sleeps in epoll_wait, so
// that what the caller does next meets an idle runtime. Polls (every 100 µs, at most
// 20 s: a guard, not a timing assumption); false if that state never came.
inline bool until_parked_in_epoll(const std::atomic<pid_t>& tid, std::int64_t parked) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < give_up) {
    const pid_t t = tid.load();
    if (t != 0 && orca::stats().parked_tasks >= parked && in_epoll_wait(t)) return true;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return false;
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
