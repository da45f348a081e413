// The flash sale's item pages (catalog.hpp).
#include "catalog.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "orca/resilience/ttl_cache.hpp"

namespace flashsale {

namespace {

// An item not in the catalogue is cached too (as nothing), so a storm of requests for
// an id that does not exist never reaches the store (cache penetration).
using ItemCache = orca::resilience::TtlCache<std::string, std::optional<ItemInfo>>;

struct ItemPages {
  explicit ItemPages(OrderStore& s, const ItemPageOptions& o)
      : store(s),
        cache({.ttl = o.ttl, .jitter = o.jitter, .max_entries = o.max_entries, .clock = o.clock}) {}
  OrderStore& store;
  ItemCache cache;
  orca::metrics::Registration requests, loads, entries;
};

orca::Task<orca::Result<std::optional<ItemInfo>>> read_item(OrderStore* store, orca::Context ctx,
                                                            std::string id) {
  co_return co_await store->item(ctx, std::move(id));
}

orca::Task<orca::http::Response> item_page(std::shared_ptr<ItemPages> pages, orca::Context ctx,
                                           orca::http::Request req) {
  const std::string id(req.path_param("id").value_or(""));
  if (!valid_name(id))
    co_return orca::http::Response::error(400, "an item id is 1 to 64 of [A-Za-z0-9_.:-]");
  auto load = [store = &pages->store, id](orca::Context c) { return read_item(store, c, id); };
  auto got = co_await pages->cache.get(ctx, id, std::move(load));
  if (!got) co_return orca::http::Response::error(503, "the item store is failing; try again");
  if (!got->has_value()) co_return orca::http::Response::error(404, "no such item");
  const ItemInfo& item = **got;
  const nlohmann::json body = {{"item", item.item},
                               {"description", item.description},
                               {"price_cents", item.price_cents},
                               {"units", item.units},
                               {"sold", item.sold},
                               {"remaining", std::max<std::int64_t>(0, item.units - item.sold)}};
  co_return orca::http::Response::json(200, body.dump());
}

}  // namespace

orca::http::Router item_routes(OrderStore& store, ItemPageOptions options,
                               orca::metrics::Registry* registry) {
  auto pages = std::make_shared<ItemPages>(store, options);
  if (registry != nullptr) {
    // The cache keeps its counts; a scrape reads them (no cost per request).
    ItemPages* p = pages.get();
    pages->requests = registry->callback(
        "flashsale_item_cache_requests_total", "Item page reads, by whether the cache had the item",
        orca::metrics::MetricType::kCounter, {"result"},
        [p](std::vector<orca::metrics::Sample>& out) {
          const orca::resilience::TtlCacheStats s = p->cache.stats();
          out.push_back({{"hit"}, static_cast<double>(s.hits)});
          out.push_back({{"miss"}, static_cast<double>(s.misses)});
        });
    pages->loads = registry->callback(
        "flashsale_item_cache_loads_total",
        "Reads of the order store for item pages (concurrent misses of one item share one)",
        orca::metrics::MetricType::kCounter, {}, [p](std::vector<orca::metrics::Sample>& out) {
          out.push_back({{}, static_cast<double>(p->cache.stats().loads)});
        });
    pages->entries = registry->callback(
        "flashsale_item_cache_entries", "Items held by the item page cache",
        orca::metrics::MetricType::kGauge, {}, [p](std::vector<orca::metrics::Sample>& out) {
          out.push_back({{}, static_cast<double>(p->cache.stats().size)});
        });
  }
  orca::http::Router routes;
  routes.get("/item/{id}", [pages](orca::Context ctx, orca::http::Request req) {
    return item_page(pages, std::move(ctx), std::move(req));
  });
  return routes;
}

}  // namespace flashsale
