// ClusterClient: slot map from CLUSTER SLOTS, one Client pool per master, MOVED and
// ASK followed (the rules are in cluster.hpp).
//
// Invariants (under mu_): owner_[slot] is an index into names_ or kNoOwner;
// names_ and owner_ are replaced together by a refresh, and a MOVED changes one
// entry of owner_ (appending to names_ if the node is new). nodes_ maps a node's
// "host:port" to its pool; pools are created on first use and live until close().
#include "orca/redis/cluster.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#include "client_core.hpp"
#include "core_send.hpp"
#include "orca/runtime/spawn.hpp"

namespace orca::redis {

std::uint16_t crc16_xmodem(std::string_view data) noexcept {
  std::uint16_t crc = 0;
  for (char ch : data) {
    crc ^= static_cast<std::uint16_t>(static_cast<unsigned char>(ch) << 8);
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<std::uint16_t>(crc << 1);
  }
  return crc;
}

std::uint16_t cluster_slot(std::string_view key) noexcept {
  // Only the first '{' counts, and only if a '}' follows with something between.
  const std::size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const std::size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close != open + 1)
      key = key.substr(open + 1, close - open - 1);
  }
  return static_cast<std::uint16_t>(crc16_xmodem(key) & (kClusterSlots - 1));
}

namespace detail {

namespace {

constexpr int kNoOwner = -1;
// Pause before resending a command that got TRYAGAIN (a migration in progress):
// long enough for a MIGRATE of a few keys to finish, short for a caller.
constexpr std::chrono::milliseconds kTryAgainPause{10};

// A redirection: "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381".
struct Redirect {
  std::uint16_t slot = 0;
  std::string authority;
};

std::optional<Redirect> parse_redirect(const std::string& text, const std::string& from) {
  const std::size_t a = text.find(' ');
  if (a == std::string::npos) return std::nullopt;
  const std::size_t b = text.find(' ', a + 1);
  if (b == std::string::npos) return std::nullopt;
  Redirect r;
  const std::string slot = text.substr(a + 1, b - a - 1);
  if (slot.empty() || slot.size() > 5 ||
      !std::all_of(slot.begin(), slot.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  const int n = std::stoi(slot);
  if (n >= kClusterSlots) return std::nullopt;
  r.slot = static_cast<std::uint16_t>(n);
  r.authority = text.substr(b + 1);
  // Redis 7 may leave the host out (":6381") when the node's endpoint is unknown:
  // it means the host of the node that answered.
  if (!r.authority.empty() && r.authority.front() == ':')
    r.authority.insert(0, from.substr(0, from.rfind(':')));
  if (r.authority.empty()) return std::nullopt;
  return r;
}

}  // namespace

class ClusterCore : public std::enable_shared_from_this<ClusterCore> {
 public:
  ClusterCore(std::vector<RedisUrl> seeds, ClusterOptions options)
      : seeds_(std::move(seeds)), options_(options), owner_(kClusterSlots, kNoOwner) {
    auto [ctx, cancel] = with_cancel(background());
    ctx_ = std::move(ctx);
    cancel_ = std::move(cancel);
  }
  ~ClusterCore() { close(); }

  Task<Result<void>> refresh(Context ctx) {
    std::vector<std::string> candidates;
    {
      std::lock_guard lock(mu_);
      for (const auto& [name, pool] : nodes_)
        candidates.push_back(name);
    }
    for (const RedisUrl& seed : seeds_)
      candidates.push_back(seed.authority());
    std::error_code last = make_error_code(errc::slot_not_covered);
    for (const std::string& candidate : candidates) {
      Result<std::shared_ptr<ClientCore>> pool = co_await node(ctx, candidate);
      if (!pool) {
        last = pool.error();
        if (ctx.is_done()) co_return last;
        continue;
      }
      std::vector<std::string> cmd;
      cmd.emplace_back("CLUSTER");
      cmd.emplace_back("SLOTS");
      std::shared_ptr<ClientCore> p = std::move(*pool);
      Result<Reply> slots = co_await p->command(ctx, std::move(cmd));
      if (!slots) {
        last = slots.error();
        if (ctx.is_done()) co_return last;
        continue;
      }
      if (!slots->is_array()) {
        last = make_error_code(slots->is_error() ? errc::server_error : errc::unexpected_reply);
        continue;
      }
      std::vector<int> owner(kClusterSlots, kNoOwner);
      std::vector<std::string> names;
      if (!parse_slots(*slots, candidate, owner, names)) {
        last = make_error_code(errc::unexpected_reply);
        continue;
      }
      {
        std::lock_guard lock(mu_);
        owner_ = std::move(owner);
        names_ = names;
      }
      // Open the pools now rather than on the first command to each master; a
      // master that does not answer is reported by the commands routed to it.
      for (const std::string& name : names)
        (void)co_await node(ctx, name);
      co_return Result<void>();
    }
    co_return last;
  }

  Task<Result<Reply>> command(Context ctx, std::string key, std::vector<std::string> args) {
    const std::uint16_t slot = cluster_slot(key);
    std::string target = master_of(slot);
    if (target.empty()) {
      const Result<void> refreshed = co_await refresh(ctx);
      target = master_of(slot);
      if (target.empty())
        co_return refreshed ? Error(make_error_code(errc::slot_not_covered)) : refreshed.error();
    }
    bool asking = false;
    for (int redirects = 0;; ++redirects) {
      Result<std::shared_ptr<ClientCore>> pool = co_await node(ctx, target);
      if (!pool) {
        refresh_in_background();  // the master may have failed over
        co_return pool.error();
      }
      std::shared_ptr<ClientCore> p = std::move(*pool);
      Reply reply;
      if (asking) {
        // ASKING and the command back to back on one connection: ASKING admits only
        // the next command on the connection that sent it.
        std::vector<std::vector<std::string>> pair;
        pair.push_back({"ASKING"});
        pair.push_back(args);
        Result<std::vector<Reply>> replies = co_await p->pipeline(ctx, std::move(pair));
        if (!replies) co_return replies.error();
        reply = std::move(replies->back());
      } else {
        Result<Reply> r = co_await p->command(ctx, args);
        if (!r) {
          if (r.error() == make_error_code(errc::connection_lost)) refresh_in_background();
          co_return r.error();
        }
        reply = std::move(*r);
      }
      if (!reply.is_error()) co_return reply;
      const bool moved = reply.is_error_kind("MOVED");
      const bool ask = reply.is_error_kind("ASK");
      const bool try_again = reply.is_error_kind("TRYAGAIN");
      if (!moved && !ask && !try_again) co_return reply;
      if (redirects >= options_.max_redirects) co_return make_error_code(errc::too_many_redirects);
      if (try_again) {
        const Result<void> slept = co_await sleep_for(ctx, kTryAgainPause);
        if (!slept) co_return slept.error();
        continue;
      }
      std::optional<Redirect> to = parse_redirect(reply.str(), target);
      if (!to) co_return make_error_code(errc::protocol_error);
      target = to->authority;
      asking = ask;
      if (moved) {
        set_owner(to->slot, target);
        refresh_in_background();
      }
    }
  }

  Task<Result<Reply>> command_on(Context ctx, std::string authority,
                                 std::vector<std::string> args) {
    Result<std::shared_ptr<ClientCore>> pool = co_await node(ctx, std::move(authority));
    if (!pool) co_return pool.error();
    std::shared_ptr<ClientCore> p = std::move(*pool);
    co_return co_await p->command(std::move(ctx), std::move(args));
  }

  std::string master_of(std::uint16_t slot) const {
    std::lock_guard lock(mu_);
    const int i = owner_[slot % kClusterSlots];
    return i == kNoOwner ? std::string() : names_[static_cast<std::size_t>(i)];
  }

  std::vector<std::string> masters() const {
    std::set<std::string> out;
    std::lock_guard lock(mu_);
    for (int i : owner_)
      if (i != kNoOwner) out.insert(names_[static_cast<std::size_t>(i)]);
    return {out.begin(), out.end()};
  }

  void close() noexcept {
    std::vector<std::shared_ptr<ClientCore>> pools;
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
      for (auto& [name, pool] : nodes_)
        pools.push_back(pool);
      retired_ = pools;
      nodes_.clear();
    }
    cancel_();
    for (const auto& p : pools)
      p->close();
  }

  Task<void> closed() {
    close();
    std::vector<std::shared_ptr<ClientCore>> pools;
    {
      std::lock_guard lock(mu_);
      pools = retired_;
    }
    co_await background_.wait();
    for (const auto& p : pools)
      co_await p->closed();
  }

 private:
  // The pool to `authority`, opened on first use.
  Task<Result<std::shared_ptr<ClientCore>>> node(Context ctx, std::string authority) {
    {
      std::lock_guard lock(mu_);
      if (closed_) co_return make_error_code(errc::closed);
      auto it = nodes_.find(authority);
      if (it != nodes_.end()) co_return it->second;
    }
    std::string text("redis://");
    text.append(authority);
    Result<RedisUrl> url = RedisUrl::parse(text);
    if (!url) co_return url.error();
    // A node the slot map names is reached as the seeds are: same login, and TLS
    // with the same CAs and client certificate for rediss:// seeds.
    if (!seeds_.empty()) {
      url->user = seeds_.front().user;
      url->password = seeds_.front().password;
      url->tls = seeds_.front().tls;
      url->tls_config = seeds_.front().tls_config;
    }
    auto pool = std::make_shared<ClientCore>(std::move(*url), options_.node);
    const Result<void> opened = co_await pool->open(ctx);
    if (!opened) co_return opened.error();
    std::shared_ptr<ClientCore> winner;
    bool closed = false;
    {
      std::lock_guard lock(mu_);
      closed = closed_;
      if (!closed) winner = nodes_.try_emplace(authority, pool).first->second;
    }
    if (closed || winner != pool) co_await pool->closed();  // lost a race: drop ours
    if (closed) co_return make_error_code(errc::closed);
    co_return winner;
  }

  static bool parse_slots(const Reply& slots, const std::string& asked, std::vector<int>& owner,
                          std::vector<std::string>& names) {
    for (const Reply& range : slots.elements()) {
      if (!range.is_array() || range.size() < 3 || !range[0].is_integer() ||
          !range[1].is_integer() || !range[2].is_array() || range[2].size() < 2)
        return false;
      const long long first = range[0].integer();
      const long long last = range[1].integer();
      if (first < 0 || last >= kClusterSlots || first > last) return false;
      const Reply& master = range[2];
      if (!master[1].is_integer()) return false;
      // An empty or "?" host: the node did not say; it is the one we asked.
      std::string host = master[0].is_string() ? master[0].str() : std::string();
      if (host.empty() || host == "?") host = asked.substr(0, asked.rfind(':'));
      // Appended piece by piece: GCC 12 -Wrestrict false positive on operator+.
      std::string name;
      const bool v6 = host.find(':') != std::string::npos && host.front() != '[';
      if (v6) name.push_back('[');
      name.append(host);
      if (v6) name.push_back(']');
      name.push_back(':');
      name.append(std::to_string(master[1].integer()));
      auto at = std::find(names.begin(), names.end(), name);
      const int index = static_cast<int>(at - names.begin());
      if (at == names.end()) names.push_back(name);
      for (long long s = first; s <= last; ++s)
        owner[static_cast<std::size_t>(s)] = index;
    }
    return true;
  }

  void set_owner(std::uint16_t slot, const std::string& authority) {
    std::lock_guard lock(mu_);
    auto at = std::find(names_.begin(), names_.end(), authority);
    const int index = static_cast<int>(at - names_.begin());
    if (at == names_.end()) names_.push_back(authority);
    owner_[slot] = index;
  }

  // One refresh at a time, in its own task: many callers seeing MOVED at once cost
  // one CLUSTER SLOTS.
  void refresh_in_background() {
    if (refreshing_.exchange(true, std::memory_order_acq_rel)) return;
    {
      std::lock_guard lock(mu_);
      if (closed_) {
        refreshing_.store(false, std::memory_order_release);
        return;
      }
      background_.add(1);
    }
    go([self = shared_from_this()]() -> Task<void> {
      (void)co_await self->refresh(self->ctx_);
      self->refreshing_.store(false, std::memory_order_release);
      self->background_.done();
    });
  }

  const std::vector<RedisUrl> seeds_;
  const ClusterOptions options_;
  Context ctx_;  // cancelled by close(): stops a background refresh
  CancelFunc cancel_;
  WaitGroup background_;
  // Whether a background refresh runs. acq_rel/release: pairs one refresh's end with
  // the next one's start (nothing else is published through it).
  std::atomic<bool> refreshing_{false};

  mutable std::mutex mu_;
  std::vector<int> owner_;
  std::vector<std::string> names_;
  std::map<std::string, std::shared_ptr<ClientCore>> nodes_;
  std::vector<std::shared_ptr<ClientCore>> retired_;
  bool closed_ = false;
};

// A coroutine of its own, with the core in its frame: the call keeps the pool alive.
Task<Result<Reply>> send_on_cluster(std::shared_ptr<ClusterCore> core, Context ctx,
                                    std::string route, std::vector<std::string> args) {
  if (!core) co_return make_error_code(errc::closed);
  co_return co_await core->command(std::move(ctx), std::move(route), std::move(args));
}

CoreSend core_send(std::shared_ptr<ClusterCore> core) {
  return [core = std::move(core)](Context ctx, std::string route, std::vector<std::string> args) {
    return send_on_cluster(core, std::move(ctx), std::move(route), std::move(args));
  };
}

}  // namespace detail

ClusterClient::ClusterClient() noexcept = default;
ClusterClient::ClusterClient(std::shared_ptr<detail::ClusterCore> core) noexcept
    : core_(std::move(core)) {}
ClusterClient::ClusterClient(ClusterClient&&) noexcept = default;
ClusterClient& ClusterClient::operator=(ClusterClient&& other) noexcept {
  if (this != &other) {
    close();
    core_ = std::move(other.core_);
  }
  return *this;
}
ClusterClient::~ClusterClient() {
  close();
}

Task<Result<ClusterClient>> ClusterClient::connect(Context ctx, std::vector<RedisUrl> seeds,
                                                   ClusterOptions options) {
  if (seeds.empty()) co_return make_error_code(errc::invalid_url);
  for (const RedisUrl& s : seeds)
    if (s.db != 0) co_return make_error_code(errc::invalid_url);
  auto core = std::make_shared<detail::ClusterCore>(std::move(seeds), options);
  const Result<void> loaded = co_await core->refresh(ctx);
  if (!loaded) {
    co_await core->closed();
    co_return loaded.error();
  }
  co_return ClusterClient(std::move(core));
}

Task<Result<Reply>> ClusterClient::command(Context ctx, std::string key,
                                           std::vector<std::string> args) {
  if (!core_) co_return make_error_code(errc::closed);
  std::shared_ptr<detail::ClusterCore> core = core_;
  co_return co_await core->command(std::move(ctx), std::move(key), std::move(args));
}

Task<Result<Reply>> ClusterClient::command_on(Context ctx, std::string authority,
                                              std::vector<std::string> args) {
  if (!core_) co_return make_error_code(errc::closed);
  std::shared_ptr<detail::ClusterCore> core = core_;
  co_return co_await core->command_on(std::move(ctx), std::move(authority), std::move(args));
}

Task<Result<void>> ClusterClient::refresh(Context ctx) {
  if (!core_) co_return make_error_code(errc::closed);
  std::shared_ptr<detail::ClusterCore> core = core_;
  co_return co_await core->refresh(std::move(ctx));
}

std::string ClusterClient::master_of(std::uint16_t slot) const {
  return core_ ? core_->master_of(slot) : std::string();
}

std::vector<std::string> ClusterClient::masters() const {
  return core_ ? core_->masters() : std::vector<std::string>();
}

void ClusterClient::close() noexcept {
  if (core_) core_->close();
}

Task<void> ClusterClient::closed() {
  if (!core_) co_return;
  std::shared_ptr<detail::ClusterCore> core = core_;
  co_await core->closed();
}

}  // namespace orca::redis
