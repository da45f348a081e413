// The flash sale's reconciliation (examples/flashsale/reconcile.hpp) over a real
// redis-server, an order store and an order queue: a buyer whose order job was lost
// gets one again, a buyer whose job is alive is left alone, an order without a
// reservation is reported; an order whose inventory event was lost gets it again; the
// handler sets the drift gauges and the repaired counter.
#include "reconcile.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "flashsale_test_support.hpp"
#include "support/redis_server.hpp"
#include "support/result_assertions.hpp"

namespace orca::jobs::testing {
namespace {

TEST(FlashsaleReconcile, RepairsLostOrdersLeavesLiveOnesAndReportsOrphans) {
  ORCA_REQUIRE_REDIS();
  orca_test::RedisServer server;
  ASSERT_TRUE(server.running()) << server.error();
  SaleStores stores;
  ASSERT_EQ(stores.open(), "");
  Broker& broker = *stores.jobs;
  flashsale::OrderStore& store = *stores.orders;
  metrics::Registry registry;
  flashsale::ReconcileReport first, second;
  std::size_t pending_orders = 0;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    auto url = redis::RedisUrl::parse(server.url());
    CO_ASSERT_OK(url);
    auto redis = co_await redis::Client::connect(guard, *url);
    CO_ASSERT_OK(redis);
    CO_ASSERT_OK(co_await flashsale::load_stock(guard, *redis, "item1", 5));
    flashsale::ScriptStock stock(*redis);
    const std::vector<std::string> buyers = {"a", "b", "c", "d"};
    for (const std::string& user : buyers)
      CO_ASSERT_OK(co_await stock.reserve(guard, "item1", user));
    // a: ordered and paid. b: its order job is queued. c, d: their enqueues were lost.
    // z: an order without a reservation.
    CO_ASSERT_OK(co_await store.place(guard, "item1", "a"));
    CO_ASSERT_OK(co_await store.mark_paid(guard, "item1", "a", "p-1"));
    // a's sale is in the inventory; z's event was lost.
    CO_ASSERT_OK(co_await store.apply_sale(guard, "item1", "a"));
    JobSpec b_order = flashsale::order_job("item1", "b");
    CO_ASSERT_OK(co_await broker.enqueue_one(guard, b_order));
    CO_ASSERT_OK(co_await store.place(guard, "item1", "z"));

    auto r1 = co_await flashsale::reconcile(guard, *redis, store, broker, "item1");
    CO_ASSERT_OK(r1);
    first = *r1;
    auto r2 = co_await flashsale::reconcile(guard, *redis, store, broker, "item1");
    CO_ASSERT_OK(r2);
    second = *r2;
    JobFilter filter;
    filter.type = "order";
    filter.state = JobState::kPending;
    auto listed = co_await broker.list(guard, filter);
    CO_ASSERT_OK(listed);
    pending_orders = listed->size();

    // The handler: the gauge takes the drift, the counter the repairs (none left).
    Handler handler = flashsale::reconcile_handler(*redis, store, broker, &registry);
    Job job;
    job.spec.type = "reconcile";
    job.spec.payload = R"({"item": "item1"})";
    CO_ASSERT_OK(co_await handler(guard, job));
    EXPECT_EQ(
        registry.gauge_family("flashsale_reconcile_drift", "", {"item"}).with({"item1"}).value(),
        -1.0);  // 4 buyers - 2 orders (a, z) - 3 in flight (b, c, d)
    EXPECT_EQ(registry.gauge_family("flashsale_reconcile_inventory_drift", "", {"item"})
                  .with({"item1"})
                  .value(),
              0.0);  // z's event is on its way since the first run
    Job bad = job;
    bad.spec.payload = "{}";
    auto refused = co_await handler(guard, bad);
    EXPECT_FALSE(refused);
    if (!refused) {
      EXPECT_EQ(refused.error(), make_error_code(errc::permanent));
    }
  });
  EXPECT_EQ(first.buyers, 4);
  EXPECT_EQ(first.orders, 2);
  EXPECT_EQ(first.in_flight, 1);  // b
  EXPECT_EQ(first.repaired, 2);   // c, d
  EXPECT_EQ(first.orphans, std::vector<std::string>{"z"});
  EXPECT_EQ(first.drift, 1);  // two lost orders, less one order without a reservation
  EXPECT_EQ(second.repaired, 0);
  EXPECT_EQ(second.in_flight, 3);
  EXPECT_EQ(pending_orders, 3u);       // one job each for b, c and d
  EXPECT_EQ(first.sales_repaired, 1);  // z's inventory event, sent again
  EXPECT_EQ(first.inventory_drift, 1);
  EXPECT_EQ(second.sales_repaired, 0);
  EXPECT_EQ(second.sales_in_flight, 1);
  EXPECT_EQ(second.inventory_drift, 0);
}

}  // namespace
}  // namespace orca::jobs::testing
