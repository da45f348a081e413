// The flash sale's gateway (examples/flashsale/gateway.hpp) over a real redis-server
// and an order queue: bad bodies are 400; 60 buyers at once for 5 units get 5 x 201
// and 55 x 409, with one order job each; a buyer who asks again gets 200 and no
// second order; one who asks too often gets 429 with Retry-After.
#include "gateway.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "jobs_test_support.hpp"
#include "orca/jobs/sqlite_broker.hpp"
#include "orca/net/http/client.hpp"
#include "orca/net/http/server.hpp"
#include "orca/redis/client.hpp"
#include "support/redis_server.hpp"
#include "support/result_assertions.hpp"

namespace orca::jobs::testing {
namespace {

struct GatewaySale {
  std::map<int, int> statuses;  // HTTP status -> count
  std::set<std::string> reserved_users;
  std::vector<std::string> retry_afters;  // of the 429s
  std::vector<orca::jobs::Job> orders;
  flashsale::StockFigures after;
};

TEST(FlashsaleGateway, SellsEachUnitOnceAndAnswersEveryCaseAsDocumented) {
  ORCA_REQUIRE_REDIS();
  orca_test::RedisServer server;
  ASSERT_TRUE(server.running()) << server.error();
  TempDir dir;
  auto opened = orca::jobs::SqliteBroker::open({.path = dir.db()});
  ASSERT_OK(opened);
  orca::jobs::Broker& orders = **opened;
  GatewaySale sale;
  int bad_requests = 0;
  orca::run([&]() -> orca::Task<void> {
    Context guard = hang_guard();
    auto url = orca::redis::RedisUrl::parse(server.url());
    CO_ASSERT_OK(url);
    auto redis = co_await orca::redis::Client::connect(guard, *url);
    CO_ASSERT_OK(redis);
    CO_ASSERT_OK(co_await flashsale::load_stock(guard, *redis, "item1", 5));
    flashsale::ScriptStock stock(*redis);
    flashsale::GatewayOptions options;
    // Two purchases at once per user, then one a minute: a retry is let through, a
    // third try is not.
    options.per_user = std::make_shared<orca::resilience::KeyedRateLimiter>(
        orca::resilience::KeyedRateLimiterOptions{.limit = {.events = 1, .per = 60s, .burst = 2}});
    orca::http::Server http(flashsale::gateway_routes(stock, orders, options));
    if (!http.start(orca::net::Address::loopback_v4(0))) {
      ADD_FAILURE() << "the gateway did not start";
      co_return;
    }
    const std::string buy =
        "http://127.0.0.1:" + std::to_string(http.local_address().port()) + "/buy";
    orca::http::Client client;

    const std::vector<std::string> bad_bodies = {"",
                                                 "{",
                                                 "[]",
                                                 R"({"user": "u1"})",
                                                 R"({"user": 7, "item": "item1"})",
                                                 R"({"user": "", "item": "item1"})",
                                                 R"({"user": "u 1", "item": "item1"})"};
    for (const std::string& body : bad_bodies) {
      auto r = co_await client.post(guard, buy, body, "application/json");
      CO_ASSERT_OK(r);
      if (r->status == 400) ++bad_requests;
    }

    std::mutex mu;
    orca::WaitGroup wg;
    for (int i = 0; i < 60; ++i) {
      wg.add(1);
      orca::go([&, i]() -> orca::Task<void> {
        const std::string user = "user" + std::to_string(i);
        const std::string body = R"({"user": ")" + user + R"(", "item": "item1"})";
        auto r = co_await client.post(guard, buy, body, "application/json");
        {
          std::lock_guard lock(mu);
          if (!r) {
            ++sale.statuses[-1];
          } else {
            ++sale.statuses[r->status];
            if (r->status == 201) sale.reserved_users.insert(user);
          }
        }
        wg.done();
      });
    }
    co_await wg.wait();

    // A buyer asks again (a retry after a lost answer), then a third time.
    if (sale.reserved_users.empty()) {
      ADD_FAILURE() << "nobody bought";
      co_return;
    }
    const std::string again =
        R"({"user": ")" + *sale.reserved_users.begin() + R"(", "item": "item1"})";
    auto second = co_await client.post(guard, buy, again, "application/json");
    CO_ASSERT_OK(second);
    ++sale.statuses[second->status];
    auto third = co_await client.post(guard, buy, again, "application/json");
    CO_ASSERT_OK(third);
    ++sale.statuses[third->status];
    sale.retry_afters.emplace_back(third->headers.get("Retry-After").value_or(""));

    auto figures = co_await flashsale::read_stock(guard, *redis, "item1");
    CO_ASSERT_OK(figures);
    sale.after = *figures;
    orca::jobs::JobFilter order_jobs;
    order_jobs.type = "order";
    auto listed = co_await orders.list(guard, order_jobs);
    CO_ASSERT_OK(listed);
    sale.orders = *listed;
    (void)co_await http.shutdown(guard);
  });
  EXPECT_EQ(bad_requests, 7);
  EXPECT_EQ(sale.statuses[201], 5);
  EXPECT_EQ(sale.statuses[409], 55);
  EXPECT_EQ(sale.statuses[200], 1);  // the repeat: reserved, said again
  EXPECT_EQ(sale.statuses[429], 1);  // the third try
  EXPECT_EQ(sale.statuses[-1], 0);
  // The next unit of the user's limit is due in a minute, less the time the sale took.
  ASSERT_EQ(sale.retry_afters.size(), 1u);
  const int retry_after = std::atoi(sale.retry_afters[0].c_str());
  EXPECT_TRUE(retry_after >= 1 && retry_after <= 60) << sale.retry_afters[0];
  EXPECT_EQ(sale.after.left, 0);
  EXPECT_EQ(sale.after.buyers, 5);
  // One order job per reservation, for the users who were answered 201; the repeat
  // found the first one live (same unique key) and added none.
  std::set<std::string> ordered;
  for (const orca::jobs::Job& job : sale.orders) {
    EXPECT_EQ(job.spec.queue, "orders");
    const auto payload = nlohmann::json::parse(job.spec.payload, nullptr, false);
    ordered.insert(payload.value("user", ""));
    EXPECT_EQ(job.spec.unique_key, "order:item1:" + payload.value("user", ""));
  }
  EXPECT_EQ(sale.orders.size(), 5u);
  EXPECT_EQ(ordered, sale.reserved_users);
}

}  // namespace
}  // namespace orca::jobs::testing
