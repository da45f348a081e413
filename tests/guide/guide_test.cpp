// The snippets of docs/GUIDE.md, compiled and run. Each snippet sits between
// "// guide:NAME" and "// end" markers; tests/guide/check_guide.py checks that every
// code block of the guide is one of them, word for word.
#include <gtest/gtest.h>

#include <charconv>
#include <csignal>
#include <string>
#include <string_view>
#include <vector>

#include "orca/jobs/node.hpp"
#include "orca/net/http/client.hpp"
#include "orca/orca.hpp"
#include "orca/resilience/resilience.hpp"
#include "orca/resilience/ttl_cache.hpp"

using namespace std::chrono_literals;

namespace {

// guide:go
orca::Task<int> square(int x) {
  co_return x* x;
}

int go_and_spawn() {
  return orca::run([]() -> orca::Task<int> {
    orca::go([] { std::puts("fire and forget"); });       // go f()
    auto handle = orca::spawn([] { return square(7); });  // go, keeping the result
    co_return co_await std::move(handle);                 // 49
  });
}
// end

TEST(Guide, Go) {
  EXPECT_EQ(go_and_spawn(), 49);
}

// guide:chan
orca::Task<int> sum_through_channel(orca::Context ctx) {
  orca::Channel<int> ch(2);  // ch := make(chan int, 2)
  orca::go([&ch, ctx]() -> orca::Task<void> {
    for (int i = 1; i <= 10; ++i)
      (void)co_await ch.send(ctx, i);  // ch <- i
    (void)ch.close();                  // close(ch)
  });
  int sum = 0;
  while (auto v = co_await ch.recv(ctx))
    sum += *v;  // for v := range ch
  co_return sum;
}
// end

TEST(Guide, Chan) {
  EXPECT_EQ(orca::run([] { return sum_through_channel(orca::background()); }), 55);
}

// guide:select
orca::Task<std::string> first_of(orca::Context ctx, orca::Channel<std::string>& a,
                                 orca::Channel<std::string>& b) {
  auto r = co_await orca::select(ctx, orca::recv(a), orca::recv(b), orca::after(50ms));
  switch (r.index()) {
    case 0:
      co_return *r.get<0>();  // case v := <-a
    case 1:
      co_return *r.get<1>();  // case v := <-b
    case 2:
      co_return "timeout";  // case <-time.After(50 * time.Millisecond)
    default:
      co_return r.error().message();  // ctx is done
  }
}
// end

TEST(Guide, Select) {
  const std::string got = orca::run([]() -> orca::Task<std::string> {
    orca::Channel<std::string> a(1);
    orca::Channel<std::string> b(1);
    (void)a.try_send("from a");
    co_return co_await first_of(orca::background(), a, b);
  });
  EXPECT_EQ(got, "from a");
}

// guide:select_default
orca::Task<bool> poll_once(orca::Channel<int>& ch, int& out) {
  // select { case v := <-ch: ...; default: }
  auto r = co_await orca::select(orca::recv(ch), orca::default_case());
  if (r.index() != 0) co_return false;
  out = *r.get<0>();
  co_return true;
}
// end

TEST(Guide, SelectDefault) {
  const int got = orca::run([]() -> orca::Task<int> {
    orca::Channel<int> ch(1);
    int v = 0;
    const bool on_empty = co_await poll_once(ch, v);
    EXPECT_FALSE(on_empty);
    (void)ch.try_send(7);
    const bool on_ready = co_await poll_once(ch, v);
    EXPECT_TRUE(on_ready);
    co_return v;
  });
  EXPECT_EQ(got, 7);
}

// guide:select_dynamic
orca::Task<int> merge_sum(orca::Context ctx, std::vector<orca::Channel<int>*> inputs) {
  std::vector<orca::SelectCase<int>> cases;  // []reflect.SelectCase
  for (orca::Channel<int>* ch : inputs)
    cases.push_back(orca::recv(*ch));  // {Dir: reflect.SelectRecv, Chan: ch}
  int sum = 0;
  while (!cases.empty()) {
    auto r = co_await orca::select(ctx, cases);  // chosen, v, ok := reflect.Select(cases)
    if (!r) co_return -1;                        // ctx is done
    if (auto& v = r.received()) {
      sum += *v;
    } else {
      cases.erase(cases.begin() + r.index());  // closed: drop its case
    }
  }
  co_return sum;
}
// end

TEST(Guide, SelectDynamic) {
  const int got = orca::run([]() -> orca::Task<int> {
    std::vector<orca::Channel<int>> chans(3);
    std::vector<orca::Channel<int>*> inputs;
    for (auto& ch : chans) {
      inputs.push_back(&ch);
      orca::go([&ch]() -> orca::Task<void> {
        for (int i = 1; i <= 10; ++i)
          (void)co_await ch.send(i);
        (void)ch.close();
      });
    }
    co_return co_await merge_sum(orca::background(), inputs);
  });
  EXPECT_EQ(got, 165);
}

// guide:context
orca::Task<std::error_code> worker_tree() {
  auto [ctx, cancel] = orca::with_cancel(orca::background());  // context.WithCancel
  auto [slow, cancel_slow] = orca::with_timeout(ctx, 10ms);    // context.WithTimeout
  orca::WaitGroup wg;                                          // sync.WaitGroup
  wg.add(3);
  for (int i = 0; i < 3; ++i)
    orca::go([slow = slow, &wg]() -> orca::Task<void> {
      co_await slow.done();  // <-ctx.Done()
      wg.done();
    });
  co_await wg.wait();
  cancel_slow();  // always call cancel
  cancel();
  co_return slow.err();  // deadline_exceeded
}
// end

TEST(Guide, Context) {
  EXPECT_EQ(orca::run(worker_tree), orca::errc::deadline_exceeded);
}

// guide:value
inline const orca::ContextKey<std::string> kTraceId{"trace_id"};

std::string trace_of(const orca::Context& ctx) {
  const std::string* id = ctx.value(kTraceId);  // ctx.Value(traceIDKey{}).(string)
  return id != nullptr ? *id : "none";
}
// end

TEST(Guide, Value) {
  const orca::Context ctx = orca::with_value(orca::background(), kTraceId, std::string("t-42"));
  EXPECT_EQ(trace_of(ctx), "t-42");
  EXPECT_EQ(trace_of(orca::background()), "none");
}

// guide:errgroup
orca::Task<std::error_code> fetch_all(std::vector<std::string> urls) {   // by value: see below
  auto [group, ctx] = orca::ErrGroup::with_context(orca::background());  // errgroup.WithContext
  group.set_limit(8);                                                    // g.SetLimit(8)
  for (const std::string& url : urls)
    group.go([ctx = ctx, url]() -> orca::Task<std::error_code> {  // g.Go(func() error {...})
      if (url.empty()) co_return std::make_error_code(std::errc::invalid_argument);
      const orca::Result<void> slept = co_await orca::sleep_for(ctx, 1ms);  // "fetch"
      co_return slept.error();
    });
  co_return co_await group.wait();  // g.Wait()
}
// end

TEST(Guide, ErrGroup) {
  EXPECT_FALSE(orca::run([] { return fetch_all({"a", "b", "c"}); }));
  EXPECT_EQ(orca::run([] { return fetch_all({"a", "", "c"}); }), std::errc::invalid_argument);
}

// guide:mutex
orca::Task<int> count_with_mutex() {
  orca::Mutex mu;  // var mu sync.Mutex
  int counter = 0;
  orca::WaitGroup wg;
  wg.add(100);
  for (int i = 0; i < 100; ++i)
    orca::go([&]() -> orca::Task<void> {
      auto guard = co_await mu.lock(orca::background());  // mu.Lock(); defer mu.Unlock()
      ++counter;
      wg.done();
    });
  co_await wg.wait();
  co_return counter;
}
// end

TEST(Guide, Mutex) {
  EXPECT_EQ(orca::run(count_with_mutex), 100);
}

// guide:once_value
struct Config {
  int port = 0;
};

orca::Task<orca::Result<Config>> read_config() {
  co_return Config{8080};  // read and parse a file, say
}

orca::OnceValue config(read_config);  // var config = sync.OnceValues(readConfig)

orca::Task<int> port(orca::Context ctx) {
  orca::Result<Config> c = co_await config(ctx);  // c, err := config(): read_config runs once
  co_return c ? c->port : -1;
}
// end

TEST(Guide, OnceValue) {
  EXPECT_EQ(orca::run([] { return port(orca::background()); }), 8080);
  EXPECT_TRUE(config.done());
}

// guide:single_flight
orca::Task<std::string> load_user(orca::Context ctx, std::string id) {
  (void)co_await orca::sleep_for(ctx, 1ms);  // the slow backend
  co_return "user " + id;
}

orca::SingleFlight<std::string, std::string> user_loads;  // var userLoads singleflight.Group

orca::Task<orca::Result<std::string>> user(orca::Context ctx, std::string id) {
  // v, err, shared := userLoads.Do(id, func() (any, error) { return loadUser(ctx, id) })
  auto call = user_loads.call(ctx, id, [id](orca::Context call_ctx) {
    return load_user(call_ctx, id);  // call_ctx: cancelled only if every caller leaves
  });
  orca::SharedResult<std::string> r = co_await std::move(call);
  if (!r) co_return r.error();  // ctx is done (or load_user's error, if it returned one)
  co_return *std::move(r);
}
// end

TEST(Guide, SingleFlight) {
  const int right = orca::run([]() -> orca::Task<int> {
    std::vector<orca::JoinHandle<orca::Result<std::string>>> users;
    for (int i = 0; i < 10; ++i)
      users.push_back(orca::spawn([] { return user(orca::background(), "42"); }));
    int n = 0;
    for (auto& u : users) {
      orca::Result<std::string> r = co_await std::move(u);
      if (r && *r == "user 42") ++n;
    }
    co_return n;
  });
  EXPECT_EQ(right, 10);
  EXPECT_EQ(user_loads.in_flight(), 0u);
}

// guide:ttl_cache
orca::Task<orca::Result<std::string>> load_item(orca::Context ctx, int id) {
  (void)co_await orca::sleep_for(ctx, 1ms);  // the store behind the cache
  co_return "item " + std::to_string(id);
}

// Entries live 5 s +- 20%; a miss of a hot item makes one load, however many wait.
orca::resilience::TtlCache<int, std::string> items({.ttl = 5s, .jitter = 0.2});

orca::Task<orca::Result<std::string>> item(orca::Context ctx, int id) {
  auto load = [id](orca::Context c) { return load_item(c, id); };
  co_return co_await items.get(ctx, id, load);
}
// end

TEST(Guide, TtlCache) {
  const int right = orca::run([]() -> orca::Task<int> {
    std::vector<orca::JoinHandle<orca::Result<std::string>>> reads;
    for (int i = 0; i < 10; ++i)
      reads.push_back(orca::spawn([] { return item(orca::background(), 7); }));
    int n = 0;
    for (auto& r : reads) {
      orca::Result<std::string> got = co_await std::move(r);
      if (got && *got == "item 7") ++n;
    }
    co_return n;
  });
  EXPECT_EQ(right, 10);
  EXPECT_EQ(items.stats().loads, 1u) << "ten concurrent misses, one load";
}

// guide:timer
orca::Task<int> count_until_idle(orca::Context ctx, orca::Channel<int>& events) {
  orca::Timer idle(20ms);  // idle := time.NewTimer(20 * time.Millisecond)
  int n = 0;
  for (;;) {
    auto r = co_await orca::select(ctx, orca::recv(events), orca::recv(idle.channel()));
    if (r.index() != 0 || !r.get<0>()) co_return n;  // idle, closed, or ctx is done
    ++n;
    idle.reset(20ms);  // idle.Reset(20 * time.Millisecond): no stale tick after this
  }
}
// end

TEST(Guide, Timer) {
  const int got = orca::run([]() -> orca::Task<int> {
    orca::Channel<int> events(3);
    for (int i = 0; i < 3; ++i)
      (void)events.try_send(i);
    co_return co_await count_until_idle(orca::background(), events);
  });
  EXPECT_EQ(got, 3);
}

// guide:signal
int serve_until_signal() {
  return orca::run([]() -> orca::Task<int> {
    auto [ctx, stop] = orca::signal_context(orca::background(), {SIGINT, SIGTERM});
    orca::go([] { std::raise(SIGTERM); });  // stands in for `kill -TERM`
    co_await ctx.done();                    // <-ctx.Done()
    stop();                                 // stop()
    co_return 0;
  });
}
// end

TEST(Guide, Signal) {
  EXPECT_EQ(serve_until_signal(), 0);
}

// A dependency for the resilience snippets: it fails its first call.
int stock_reads = 0;
orca::Task<orca::Result<int>> read_stock(orca::Context) {
  if (++stock_reads == 1) co_return std::make_error_code(std::errc::connection_reset);
  co_return 42;
}

// guide:breaker_retry
// Open when 15% of the last 100 calls failed (after at least 20); probe again after 30 s.
orca::resilience::CircuitBreaker stock_breaker(
    {.failure_rate_threshold = 15, .window_size = 100, .minimum_calls = 20, .open_duration = 30s});
// maxAttempts = 3, with exponential backoff and full jitter between them.
orca::resilience::Retry stock_retry({.max_attempts = 3, .initial_backoff = 1ms});

orca::Task<orca::Result<int>> stock_level(orca::Context ctx) {
  // Each attempt goes through the breaker; an open breaker is not retried.
  auto through_breaker = [](const orca::Context& c) { return stock_breaker.call(c, read_stock); };
  co_return co_await stock_retry.call(ctx, through_breaker);
}
// end

TEST(Guide, BreakerRetry) {
  auto got = orca::run([] { return stock_level(orca::background()); });
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, 42);
  EXPECT_EQ(stock_reads, 2);
}

// guide:degrade
// Recommendations are not core: without them the page still renders.
orca::Task<orca::Result<std::vector<std::string>>> recommendations(orca::Context) {
  co_return orca::resilience::make_error_code(orca::resilience::errc::circuit_open);  // stand-in
}

orca::Task<std::vector<std::string>> page_extras(orca::Context ctx) {
  auto show_none = [](const orca::Context&,
                      std::error_code) -> orca::Task<orca::Result<std::vector<std::string>>> {
    co_return std::vector<std::string>{};
  };
  auto out = co_await orca::resilience::with_fallback(ctx, recommendations, show_none);
  if (out.fell_back()) std::printf("extras degraded: %s\n", to_string(out.reason));
  co_return out.result ? *std::move(out.result) : std::vector<std::string>{};
}
// end

TEST(Guide, Degrade) {
  auto got = orca::run([] { return page_extras(orca::background()); });
  EXPECT_TRUE(got.empty());
}

// guide:rate_limit
// At the gateway: 1000 requests an hour per API key, bursts of 20; past it, 429.
orca::resilience::KeyedRateLimiter per_key({.limit = {.events = 1000, .per = 1h, .burst = 20}});

struct Admission {
  int status;              // 200 or 429
  long retry_after_s = 0;  // the Retry-After header, in whole seconds (rounded up)
};

Admission admit(std::string_view api_key) {
  orca::resilience::Decision d = per_key.get(api_key)->decide_now();
  if (d.allowed) return {200};
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(d.retry_after).count();
  return {429, (ms + 999) / 1000};
}
// end

TEST(Guide, RateLimit) {
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(admit("key-1").status, 200) << i;
  const Admission refused = admit("key-1");
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(refused.retry_after_s, 4) << "one request every 3.6 s";
  EXPECT_EQ(admit("key-2").status, 200) << "another key has its own limit";
}

// guide:node_resilience
orca::jobs::NodeOptions careful_node() {
  orca::jobs::NodeOptions options;
  // A breaker per job type: past 15% failures (of the last 100, at least 20) the node
  // takes none of that type's jobs for 30 s (they wait pending), then probes with 5.
  options.breaker_enabled = true;
  options.breaker = {.failure_rate_threshold = 15, .open_duration = 30s};
  // At most 100 email jobs a second start: across every node on a Redis broker, on
  // each node on SQLite.
  options.queue_rates["email"] = *orca::resilience::parse_rate("100/s");
  return options;  // for orca::jobs::Node node(broker, careful_node());
}
// end

TEST(Guide, NodeResilience) {
  const orca::jobs::NodeOptions o = careful_node();
  EXPECT_TRUE(o.breaker_enabled);
  EXPECT_EQ(o.breaker.failure_rate_threshold, 15);
  EXPECT_EQ(o.queue_rates.at("email").events, 100);
}

// guide:elastic_node
orca::jobs::NodeOptions elastic_node() {
  orca::jobs::NodeOptions options;
  // As many jobs at once as their dependency serves without queueing them: the limit
  // falls when their run times rise, and grows again while they stay low (1..200).
  options.adaptive_concurrency = true;
  options.adaptive.min_limit = 1;
  options.adaptive.max_limit = 200;
  return options;  // `orca worker --concurrency auto --concurrency-max 200`
}
// end

TEST(Guide, ElasticNode) {
  const orca::jobs::NodeOptions o = elastic_node();
  EXPECT_TRUE(o.adaptive_concurrency);
  EXPECT_EQ(o.adaptive.max_limit, 200);
  EXPECT_TRUE(orca::resilience::validate(o.adaptive).empty());
}

// guide:client_retry
orca::http::ClientOptions careful_client() {
  orca::http::ClientOptions options;
  // maxAttempts = 3 for idempotent requests, after a connection error or a 429, 502,
  // 503 or 504 (waiting what Retry-After asks, at most 2 s; never past the deadline).
  options.retry = orca::resilience::RetryOptions{.max_attempts = 3, .max_backoff = 2s};
  // And a breaker per host, open past 15% failures (5xx or no connection).
  options.breakers.emplace();
  return options;  // for orca::http::Client client(careful_client());
}
// end

TEST(Guide, ClientRetry) {
  const orca::http::ClientOptions o = careful_client();
  ASSERT_TRUE(o.retry.has_value());
  EXPECT_EQ(o.retry->max_attempts, 3);
  EXPECT_EQ(o.breakers->breaker.failure_rate_threshold, 15);
  EXPECT_NO_THROW(orca::http::Client{o});
}

// guide:errors
orca::Result<int> parse_port(std::string_view text) {
  int port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || port < 1 || port > 65535)
    return orca::Error(std::make_error_code(std::errc::invalid_argument),  // errors.New(...)
                       "port must be 1..65535, got \"" + std::string(text) + "\"");
  return port;
}

orca::Task<orca::Result<int>> next_port(orca::Context ctx, orca::Channel<std::string>& in) {
  ORCA_CO_TRY(text, co_await in.recv(ctx));  // if err != nil { return 0, err }
  ORCA_CO_TRY(port, parse_port(text));
  co_return port;
}
// end

TEST(Guide, Errors) {
  orca::run([]() -> orca::Task<void> {
    orca::Channel<std::string> in(2);
    (void)co_await in.send(orca::background(), "8080");
    (void)co_await in.send(orca::background(), "80x");
    auto good = co_await next_port(orca::background(), in);
    EXPECT_EQ(good.value_or(0), 8080);
    auto bad = co_await next_port(orca::background(), in);
    EXPECT_EQ(bad.error(), std::errc::invalid_argument);
    EXPECT_EQ(bad.error().message(), "Invalid argument: port must be 1..65535, got \"80x\"");
    (void)in.close();
    auto closed = co_await next_port(orca::background(), in);
    EXPECT_EQ(closed.error(), orca::errc::closed) << closed.error();
  });
}

}  // namespace
