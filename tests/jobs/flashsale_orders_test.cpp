// The flash sale's orders (examples/flashsale/orders.hpp): the order store is
// idempotent; order jobs run by a real node against the payment stub over HTTP end
// with every order placed once and charged once while a third of payment calls fail
// and while jobs run twice; with payments down, the node's breaker for `order` opens
// and the orders wait (none dead), then all complete once payments are back; a
// failing recommendations service is skipped without failing an order; each order's
// inventory event reaches the catalogue once.
#include "orders.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "flashsale_test_support.hpp"
#include "orca/net/http/server.hpp"
#include "support/result_assertions.hpp"

namespace orca::jobs::testing {
namespace {

TEST(FlashsaleOrderStore, PlacesAndPaysEachOrderOnce) {
  OrderStoreFile file;
  ASSERT_EQ(file.open(), "");
  flashsale::OrderStore& store = *file.store;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    auto first = co_await store.place(guard, "item1", "ada");
    CO_ASSERT_OK(first);
    EXPECT_TRUE(*first);
    auto again = co_await store.place(guard, "item1", "ada");
    CO_ASSERT_OK(again);
    EXPECT_FALSE(*again);  // placed already
    CO_ASSERT_OK(co_await store.place(guard, "item1", "bob"));
    CO_ASSERT_OK(co_await store.mark_paid(guard, "item1", "ada", "p-1"));
    CO_ASSERT_OK(co_await store.mark_paid(guard, "item1", "ada", "p-2"));  // keeps p-1
    auto figures = co_await store.figures(guard, "item1");
    CO_ASSERT_OK(figures);
    EXPECT_EQ(figures->placed, 2);
    EXPECT_EQ(figures->paid, 1);
    auto orders = co_await store.orders(guard, "item1");
    CO_ASSERT_OK(orders);
    EXPECT_EQ(orders->size(), 2u);
    if (orders->size() == 2) {
      EXPECT_EQ((*orders)[0].user, "ada");
      EXPECT_EQ((*orders)[0].payment, "p-1");
      EXPECT_FALSE((*orders)[1].paid);
    }
  });
}

TEST(FlashsaleOrderStore, AppliesEachSaleToTheInventoryOnce) {
  OrderStoreFile file;
  ASSERT_EQ(file.open(), "");
  flashsale::OrderStore& store = *file.store;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    // Named, not a braced temporary inside the co_await (GCC PR 101367).
    const flashsale::ItemInfo kettle{
        .item = "item1", .description = "a kettle", .price_cents = 1999, .units = 10};
    CO_ASSERT_OK(co_await store.put_item(guard, kettle));
    for (const char* user : {"ada", "bob", "cy"})
      CO_ASSERT_OK(co_await store.place(guard, "item1", user));
    auto first = co_await store.apply_sale(guard, "item1", "ada");
    CO_ASSERT_OK(first);
    EXPECT_TRUE(*first);
    auto again = co_await store.apply_sale(guard, "item1", "ada");  // delivered twice
    CO_ASSERT_OK(again);
    EXPECT_FALSE(*again);
    CO_ASSERT_OK(co_await store.apply_sale(guard, "item1", "bob"));
    auto unapplied = co_await store.unapplied_sales(guard, "item1");
    CO_ASSERT_OK(unapplied);
    EXPECT_EQ(*unapplied, std::vector<std::string>{"cy"});
    // A new price and more units leave the sold count alone.
    const flashsale::ItemInfo repriced{
        .item = "item1", .description = "a kettle", .price_cents = 1499, .units = 12};
    CO_ASSERT_OK(co_await store.put_item(guard, repriced));
    auto item = co_await store.item(guard, "item1");
    CO_ASSERT_OK(item);
    if (!item->has_value()) {
      ADD_FAILURE() << "item1 is missing";
      co_return;
    }
    EXPECT_EQ((*item)->sold, 2);
    EXPECT_EQ((*item)->units, 12);
    EXPECT_EQ((*item)->price_cents, 1499);
    EXPECT_EQ((*item)->description, "a kettle");
    // A sale of an item the catalogue lacks is kept, not dropped.
    CO_ASSERT_OK(co_await store.apply_sale(guard, "item2", "ada"));
    auto other = co_await store.item(guard, "item2");
    CO_ASSERT_OK(other);
    EXPECT_TRUE(other->has_value() && (*other)->sold == 1 && (*other)->units == 0);
    auto none = co_await store.item(guard, "item3");
    CO_ASSERT_OK(none);
    EXPECT_FALSE(none->has_value());
  });
}

struct OrderRun {
  std::vector<JobId> ids;
  int succeeded = 0;
  int dead = 0;
  bool breaker_opened = false;
  flashsale::OrderFigures figures;
  std::vector<flashsale::Order> orders;
  std::int64_t sold = 0;  // the inventory, once its events have run
  std::vector<std::string> unapplied;
};

// Enqueues `users` order jobs (each user's twice: delivered at least once, run
// twice) and runs a pull node until every job has ended. With `outage`, payments
// fail until the node's breaker for `order` has opened, then come back.
void run_orders(flashsale::PaymentStub& stub_state, std::shared_ptr<flashsale::PaymentStub> stub,
                bool outage, int users, OrderRun& out,
                std::shared_ptr<flashsale::OrderHandlerCounters> counters) {
  SaleStores stores;
  ASSERT_EQ(stores.open(), "");
  Broker& broker = *stores.jobs;
  flashsale::OrderStore& store = *stores.orders;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    http::Server payments(flashsale::payment_stub_routes(stub));
    if (!payments.start(net::Address::loopback_v4(0))) {
      ADD_FAILURE() << "the payment stub did not start";
      co_return;
    }
    const std::string base = "http://127.0.0.1:" + std::to_string(payments.local_address().port());
    flashsale::OrderHandlerOptions options;
    options.payment_url = base + "/pay";
    options.recommendations_url = base + "/no-such-route";  // 404: always skipped
    options.counters = counters;
    options.events = &broker;
    NodeOptions node_options;
    node_options.id = "orders-node";
    node_options.pull = true;
    node_options.poll_interval = 10ms;
    node_options.breaker_enabled = true;
    node_options.breaker.minimum_calls = 5;
    node_options.breaker.window_size = 10;
    node_options.breaker.failure_rate_threshold = 50;
    node_options.breaker.open_duration = 200ms;
    node_options.breaker.half_open_probes = 1;
    Node node(broker, node_options);
    node.handle("order", flashsale::order_handler(store, flashsale::make_order_clients(), options));
    node.handle("inventory", flashsale::inventory_handler(store));
    if (outage) stub_state.fail_fraction.store(1.0);
    for (int i = 0; i < users * 2; ++i) {
      JobSpec spec;
      spec.type = "order";
      spec.queue = "orders";
      spec.payload = R"({"user": "user)" + std::to_string(i % users) + R"(", "item": "item1"})";
      spec.retry.max_attempts = 1000;
      spec.retry.base_delay = 5ms;
      spec.retry.max_delay = 50ms;
      auto enqueued = co_await broker.enqueue_one(guard, spec);
      CO_ASSERT_OK(enqueued);
      out.ids.push_back(enqueued->id);
    }
    auto [run_ctx, stop] = with_cancel(guard);
    auto node_task = orca::spawn([&node, ctx = run_ctx] { return node.run(ctx); });
    if (outage) {
      while (!out.breaker_opened && !guard.err()) {
        for (const TypeBreakerStatus& b : node.breakers())
          if (b.type == "order" && b.state == resilience::BreakerState::kOpen)
            out.breaker_opened = true;
        (void)co_await sleep_for(guard, 5ms);
      }
      stub_state.fail_fraction.store(0.3);
    }
    for (bool all_ended = false; !all_ended && !guard.err();) {
      all_ended = true;
      out.succeeded = out.dead = 0;
      for (JobId id : out.ids) {
        auto job = co_await broker.get(guard, id);
        CO_ASSERT_OK(job);
        if (job->state == JobState::kSucceeded) ++out.succeeded;
        if (job->state == JobState::kDead) ++out.dead;
        if (job->state != JobState::kSucceeded && job->state != JobState::kDead) all_ended = false;
      }
      if (!all_ended) (void)co_await sleep_for(guard, 20ms);
    }
    // The inventory follows through the queue: wait for its events to have run.
    for (;;) {
      auto item = co_await store.item(guard, "item1");
      CO_ASSERT_OK(item);
      out.sold = item->has_value() ? (*item)->sold : 0;
      if (out.sold >= users || guard.err()) break;
      (void)co_await sleep_for(guard, 20ms);
    }
    auto unapplied = co_await store.unapplied_sales(guard, "item1");
    CO_ASSERT_OK(unapplied);
    out.unapplied = *unapplied;
    stop();
    (void)co_await std::move(node_task);
    auto figures = co_await store.figures(guard, "item1");
    CO_ASSERT_OK(figures);
    out.figures = *figures;
    auto orders = co_await store.orders(guard, "item1");
    CO_ASSERT_OK(orders);
    out.orders = *orders;
    (void)co_await payments.shutdown(guard);
  });
}

void expect_every_order_once(const OrderRun& run, flashsale::PaymentStub& stub, int users) {
  EXPECT_EQ(run.succeeded, users * 2);
  EXPECT_EQ(run.dead, 0);
  EXPECT_EQ(run.figures.placed, users);
  EXPECT_EQ(run.figures.paid, users);
  EXPECT_EQ(stub.charge_count(), static_cast<std::size_t>(users));  // one charge an order
  for (const flashsale::Order& o : run.orders)
    EXPECT_TRUE(o.paid) << o.user;
  EXPECT_EQ(run.sold, users);  // each order's sale applied once, though its job ran twice
  EXPECT_TRUE(run.unapplied.empty());
}

TEST(FlashsaleOrders, EveryOrderIsPlacedAndChargedOnceWhileAThirdOfPaymentsFail) {
  auto stub = std::make_shared<flashsale::PaymentStub>();
  stub->fail_fraction.store(0.3);
  auto counters = std::make_shared<flashsale::OrderHandlerCounters>();
  OrderRun run;
  run_orders(*stub, stub, /*outage=*/false, 30, run, counters);
  expect_every_order_once(run, *stub, 30);
  EXPECT_GT(stub->failed.load(), 0u);     // the failures happened, and were retried
  EXPECT_EQ(counters->paid.load(), 60u);  // each job paid (the second time, the same charge)
  EXPECT_EQ(counters->recommendations_skipped.load(), 60u);  // degraded, never failed
}

TEST(FlashsaleOrders, WithPaymentsDownTheBreakerOpensAndOrdersWaitThenComplete) {
  auto stub = std::make_shared<flashsale::PaymentStub>();
  auto counters = std::make_shared<flashsale::OrderHandlerCounters>();
  OrderRun run;
  run_orders(*stub, stub, /*outage=*/true, 20, run, counters);
  EXPECT_TRUE(run.breaker_opened);
  expect_every_order_once(run, *stub, 20);
  EXPECT_GT(counters->payment_failures.load(), 0u);
}

}  // namespace
}  // namespace orca::jobs::testing
