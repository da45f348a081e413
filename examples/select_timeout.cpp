// select with a timeout and a context (Go: `select { case r := <-reply: ...
// case <-time.After(d): ... case <-ctx.Done(): ... }`).
#include <cstdio>

#include "orca/orca.hpp"

using namespace std::chrono_literals;

// Asks a slow service for an answer; gives up after `patience`.
orca::Task<int> ask(const orca::Context& ctx, std::chrono::milliseconds service_time,
                    std::chrono::milliseconds patience) {
  auto reply = std::make_shared<orca::Channel<int>>(1);  // buffered: the late reply never blocks
  orca::go([reply, service_time]() -> orca::Task<void> {
    co_await orca::sleep_for(service_time);
    (void)reply->try_send(42);
  });
  auto r = co_await orca::select(ctx, orca::recv(*reply), orca::after(patience));
  switch (r.index()) {
    case 0:
      std::printf("answer %d after %lld ms\n", *r.get<0>(),
                  static_cast<long long>(service_time.count()));
      co_return *r.get<0>();
    case 1:
      std::printf("timed out after %lld ms\n", static_cast<long long>(patience.count()));
      co_return -1;
    default:
      std::printf("cancelled: %s\n", r.error().message().c_str());
      co_return -2;
  }
}

int main() {
  const bool ok = orca::run([]() -> orca::Task<bool> {
    const orca::Context ctx = orca::background();
    const int fast = co_await ask(ctx, 1ms, 1000ms);
    const int slow = co_await ask(ctx, 200ms, 5ms);
    auto [short_ctx, cancel] = orca::with_timeout(ctx, 5ms);
    const int cancelled = co_await ask(short_ctx, 200ms, 1000ms);
    cancel();
    co_return fast == 42 && slow == -1 && cancelled == -2;
  });
  return ok ? 0 : 1;
}
