// Subscriber: one pub/sub socket kept up by a pump task.
//
// Invariants (state under mu_ unless said otherwise):
//  - channels_/patterns_ are what the user wants subscribed; every (re)connection
//    subscribes to all of them before anything else is written.
//  - stream_ points at the live session's socket, or is null while down. It is set
//    and cleared with write_mu_ held as well, and writers use it only while holding
//    write_mu_, so the socket is alive during every write.
//  - acks_ holds, in the order the commands were written on the live socket, how
//    many confirmations each (un)subscribe command still expects and whom to tell
//    when they have all arrived. Redis confirms each name of a command separately.
//  - parked_ holds callers waiting for the next (re)connection's confirmations:
//    calls made while down, and calls in flight when the connection broke.
#include "orca/redis/subscriber.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#include "backoff.hpp"
#include "orca/runtime/spawn.hpp"
#include "orca/sync/channel.hpp"
#include "orca/sync/mutex.hpp"
#include "orca/sync/wait_group.hpp"
#include "wire.hpp"

namespace orca::redis {
namespace detail {

namespace {

using Waiter = std::shared_ptr<Channel<Result<void>>>;

enum class Change { subscribe, psubscribe, unsubscribe, punsubscribe };

const char* command_name(Change c) {
  switch (c) {
    case Change::subscribe:
      return "SUBSCRIBE";
    case Change::psubscribe:
      return "PSUBSCRIBE";
    case Change::unsubscribe:
      return "UNSUBSCRIBE";
    case Change::punsubscribe:
      return "PUNSUBSCRIBE";
  }
  return "";
}

void notify(const std::vector<Waiter>& waiters, Result<void> outcome) {
  // Each waiter channel has room for its one value: try_send cannot fail.
  for (const Waiter& w : waiters)
    (void)w->try_send(outcome);
}

}  // namespace

class SubscriberCore : public std::enable_shared_from_this<SubscriberCore> {
 public:
  SubscriberCore(RedisUrl url, SubscriberOptions options)
      : url_(std::move(url)),
        options_(options),
        messages_(std::max<std::size_t>(1, options.buffer)) {
    auto [ctx, cancel] = with_cancel(background());
    ctx_ = std::move(ctx);
    cancel_ = std::move(cancel);
  }
  ~SubscriberCore() { close(); }

  Task<Result<void>> open(Context ctx) {
    Result<Session> session = co_await dial_bounded(ctx);
    if (!session) co_return session.error();
    tasks_.add(1);
    go([self = shared_from_this(), s = std::move(*session)]() mutable {
      return self->pump(std::move(s));
    });
    co_return Result<void>();
  }

  Task<Result<void>> change(Context ctx, Change kind, std::vector<std::string> names) {
    if (names.empty()) co_return Result<void>();
    auto waiter = std::make_shared<Channel<Result<void>>>(1);
    {
      Result<Mutex::Guard> guard = co_await write_mu_.lock(ctx);
      if (!guard) co_return guard.error();
      net::Stream* stream = nullptr;
      {
        std::lock_guard lock(mu_);
        if (closed_) co_return make_error_code(errc::closed);
        std::set<std::string>& set =
            (kind == Change::subscribe || kind == Change::unsubscribe) ? channels_ : patterns_;
        const bool adding = kind == Change::subscribe || kind == Change::psubscribe;
        for (const std::string& n : names) {
          if (adding) {
            set.insert(n);
          } else {
            set.erase(n);
          }
        }
        stream = stream_;
        if (stream == nullptr) {
          // Down: an unsubscribe is done (the next connection will not subscribe
          // these names); a subscribe waits for the reconnection's confirmations.
          if (!adding) co_return Result<void>();
          parked_.push_back(waiter);
        } else {
          acks_.push_back(Ack{names.size(), {waiter}});
        }
      }
      if (stream != nullptr) {
        names.insert(names.begin(), command_name(kind));
        std::string wire;
        append_command(wire, names);
        // The subscriber's own context, not the caller's: a write cut short would
        // leave half a command on the socket. A failed write breaks the session;
        // the pump then parks this ack until the next connection confirms it.
        (void)co_await stream->write_all(ctx_, bytes_of(wire));
      }
    }
    Result<Result<void>> outcome = co_await waiter->recv(ctx);
    if (!outcome) co_return outcome.error();
    co_return *outcome;
  }

  Task<Result<Message>> next(Context ctx) {
    Result<Message> m = co_await messages_.recv(ctx);
    if (!m && m.error() == make_error_code(orca::errc::closed))
      co_return make_error_code(errc::closed);
    co_return m;
  }

  bool connected() const noexcept { return connected_.load(std::memory_order_relaxed); }
  std::uint64_t connections() const noexcept {
    return connections_.load(std::memory_order_relaxed);
  }

  void close() noexcept {
    std::vector<Waiter> waiters;
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
      waiters = take_waiters_locked();
      if (stream_ != nullptr) stream_->close();
    }
    cancel_();
    (void)messages_.close();
    notify(waiters, make_error_code(errc::closed));
  }

  Task<void> closed() {
    close();
    co_await tasks_.wait();
  }

 private:
  struct Ack {
    std::size_t remaining;
    std::vector<Waiter> waiters;
  };

  // Every waiter of acks_ and parked_, emptied. Under mu_.
  std::vector<Waiter> take_waiters_locked() {
    std::vector<Waiter> out = std::move(parked_);
    parked_.clear();
    for (Ack& a : acks_)
      out.insert(out.end(), a.waiters.begin(), a.waiters.end());
    acks_.clear();
    return out;
  }

  Task<Result<Session>> dial_bounded(Context ctx) {
    auto [bounded, cancel] = with_timeout(ctx, options_.connect_timeout);
    Result<Session> s = co_await dial(bounded, url_);
    cancel();
    co_return s;
  }

  // Keeps a session up until close(): run one, back off, dial, repeat.
  Task<void> pump(Session first) {
    Backoff backoff(options_.min_backoff, options_.max_backoff);
    std::optional<Session> session(std::move(first));
    for (;;) {
      if (session) {
        connections_.fetch_add(1, std::memory_order_relaxed);
        co_await run_session(&*session);
        session.reset();
      }
      const Result<void> slept = co_await sleep_for(ctx_, backoff.next());
      if (!slept) break;
      Result<Session> fresh = co_await dial_bounded(ctx_);
      if (fresh) {
        session.emplace(std::move(*fresh));
        backoff.reset();
      }
    }
    tasks_.done();
  }

  // Subscribes to everything recorded, then reads until the socket fails or close().
  Task<void> run_session(Session* s) {
    bool alive = co_await install(s);
    while (alive) {
      Result<Reply> reply = co_await read_reply(ctx_, s);
      if (!reply) break;
      alive = co_await handle(std::move(*reply));
    }
    // Tear down: no writer may hold the socket once stream_ is cleared.
    s->stream.close();
    Mutex::Guard guard = co_await write_mu_.lock();
    std::lock_guard lock(mu_);
    stream_ = nullptr;
    connected_.store(false, std::memory_order_relaxed);
    for (Ack& a : acks_)
      parked_.insert(parked_.end(), a.waiters.begin(), a.waiters.end());
    acks_.clear();
  }

  // Publishes the session and writes the resubscription. False if it failed.
  Task<bool> install(Session* s) {
    Mutex::Guard guard = co_await write_mu_.lock();
    std::string wire;
    std::vector<Waiter> settled;
    {
      std::lock_guard lock(mu_);
      if (closed_) co_return false;
      stream_ = &s->stream;
      connected_.store(true, std::memory_order_relaxed);
      std::vector<Waiter> parked = std::move(parked_);
      parked_.clear();
      for (int pass = 0; pass < 2; ++pass) {
        const std::set<std::string>& set = pass == 0 ? channels_ : patterns_;
        if (set.empty()) continue;
        std::vector<std::string> cmd;
        cmd.emplace_back(pass == 0 ? "SUBSCRIBE" : "PSUBSCRIBE");
        cmd.insert(cmd.end(), set.begin(), set.end());
        append_command(wire, cmd);
        acks_.push_back(Ack{set.size(), {}});
      }
      // The parked callers' names are all in the sets: the last resubscription's
      // confirmation confirms them. With nothing to subscribe, they are done.
      if (acks_.empty()) {
        settled = std::move(parked);
      } else {
        acks_.back().waiters = std::move(parked);
      }
    }
    notify(settled, Result<void>());
    if (wire.empty()) co_return true;
    const Result<void> w = co_await s->stream.write_all(ctx_, bytes_of(wire));
    co_return static_cast<bool>(w);
  }

  // One reply on the subscribed socket. False when the session should end.
  Task<bool> handle(Reply reply) {
    if (reply.is_error()) {
      // A refused (un)subscribe: it is the oldest one waiting.
      std::vector<Waiter> refused;
      {
        std::lock_guard lock(mu_);
        if (!acks_.empty()) {
          refused = std::move(acks_.front().waiters);
          acks_.pop_front();
        }
      }
      notify(refused, make_error_code(errc::server_error));
      co_return true;
    }
    if (!reply.is_array() || reply.size() < 3 || !reply[0].is_string()) co_return true;
    const std::string& kind = reply[0].str();
    if (kind == "message" || kind == "pmessage") {
      Message m;
      const bool pattern = kind == "pmessage";
      if (pattern && reply.size() < 4) co_return true;
      std::vector<Reply>& e = reply.elements();
      if (pattern) m.pattern = e[1].str();
      m.channel = e[pattern ? 2 : 1].str();
      m.payload = e[pattern ? 3 : 2].str();
      SendResult<Message> sent = co_await messages_.send(ctx_, std::move(m));
      co_return static_cast<bool>(sent);
    }
    if (kind == "subscribe" || kind == "psubscribe" || kind == "unsubscribe" ||
        kind == "punsubscribe") {
      std::vector<Waiter> confirmed;
      {
        std::lock_guard lock(mu_);
        if (!acks_.empty() && --acks_.front().remaining == 0) {
          confirmed = std::move(acks_.front().waiters);
          acks_.pop_front();
        }
      }
      notify(confirmed, Result<void>());
    }
    co_return true;
  }

  const RedisUrl url_;
  const SubscriberOptions options_;
  Context ctx_;  // cancelled by close()
  CancelFunc cancel_;
  Channel<Message> messages_;
  Mutex write_mu_;  // serialises writes on the socket (and the socket's swap)
  WaitGroup tasks_;
  std::atomic<bool> connected_{false};         // relaxed: a status report only
  std::atomic<std::uint64_t> connections_{0};  // relaxed: a counter only

  std::mutex mu_;
  std::set<std::string> channels_;
  std::set<std::string> patterns_;
  net::Stream* stream_ = nullptr;
  std::deque<Ack> acks_;
  std::vector<Waiter> parked_;
  bool closed_ = false;
};

}  // namespace detail

Subscriber::Subscriber() noexcept = default;
Subscriber::Subscriber(std::shared_ptr<detail::SubscriberCore> core) noexcept
    : core_(std::move(core)) {}
Subscriber::Subscriber(Subscriber&&) noexcept = default;
Subscriber& Subscriber::operator=(Subscriber&& other) noexcept {
  if (this != &other) {
    close();
    core_ = std::move(other.core_);
  }
  return *this;
}
Subscriber::~Subscriber() {
  close();
}

Task<Result<Subscriber>> Subscriber::connect(Context ctx, RedisUrl url, SubscriberOptions options) {
  auto core = std::make_shared<detail::SubscriberCore>(std::move(url), options);
  Result<void> opened = co_await core->open(std::move(ctx));
  if (!opened) co_return opened.error();
  co_return Subscriber(std::move(core));
}

namespace {
Task<Result<void>> change(std::shared_ptr<detail::SubscriberCore> core, Context ctx,
                          detail::Change kind, std::vector<std::string> names) {
  if (!core) co_return make_error_code(errc::closed);
  co_return co_await core->change(std::move(ctx), kind, std::move(names));
}
}  // namespace

Task<Result<void>> Subscriber::subscribe(Context ctx, std::vector<std::string> channels) {
  return change(core_, std::move(ctx), detail::Change::subscribe, std::move(channels));
}
Task<Result<void>> Subscriber::psubscribe(Context ctx, std::vector<std::string> patterns) {
  return change(core_, std::move(ctx), detail::Change::psubscribe, std::move(patterns));
}
Task<Result<void>> Subscriber::unsubscribe(Context ctx, std::vector<std::string> channels) {
  return change(core_, std::move(ctx), detail::Change::unsubscribe, std::move(channels));
}
Task<Result<void>> Subscriber::punsubscribe(Context ctx, std::vector<std::string> patterns) {
  return change(core_, std::move(ctx), detail::Change::punsubscribe, std::move(patterns));
}

Task<Result<Message>> Subscriber::next(Context ctx) {
  if (!core_) co_return make_error_code(errc::closed);
  std::shared_ptr<detail::SubscriberCore> core = core_;
  co_return co_await core->next(std::move(ctx));
}

bool Subscriber::connected() const noexcept {
  return core_ && core_->connected();
}

std::uint64_t Subscriber::connections_made() const noexcept {
  return core_ ? core_->connections() : 0;
}

void Subscriber::close() noexcept {
  if (core_) core_->close();
}

Task<void> Subscriber::closed() {
  if (!core_) co_return;
  std::shared_ptr<detail::SubscriberCore> core = core_;
  co_await core->closed();
}

}  // namespace orca::redis
