// Subscriber: Redis pub/sub on a dedicated connection that resubscribes by itself
// after it breaks.
//
//   auto sub = co_await orca::redis::Subscriber::connect(ctx, url);
//   auto ok = co_await sub->subscribe(ctx, {"news"});   // confirmed by the server
//   while (auto m = co_await sub->next(ctx)) use(m->channel, m->payload);
//
// A subscribed connection can only (un)subscribe, so the subscriber owns its own
// socket (Client's connections stay free for commands). One background task keeps
// it up: it connects (with the URL's AUTH), subscribes to every channel and pattern
// recorded so far, then reads messages into a buffered orca::Channel that next()
// receives from. When the connection breaks it reconnects with backoff (see
// ClientOptions) and subscribes to the whole set again, so a subscriber outlives
// Redis restarts without help. Messages published while it was disconnected are
// lost: that is pub/sub's contract (at most once), not this client's.
//
// subscribe / psubscribe record the names first, then wait for the server's
// confirmations; if the connection is down they wait for the reconnection's
// confirmations instead. A call ended by its context still leaves the names
// recorded (they will be subscribed); unsubscribe removes them.
//
// Backpressure: when the message buffer is full (nobody calls next()) the reader
// stops reading, and Redis buffers for it up to its client-output-buffer-limit,
// after which it drops the connection (and this subscriber reconnects).
//
// Errors: next() returns the context's error, or errc::closed after close().
// (Un)subscribe return the context's error, errc::server_error if Redis refused the
// command, errc::closed after close().
// Thread safety: every member may be called from any task at once; messages are
// delivered in the order Redis sent them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/redis/url.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::redis {

namespace detail {
class SubscriberCore;
}  // namespace detail

struct Message {
  std::string channel;  // the channel it was published to
  std::string pattern;  // the pattern that matched it (psubscribe), else empty
  std::string payload;
};

struct SubscriberOptions {
  // Messages buffered for next() before the reader waits.
  std::size_t buffer = 1024;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds min_backoff{20};
  std::chrono::milliseconds max_backoff{1000};
};

class Subscriber {
 public:
  Subscriber() noexcept;
  Subscriber(Subscriber&&) noexcept;
  Subscriber& operator=(Subscriber&&) noexcept;
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;
  ~Subscriber();

  // Makes the first connection (reporting its error, like Client::connect), then
  // keeps it up in the background.
  static Task<Result<Subscriber>> connect(Context ctx, RedisUrl url,
                                          SubscriberOptions options = {});

  Task<Result<void>> subscribe(Context ctx, std::vector<std::string> channels);
  Task<Result<void>> psubscribe(Context ctx, std::vector<std::string> patterns);
  Task<Result<void>> unsubscribe(Context ctx, std::vector<std::string> channels);
  Task<Result<void>> punsubscribe(Context ctx, std::vector<std::string> patterns);

  // The next message, waiting for one.
  Task<Result<Message>> next(Context ctx);

  // Whether the connection is up right now.
  bool connected() const noexcept;
  // Times the connection has been (re)established, the first one included.
  std::uint64_t connections_made() const noexcept;

  void close() noexcept;
  Task<void> closed();

 private:
  explicit Subscriber(std::shared_ptr<detail::SubscriberCore> core) noexcept;
  std::shared_ptr<detail::SubscriberCore> core_;
};

}  // namespace orca::redis
