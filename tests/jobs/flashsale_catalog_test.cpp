// The flash sale's item pages (examples/flashsale/catalog.hpp) over HTTP: a page
// shows the catalogue's item and its inventory; repeated reads are cache hits that
// leave the order store alone, until the entry's lifetime has passed (a ManualClock
// moves it); an id the catalogue lacks is a 404 that is cached too; a malformed id is
// a 400; the cache's counts are on the registry.
#include "catalog.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>

#include "flashsale_test_support.hpp"
#include "jobs_test_support.hpp"
#include "orca/metrics/registry.hpp"
#include "orca/net/http/client.hpp"
#include "orca/net/http/server.hpp"
#include "orca/resilience/time_source.hpp"
#include "support/result_assertions.hpp"

namespace orca::jobs::testing {
namespace {

TEST(FlashsaleCatalog, ItemPagesReadThroughTheCacheUntilTheirEntryExpires) {
  OrderStoreFile file;
  ASSERT_EQ(file.open(), "");
  flashsale::OrderStore& store = *file.store;
  resilience::ManualClock clock;
  metrics::Registry registry;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    // Named, not a braced temporary inside the co_await (GCC PR 101367).
    const flashsale::ItemInfo kettle{
        .item = "item1", .description = "a kettle", .price_cents = 1999, .units = 10};
    CO_ASSERT_OK(co_await store.put_item(guard, kettle));
    CO_ASSERT_OK(co_await store.apply_sale(guard, "item1", "ada"));
    http::Server server(flashsale::item_routes(
        store, {.ttl = 10s, .jitter = 0.2, .max_entries = 100, .clock = &clock}, &registry));
    if (!server.start(net::Address::loopback_v4(0))) {
      ADD_FAILURE() << "the item pages did not start";
      co_return;
    }
    const std::string base = "http://127.0.0.1:" + std::to_string(server.local_address().port());
    http::Client client;
    auto remaining = [&](Context ctx) -> Task<std::int64_t> {
      auto r = co_await client.get(ctx, base + "/item/item1");
      if (!r || r->status != 200) {
        ADD_FAILURE() << "GET /item/item1: " << (r ? std::to_string(r->status) : "no answer");
        co_return -1;
      }
      const nlohmann::json page = nlohmann::json::parse(r->body, nullptr, false);
      EXPECT_EQ(page.value("description", ""), "a kettle");
      EXPECT_EQ(page.value("price_cents", 0), 1999);
      co_return page.value("remaining", std::int64_t{-1});
    };

    EXPECT_EQ(co_await remaining(guard), 9);  // a miss: read from the store
    CO_ASSERT_OK(co_await store.apply_sale(guard, "item1", "bob"));
    for (int i = 0; i < 20; ++i)
      EXPECT_EQ(co_await remaining(guard), 9);  // hits: the store is not read
    clock.advance(13s);                         // past 10 s * (1 + 0.2)
    EXPECT_EQ(co_await remaining(guard), 8);    // read again

    for (int i = 0; i < 3; ++i) {
      auto missing = co_await client.get(guard, base + "/item/nothing");
      CO_ASSERT_OK(missing);
      EXPECT_EQ(missing->status, 404);
    }
    auto bad = co_await client.get(guard, base + "/item/a%20b");
    CO_ASSERT_OK(bad);
    EXPECT_EQ(bad->status, 400);

    // Two loads of item1 and one of "nothing"; the rest were hits.
    const std::string text = registry.render(metrics::Format::kPrometheusText);
    EXPECT_NE(text.find("flashsale_item_cache_loads_total 3"), std::string::npos) << text;
    EXPECT_NE(text.find("flashsale_item_cache_requests_total{result=\"hit\"} 22"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("flashsale_item_cache_requests_total{result=\"miss\"} 3"),
              std::string::npos)
        << text;
    (void)co_await server.shutdown(guard);
  });
}

}  // namespace
}  // namespace orca::jobs::testing
