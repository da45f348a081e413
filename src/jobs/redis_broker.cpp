// RedisBroker: every Broker call as Lua scripts over one queue's keys each
// (redis_broker.hpp has the key layout, lua/*.lua the scripts).
//
// Calls whose keys cannot be known up front (which jobs a pull claim takes, which
// jobs are due, whose leases expired) read their candidates first and then run a
// script that declares the candidates' keys and re-checks each one, skipping those
// that changed in between: the contract's "an item whose precondition no longer
// holds is skipped".
//
// This file: making and closing the broker, the shared rate limiter and the events
// (watch); the rest is by concern in redis_broker_{reads,transitions,maintenance}.cpp.
#include "redis_broker_impl.hpp"

namespace orca::jobs {

namespace {
// How often watch() looks whether its subscriber made a new connection while no
// message came.
constexpr auto kConnectionCheck = std::chrono::seconds(1);
}  // namespace

RedisBroker::RedisBroker(RedisBrokerOptions options, std::unique_ptr<Impl> impl)
    : options_(std::move(options)), impl_(std::move(impl)) {}

RedisBroker::~RedisBroker() {
  if (impl_->single) impl_->single->close();
  if (impl_->cluster) impl_->cluster->close();
}

Task<void> RedisBroker::closed() {
  if (impl_->single) co_await impl_->single->closed();
  if (impl_->cluster) co_await impl_->cluster->closed();
}

std::unique_ptr<resilience::Limiter> RedisBroker::shared_rate_limiter(
    const resilience::RateLimiterOptions& options) {
  Impl& m = *impl_;
  std::string prefix = options_.prefix + ":limit:";
  if (m.cluster) return std::make_unique<redis::FleetRateLimiter>(*m.cluster, prefix, options);
  return std::make_unique<redis::FleetRateLimiter>(*m.single, prefix, options);
}

Task<Result<std::unique_ptr<RedisBroker>>> RedisBroker::connect(Context ctx,
                                                                RedisBrokerOptions options) {
  auto url = redis::RedisUrl::parse(options.url);
  if (!url) {
    std::string why("bad Redis URL ");
    why.append(options.url).append(": ").append(url.error().detail());
    co_return Error(make_error_code(errc::invalid_job), std::move(why));
  }
  if (options.prefix.empty() || options.prefix.find_first_of("{}") != std::string::npos)
    co_return Error(make_error_code(errc::invalid_job),
                    "the key prefix must be non-empty and without braces");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->meta = options.prefix + ":{" + options.prefix + "}:";
  if (options.cluster) {
    redis::ClusterOptions co;
    co.node.pool_size = options.connections;
    std::vector<redis::RedisUrl> seeds(1, *url);
    auto c = co_await redis::ClusterClient::connect(ctx, std::move(seeds), co);
    if (!c)
      co_return Impl::fail("cannot reach the Redis cluster at " + url->to_string() + ": " +
                           c.error().message());
    impl->cluster.emplace(std::move(*c));
  } else {
    redis::ClientOptions co;
    co.pool_size = options.connections;
    auto c = co_await redis::Client::connect(ctx, *url, co);
    if (!c)
      co_return Impl::fail("cannot reach Redis at " + url->to_string() + ": " +
                           c.error().message());
    impl->single.emplace(std::move(*c));
  }
  co_return std::unique_ptr<RedisBroker>(new RedisBroker(std::move(options), std::move(impl)));
}

// --- nodes -----------------------------------------------------------------------------

Task<Result<void>> RedisBroker::watch(Context ctx, BrokerEvents events) {
  auto url = redis::RedisUrl::parse(options_.url);
  if (!url) co_return make_error_code(errc::invalid_job);
  const std::string cancel_channel = impl_->cancel_channel();
  const std::string work_channel = options_.prefix + ":work";
  // The subscriber heals itself once connected; until the first connection, retry.
  std::optional<redis::Subscriber> sub;
  while (!sub) {
    auto s = co_await redis::Subscriber::connect(ctx, *url);
    if (s) {
      sub.emplace(std::move(*s));
      break;
    }
    auto slept = co_await sleep_for(ctx, std::chrono::seconds(1));
    if (!slept) co_return Result<void>{};
  }
  // What is published while the subscription is not up (before its first confirmation,
  // or while a broken connection is made again) is lost for good, so each time it is
  // up again events.listening says so, for the node to read what it missed. "Up" means
  // a subscribe confirmed with no new connection made meanwhile. The subscriber also
  // resubscribes by itself after a reconnection, but tells no one, so watch() does it
  // again on each new connection to know when.
  const Strings channels = strs(cancel_channel, work_channel);
  std::optional<std::uint64_t> listening_on;  // the connection confirmed last
  while (!ctx.is_done()) {
    if (const std::uint64_t made = sub->connections_made(); listening_on != made) {
      auto subscribed = co_await sub->subscribe(ctx, channels);
      if (!subscribed) {
        // Not subscribed yet (Redis away at the start): try again shortly.
        auto slept = co_await sleep_for(ctx, std::chrono::milliseconds(200));
        if (!slept) break;
        continue;
      }
      if (sub->connections_made() != made) continue;  // a new one meanwhile: on it
      listening_on = made;
      if (events.listening) events.listening();
    }
    // Bounded, to notice a new connection without waiting for a message.
    auto [wait, stop] = with_timeout(ctx, kConnectionCheck);
    auto msg = co_await sub->next(wait);
    stop();
    if (!msg) {
      if (msg.error() == orca::errc::deadline_exceeded && !ctx.is_done()) continue;
      // The subscriber reconnects and resubscribes by itself; do not spin meanwhile.
      auto slept = co_await sleep_for(ctx, std::chrono::milliseconds(50));
      if (!slept) break;
      continue;
    }
    if (msg->channel == work_channel) {
      if (!msg->payload.empty()) impl_->note_queue(msg->payload);
      if (events.work_pending) events.work_pending();
      continue;
    }
    // "<job id> <node>"; a message that does not start with a job id is ignored (the
    // heartbeat reports the cancel request anyway).
    const auto id = parse_i64(std::string_view(msg->payload).substr(0, msg->payload.find(' ')),
                              "cancel message");
    if (id && *id > 0 && events.cancel_requested) events.cancel_requested(*id);
  }
  co_await sub->closed();
  co_return Result<void>{};
}

}  // namespace orca::jobs
