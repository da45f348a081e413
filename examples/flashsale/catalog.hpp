// The flash sale's item pages: `GET /item/{id}` answers an item's description, price
// and remaining units for display, read through an in-process cache in front of the
// order store (the reference text's advice for hot reads). Entries live for a TTL
// spread by jitter, and the misses of one item share one read of the store
// (resilience::TtlCache, SingleFlight inside), so when a hot item's entry expires
// under thousands of readers the store sees one query.
//
//   orca::http::Router routes = flashsale::item_routes(store, {.ttl = 2s}, &registry);
//
// Answers:
//   200 {"item": I, "description": D, "price_cents": P, "units": U, "sold": S,
//        "remaining": U - S}  (never below 0; the inventory follows the orders
//                             through the queue, so it lags the stock in Redis: the
//                             page is for display, the stock decides a purchase)
//   404 no such item; 400 an id that is not 1 to 64 of [A-Za-z0-9_.:-];
//   503 the store failing (not cached: the next request reads again)
//
// With a registry: flashsale_item_cache_requests_total{result="hit"|"miss"}, the
// store reads flashsale_item_cache_loads_total and the entries held
// flashsale_item_cache_entries, read from the cache's own counters at scrape time.
#pragma once
#include <chrono>
#include <cstddef>

#include "orca/metrics/registry.hpp"
#include "orca/net/http/router.hpp"
#include "orca/resilience/time_source.hpp"
#include "orders.hpp"

namespace flashsale {

struct ItemPageOptions {
  std::chrono::milliseconds ttl{std::chrono::seconds(2)};
  double jitter = 0.2;                                  // each entry lives ttl * (1 +- jitter)
  std::size_t max_entries = 10'000;                     // least recently used beyond
  const orca::resilience::TimeSource* clock = nullptr;  // null: orca::Clock (tests: a ManualClock)
};

// GET /item/{id}. `store`, and `registry` when given, must outlive the routes.
orca::http::Router item_routes(OrderStore& store, ItemPageOptions options = {},
                               orca::metrics::Registry* registry = nullptr);

}  // namespace flashsale
