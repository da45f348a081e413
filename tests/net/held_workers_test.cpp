// Sockets keep working while every worker is held by a task that never suspends:
// the monitor (src/runtime/sysmon.hpp) stands a spare in, which takes the poller
// role. Each loop stops by itself after kSpinBound, so a broken monitor fails the
// test instead of hanging it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <thread>

#include "net_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using orca::net::Address;
using orca::net::TcpListener;
using orca_net_test::describe;

constexpr auto kSpinBound = 20s;

// A plain blocking client on its own thread: connects once both workers are held
// and sends one byte.
void connect_and_send(std::uint16_t port, const std::atomic<int>& spinning) {
  while (spinning.load() < 2)
    std::this_thread::sleep_for(1ms);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::write(fd, "x", 1), 1);
  ::close(fd);
}

TEST(HeldWorkers, SocketReadCompletesWhileEveryWorkerIsHeld) {
  std::atomic<bool> release{false};
  std::atomic<int> spinning{0};
  std::atomic<int> gave_up{0};
  bool read_one_byte = false;
  std::thread client;
  orca::RunOptions options;
  options.workers = 2;
  options.stuck_task = orca::StuckTask::kReport;
  options.stuck_task_after = 10ms;
  orca::run(
      [&]() -> orca::Task<void> {
        auto listener = TcpListener::listen(Address::loopback_v4(0));
        EXPECT_TRUE(listener) << describe(listener.error());
        if (!listener) co_return;
        client =
            std::thread(connect_and_send, listener->local_address().port(), std::cref(spinning));
        auto reader = orca::spawn([&]() -> orca::Task<void> {
          auto conn = co_await listener->accept(orca::background());
          EXPECT_TRUE(conn) << describe(conn.error());
          if (conn) {
            std::array<std::byte, 1> buf;
            auto n = co_await conn->read(orca::background(), buf);
            read_one_byte = n && *n == 1 && !release.load();
          }
          release.store(true);
        });
        auto spin = [&] {
          spinning.fetch_add(1);
          const auto give_up = std::chrono::steady_clock::now() + kSpinBound;
          while (!release.load()) {
            if (std::chrono::steady_clock::now() > give_up) {
              gave_up.fetch_add(1);
              return;
            }
          }
        };
        auto a = orca::spawn(spin);
        auto b = orca::spawn(spin);
        co_await std::move(a);
        co_await std::move(b);
        co_await std::move(reader);
      },
      options);
  if (client.joinable()) client.join();
  EXPECT_TRUE(read_one_byte) << "the byte was not read while the loops ran";
  EXPECT_EQ(gave_up.load(), 0) << "loops that ran out their bound: the socket was never polled";
}

}  // namespace
