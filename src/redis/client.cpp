// Client: a self-healing pool of pipelined connections (protocol in client_core.hpp).
#include "orca/redis/client.hpp"

#include <algorithm>
#include <utility>

#include "backoff.hpp"
#include "client_core.hpp"
#include "core_send.hpp"
#include "orca/runtime/sleep.hpp"
#include "orca/runtime/spawn.hpp"

namespace orca::redis {
namespace detail {

ClientCore::ClientCore(RedisUrl url, ClientOptions options)
    : url_(std::move(url)), options_(options), slots_(std::max<std::size_t>(1, options.pool_size)) {
  auto [ctx, cancel] = with_cancel(background());
  ctx_ = std::move(ctx);
  cancel_ = std::move(cancel);
}

ClientCore::~ClientCore() {
  close();
}

Task<Result<std::shared_ptr<ConnectionCore>>> ClientCore::dial_one(Context ctx) {
  auto [bounded, cancel] = with_timeout(ctx, options_.connect_timeout);
  Result<Session> session = co_await dial(bounded, url_);
  cancel();
  if (!session) co_return session.error();
  auto core = std::make_shared<ConnectionCore>(std::move(*session), options_.connection);
  core->start();
  co_return core;
}

Task<Result<void>> ClientCore::open(Context ctx) {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Result<std::shared_ptr<ConnectionCore>> conn = co_await dial_one(ctx);
    if (!conn) {
      close();
      co_return conn.error();
    }
    std::lock_guard lock(mu_);
    slots_[i] = std::move(*conn);
  }
  {
    std::lock_guard lock(mu_);
    started_ = true;
  }
  maintainers_.add(static_cast<std::int64_t>(slots_.size()));
  for (std::size_t i = 0; i < slots_.size(); ++i)
    go([self = shared_from_this(), i] { return self->maintain(i); });
  co_return Result<void>();
}

Task<void> ClientCore::maintain(std::size_t slot) {
  Backoff backoff(options_.min_backoff, options_.max_backoff);
  bool stop = false;
  while (!stop) {
    std::shared_ptr<ConnectionCore> conn;
    {
      std::lock_guard lock(mu_);
      if (closed_) break;
      conn = slots_[slot];
    }
    if (conn) {
      // 1. Wait for the connection to break (close() breaks it too).
      const Context broken = conn->broken_context();
      (void)co_await broken.done();
      std::lock_guard lock(mu_);
      if (slots_[slot] == conn) slots_[slot] = nullptr;
      if (closed_) break;
    }
    // 2. Dial again, backing off, until it works or the client is closed.
    for (;;) {
      const Result<void> slept = co_await sleep_for(ctx_, backoff.next());
      if (!slept) {
        stop = true;
        break;
      }
      Result<std::shared_ptr<ConnectionCore>> fresh = co_await dial_one(ctx_);
      if (!fresh) continue;
      std::shared_ptr<ConnectionCore> installed = std::move(*fresh);
      bool was_closed = false;
      {
        std::lock_guard lock(mu_);
        was_closed = closed_;
        // 3. Install it.
        if (!was_closed) slots_[slot] = installed;
      }
      if (was_closed) {
        installed->fail(make_error_code(errc::closed));
        co_await installed->stopped();
        stop = true;
      }
      backoff.reset();
      break;
    }
  }
  maintainers_.done();
}

Result<std::shared_ptr<ConnectionCore>> ClientCore::pick() {
  std::lock_guard lock(mu_);
  if (closed_) return make_error_code(errc::closed);
  const std::size_t n = slots_.size();
  const std::size_t start = cursor_.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < n; ++i) {
    const std::shared_ptr<ConnectionCore>& c = slots_[(start + i) % n];
    if (c && !c->broken()) return c;
  }
  return make_error_code(errc::connection_lost);
}

Task<Result<Reply>> ClientCore::command(Context ctx, std::vector<std::string> args) {
  Result<std::shared_ptr<ConnectionCore>> conn = pick();
  if (!conn) co_return conn.error();
  std::shared_ptr<ConnectionCore> c = std::move(*conn);
  co_return co_await c->command(std::move(ctx), std::move(args));
}

Task<Result<std::vector<Reply>>> ClientCore::pipeline(
    Context ctx, std::vector<std::vector<std::string>> commands) {
  Result<std::shared_ptr<ConnectionCore>> conn = pick();
  if (!conn) co_return conn.error();
  std::shared_ptr<ConnectionCore> c = std::move(*conn);
  co_return co_await c->pipeline(std::move(ctx), std::move(commands));
}

std::size_t ClientCore::live() const noexcept {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& c : slots_)
    n += (c && !c->broken()) ? 1 : 0;
  return n;
}

void ClientCore::close() noexcept {
  std::vector<std::shared_ptr<ConnectionCore>> taken;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    for (auto& c : slots_)
      if (c) taken.push_back(std::move(c));
    retired_ = taken;
  }
  cancel_();
  for (const auto& c : taken)
    c->fail(make_error_code(errc::closed));
}

Task<void> ClientCore::closed() {
  close();
  std::vector<std::shared_ptr<ConnectionCore>> retired;
  {
    std::lock_guard lock(mu_);
    retired = retired_;
  }
  for (const auto& c : retired)
    co_await c->stopped();
  co_await maintainers_.wait();
}

namespace {
// A coroutine of its own, with the core in its frame: the call keeps the pool alive.
Task<Result<Reply>> send_on_pool(std::shared_ptr<ClientCore> core, Context ctx,
                                 std::vector<std::string> args) {
  if (!core) co_return make_error_code(errc::closed);
  co_return co_await core->command(std::move(ctx), std::move(args));
}
}  // namespace

CoreSend core_send(std::shared_ptr<ClientCore> core) {
  return [core = std::move(core)](Context ctx, std::string, std::vector<std::string> args) {
    return send_on_pool(core, std::move(ctx), std::move(args));
  };
}

}  // namespace detail

Client::Client() noexcept = default;
Client::Client(std::shared_ptr<detail::ClientCore> core) noexcept : core_(std::move(core)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    close();
    core_ = std::move(other.core_);
  }
  return *this;
}
Client::~Client() {
  close();
}

Task<Result<Client>> Client::connect(Context ctx, RedisUrl url, ClientOptions options) {
  auto core = std::make_shared<detail::ClientCore>(std::move(url), options);
  Result<void> opened = co_await core->open(std::move(ctx));
  if (!opened) co_return opened.error();
  co_return Client(std::move(core));
}

Task<Result<Reply>> Client::command(Context ctx, std::vector<std::string> args) {
  if (!core_) co_return make_error_code(errc::closed);
  std::shared_ptr<detail::ClientCore> core = core_;
  co_return co_await core->command(std::move(ctx), std::move(args));
}

Task<Result<std::vector<Reply>>> Client::pipeline(Context ctx,
                                                  std::vector<std::vector<std::string>> commands) {
  if (!core_) co_return make_error_code(errc::closed);
  std::shared_ptr<detail::ClientCore> core = core_;
  co_return co_await core->pipeline(std::move(ctx), std::move(commands));
}

std::size_t Client::live_connections() const noexcept {
  return core_ ? core_->live() : 0;
}

const RedisUrl& Client::url() const noexcept {
  static const RedisUrl kNone;
  return core_ ? core_->url() : kNone;
}

void Client::close() noexcept {
  if (core_) core_->close();
}

Task<void> Client::closed() {
  if (!core_) co_return;
  std::shared_ptr<detail::ClientCore> core = core_;
  co_await core->closed();
}

}  // namespace orca::redis
