// The broker tests on the Redis broker: one redis-server per test process (started
// on first use on a free loopback port, killed at exit), each test under a key prefix
// of its own, so tests never see each other's keys. Fails when redis-server is not
// installed (scripts/deps installs it). Built only when the orca_jobs_redis target exists
// (CMakeLists.txt).
#include <atomic>

#include "broker_fixture.hpp"
#include "orca/jobs/redis_broker.hpp"
#include "orca/redis/client.hpp"
#include "orca/redis/url.hpp"
#include "support/redis_server.hpp"

namespace orca::jobs::testing {
namespace {

// The process's server. A function-local static: started by the first Redis test
// (on the test's thread, outside any orca::run: it forks), stopped at exit.
orca_test::RedisServer& shared_server() {
  static orca_test::RedisServer server;
  return server;
}

class RedisStore final : public BrokerStore {
 public:
  RedisStore() {
    static std::atomic<int> tests{0};
    prefix_ = "t" + std::to_string(tests.fetch_add(1) + 1);
    orca_test::RedisServer& server = shared_server();
    if (server.running()) {
      url_ = server.url();
    } else {
      // The log, not its path: the server's directory is removed at exit.
      server_error_ = server.error() + "; its log:\n" + server.log();
    }
  }

  Task<Result<std::unique_ptr<Broker>>> open(Context ctx, JobLimits limits) override {
    if (!server_error_.empty())
      co_return Error(make_error_code(errc::broker_failure),
                      "redis-server did not start: " + server_error_);
    RedisBrokerOptions options;
    options.url = url_;
    options.prefix = prefix_;
    options.limits = limits;
    auto connected = co_await RedisBroker::connect(ctx, std::move(options));
    if (!connected) co_return connected.error();
    co_return std::unique_ptr<Broker>(std::move(*connected));
  }

  // The job's spec key (redis_broker.hpp's key layout).
  Task<bool> corrupt_spec(Context ctx, JobId id, std::string queue) override {
    auto url = redis::RedisUrl::parse(url_);
    if (!url) co_return false;
    auto client = co_await redis::Client::connect(ctx, *url);
    if (!client) co_return false;
    std::vector<std::string> set{"SET", prefix_ + ":{" + queue + "}:spec:" + std::to_string(id),
                                 "{\"type\":"};
    auto r = co_await client->command(ctx, std::move(set));
    client->close();
    co_await client->closed();
    co_return r && !r->is_error();
  }

 private:
  std::string prefix_;
  std::string url_;
  std::string server_error_;
};

BrokerKind redis_kind() {
  return BrokerKind{"redis", [] { ORCA_REQUIRE_REDIS(); },
                    [] { return std::unique_ptr<BrokerStore>(std::make_unique<RedisStore>()); }};
}

INSTANTIATE_TEST_SUITE_P(Brokers, BrokerContract, ::testing::Values(redis_kind()),
                         BrokerKindName());
INSTANTIATE_TEST_SUITE_P(Brokers, CenterNode, ::testing::Values(redis_kind()), BrokerKindName());

}  // namespace
}  // namespace orca::jobs::testing
