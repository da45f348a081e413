// The flash sale's reconciliation (reconcile.hpp).
#include "reconcile.hpp"

#include <nlohmann/json.hpp>

#include <set>
#include <utility>

#include "orca/jobs/errors.hpp"
#include "orca/trace/log.hpp"
#include "stock.hpp"

namespace flashsale {

orca::Task<orca::Result<ReconcileReport>> reconcile(orca::Context ctx, orca::redis::Client& redis,
                                                    OrderStore& store, orca::jobs::Broker& orders,
                                                    std::string item, std::string orders_queue,
                                                    std::string inventory_queue) {
  auto buyers = co_await read_buyers(ctx, redis, item);
  if (!buyers) co_return buyers.error();
  auto stored = co_await store.orders(ctx, item);
  if (!stored) co_return stored.error();
  std::set<std::string> ordered;
  for (const Order& o : *stored)
    ordered.insert(o.user);
  const std::set<std::string> reserved(buyers->begin(), buyers->end());

  ReconcileReport report;
  report.buyers = static_cast<std::int64_t>(reserved.size());
  report.orders = static_cast<std::int64_t>(ordered.size());
  for (const std::string& user : ordered)
    if (!reserved.contains(user)) report.orphans.push_back(user);
  for (const std::string& user : reserved) {
    if (ordered.contains(user)) continue;
    orca::jobs::JobSpec spec = order_job(item, user, orders_queue);
    auto enqueued = co_await orders.enqueue_one(ctx, std::move(spec));
    if (!enqueued) co_return enqueued.error();
    ++(enqueued->duplicate ? report.in_flight : report.repaired);
  }
  report.drift = report.buyers - report.orders - report.in_flight;

  auto unapplied = co_await store.unapplied_sales(ctx, item);
  if (!unapplied) co_return unapplied.error();
  for (const std::string& user : *unapplied) {
    orca::jobs::JobSpec spec = inventory_job(item, user, inventory_queue);
    auto enqueued = co_await orders.enqueue_one(ctx, std::move(spec));
    if (!enqueued) co_return enqueued.error();
    ++(enqueued->duplicate ? report.sales_in_flight : report.sales_repaired);
  }
  report.inventory_drift = report.sales_repaired;
  co_return report;
}

namespace {

struct Reconciler {
  orca::redis::Client& redis;
  OrderStore& store;
  orca::jobs::Broker& orders;
  orca::metrics::Family<orca::metrics::Gauge>* drift = nullptr;
  orca::metrics::Family<orca::metrics::Gauge>* inventory_drift = nullptr;
  orca::metrics::Family<orca::metrics::Counter>* repaired = nullptr;

  static orca::Task<orca::Result<void>> run(std::shared_ptr<Reconciler> r, orca::Context ctx,
                                            orca::jobs::Job job) {
    const nlohmann::json j = nlohmann::json::parse(job.spec.payload, nullptr, false);
    if (!j.is_object() || !j.contains("item") || !j["item"].is_string())
      co_return orca::Error(make_error_code(orca::jobs::errc::permanent),
                            "reconcile payload: expected {\"item\": I}");
    const std::string item = j["item"].get<std::string>();
    auto report = co_await reconcile(ctx, r->redis, r->store, r->orders, item);
    if (!report) co_return report.error();
    if (r->drift != nullptr) {
      r->drift->with({item}).set(static_cast<double>(report->drift));
      r->inventory_drift->with({item}).set(static_cast<double>(report->inventory_drift));
      if (report->repaired > 0)
        r->repaired->with({item, "order"}).inc(static_cast<std::uint64_t>(report->repaired));
      if (report->sales_repaired > 0)
        r->repaired->with({item, "inventory"})
            .inc(static_cast<std::uint64_t>(report->sales_repaired));
    }
    const std::string line =
        "flashsale: reconcile " + item + ": " + std::to_string(report->buyers) + " buyers, " +
        std::to_string(report->orders) + " orders, " + std::to_string(report->in_flight) +
        " in flight, " + std::to_string(report->repaired) + " order jobs enqueued again, " +
        std::to_string(report->orphans.size()) + " orders without a reservation, drift " +
        std::to_string(report->drift) + "; inventory: " + std::to_string(report->sales_in_flight) +
        " sales on the way, " + std::to_string(report->sales_repaired) + " sent again";
    const bool clean =
        report->drift == 0 && report->orphans.empty() && report->inventory_drift == 0;
    orca::trace::log(clean ? orca::trace::LogLevel::kInfo : orca::trace::LogLevel::kWarn, line);
    co_return orca::Result<void>{};
  }
};

}  // namespace

orca::jobs::Handler reconcile_handler(orca::redis::Client& redis, OrderStore& store,
                                      orca::jobs::Broker& orders,
                                      orca::metrics::Registry* registry) {
  auto r = std::make_shared<Reconciler>(Reconciler{redis, store, orders});
  if (registry != nullptr) {
    r->drift = &registry->gauge_family(
        "flashsale_reconcile_drift",
        "Reservations in Redis minus orders stored minus orders in flight, at the last "
        "reconciliation",
        {"item"});
    r->inventory_drift = &registry->gauge_family(
        "flashsale_reconcile_inventory_drift",
        "Orders stored whose sale was neither in the inventory nor on its way there, at the last "
        "reconciliation",
        {"item"});
    r->repaired = &registry->counter_family(
        "flashsale_reconcile_repaired_total",
        "Jobs the reconciliation enqueued again: order jobs for reservations without an order, "
        "inventory events for orders without a sale",
        {"item", "what"});
  }
  return [r](orca::Context ctx, orca::jobs::Job job) {
    return Reconciler::run(r, std::move(ctx), std::move(job));
  };
}

}  // namespace flashsale
