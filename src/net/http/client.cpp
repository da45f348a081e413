// Client: a keep-alive pool of connections per host, a breaker per host and
// retries within a budget around each exchange; responses parsed by libhttp-parser.
//
// Layers of one request, outermost first:
//  1. request(): serializes the request once; runs attempt() once, or through the
//     Retry when the request is idempotent and retries are on.
//  2. attempt(): the host's breaker (when on) admits or refuses, and hears the
//     outcome (5xx as http::errc::server_error); under retries, an answer with a
//     retried status becomes an error for the Retry, with its Retry-After.
//  3. exchange(): takes a pooled connection (or dials), runs round_trip(), returns
//     the connection to the pool or closes it; resends once on a new connection
//     when a reused one failed before any response byte (idempotent only).
// Invariant of the pool: every connection in it is idle (no operation on it, its
// last response read to the end, nothing more received), and sits in the pool of
// the scheme, host and port it was dialed for.
#include "orca/net/http/client.hpp"

#include <http_parser.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <deque>
#include <iterator>
#include <mutex>
#include <span>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "message_parser.hpp"
#include "orca/net/address.hpp"
#include "orca/net/dial.hpp"
#include "orca/net/error.hpp"
#include "orca/net/http/retry_after.hpp"
#include "orca/net/stream.hpp"
#include "orca/net/tcp_stream.hpp"
#include "orca/net/tls_error.hpp"
#include "orca/resilience/errors.hpp"
#include "tracing.hpp"
#include "wire.hpp"

namespace orca::http {

namespace detail {

// A connection waiting in its host's pool, and since when.
struct IdleConnection {
  net::Stream stream;
  Clock::time_point since;
};

struct ClientState {
  explicit ClientState(ClientOptions o);

  // The most recently returned idle connection of `key` that is still usable, or
  // nothing. Expired and server-closed ones met on the way are closed.
  std::optional<net::Stream> take(const std::string& key);
  // Returns a connection that can carry another exchange to the pool of `key`.
  void put(const std::string& key, net::Stream stream);
  void close_idle();

  const ClientOptions options;
  std::unique_ptr<resilience::KeyedBreakers> breakers;  // null: no breakers
  std::unique_ptr<resilience::RetryBudget> own_budget;  // when retry->budget is null
  resilience::RetryBudget* budget = nullptr;            // the one the retries draw on
  std::unique_ptr<resilience::Retry> retry;             // null: no retries

  std::atomic<std::uint64_t> dials{0};
  std::atomic<std::uint64_t> reuses{0};
  std::atomic<std::uint64_t> stale_closed{0};
  std::atomic<std::uint64_t> stale_resends{0};

  mutable std::mutex mu;
  // Each host's idle connections, oldest first (taken from the back: LIFO). A host
  // with none has no entry, so the map stays as small as the pool.
  std::unordered_map<std::string, std::deque<IdleConnection>> pools;  // guarded by mu
  std::size_t idle_total = 0;                                         // guarded by mu
  Clock::time_point next_sweep{};                                     // guarded by mu

 private:
  // Moves the connections idle past idle_timeout of every host into `closing`, at
  // most every idle_timeout / 4 (so the cost, O(idle connections), is paid rarely).
  void sweep_locked(Clock::time_point now, std::vector<net::Stream>& closing);
};

}  // namespace detail

namespace {
// Read size for responses: large enough that a big body arrives in few reads.
constexpr std::size_t kClientReadBuffer = 16 * 1024;

std::span<const std::byte> bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// Whether an idle connection can carry a request: the socket has nothing to read
// (a peek that would block). EOF means the server closed it (its idle timeout,
// shutdown); bytes mean it sent something unasked (a TLS close_notify, a 408): either
// way the next response on it would not be ours. One non-blocking syscall: Go learns
// the same from a reader goroutine parked on every idle connection.
bool still_usable(const net::Stream& stream) noexcept {
  const int fd = stream.native_handle();
  if (fd < 0) return false;
  char byte;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// RFC 9110 9.2.2's idempotent methods, and Go's idempotency headers: a request the
// server may see twice without a different effect.
bool is_idempotent(const Request& req) {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
    if (req.method == m) return true;
  return req.headers.contains("Idempotency-Key") || req.headers.contains("X-Idempotency-Key");
}

// Whether the Connection header asks to close after this exchange.
bool says_close(const Headers& headers) {
  const std::optional<std::string_view> v = headers.get("Connection");
  if (!v) return false;
  std::string lower(*v);
  for (char& c : lower)
    c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return lower.find("close") != std::string::npos;
}

// The errors a retry can help with: the connection's and the server's (5xx). Not
// the caller's (its context), not refusals of the resilience layer, and not what
// the same request would meet again (a bad URL, a response over the limits, a
// malformed response, a refused certificate, a name that does not exist).
bool retry_may_help(std::error_code e) noexcept {
  if (e == make_error_code(orca::errc::canceled) ||
      e == make_error_code(orca::errc::deadline_exceeded))
    return false;
  if (e.category() == resilience::error_category()) return false;
  if (e == make_error_code(errc::bad_url) || e == make_error_code(errc::malformed_response) ||
      e == make_error_code(errc::response_too_large))
    return false;
  if (e == make_error_code(net::errc::no_such_host) ||
      e == make_error_code(net::errc::resolver_failure))
    return false;
  return !net::is_tls_verify_error(e);
}

bool retried_status(const ClientOptions& options, int status) {
  return std::find(options.retry_statuses.begin(), options.retry_statuses.end(), status) !=
         options.retry_statuses.end();
}

std::string pool_key(const Url& url) {
  std::string key(url.https ? "https://" : "http://");
  key.append(url.authority());
  return key;
}

}  // namespace

namespace detail {

ClientState::ClientState(ClientOptions o) : options(std::move(o)) {
  if (options.idle_timeout <= Clock::duration::zero())
    throw std::invalid_argument("ClientOptions::idle_timeout must be above 0");
  if (options.breakers) breakers = std::make_unique<resilience::KeyedBreakers>(*options.breakers);
  if (options.retry) {
    resilience::RetryOptions r = *options.retry;
    if (r.budget == nullptr) {
      own_budget = std::make_unique<resilience::RetryBudget>(options.retry_budget);
      r.budget = own_budget.get();
    }
    budget = r.budget;
    r.retryable = [narrower = std::move(r.retryable)](std::error_code e) {
      return retry_may_help(e) && (!narrower || narrower(e));
    };
    retry = std::make_unique<resilience::Retry>(std::move(r));
  }
}

void ClientState::sweep_locked(Clock::time_point now, std::vector<net::Stream>& closing) {
  if (now < next_sweep) return;
  next_sweep = now + options.idle_timeout / 4;
  for (auto it = pools.begin(); it != pools.end();) {
    std::deque<IdleConnection>& idle = it->second;
    while (!idle.empty() && now - idle.front().since >= options.idle_timeout) {
      closing.push_back(std::move(idle.front().stream));
      idle.pop_front();
      --idle_total;
    }
    it = idle.empty() ? pools.erase(it) : std::next(it);
  }
}

std::optional<net::Stream> ClientState::take(const std::string& key) {
  while (true) {
    // Declared before the lock: the connections are closed after it is released.
    std::vector<net::Stream> closing;
    std::optional<net::Stream> candidate;
    {
      std::lock_guard lock(mu);
      const Clock::time_point now = Clock::now();
      sweep_locked(now, closing);
      const auto it = pools.find(key);
      if (it == pools.end()) return std::nullopt;
      std::deque<IdleConnection>& idle = it->second;
      IdleConnection newest = std::move(idle.back());
      idle.pop_back();
      --idle_total;
      if (now - newest.since >= options.idle_timeout) {
        // The newest is too old: so are the others.
        closing.push_back(std::move(newest.stream));
        for (IdleConnection& c : idle)
          closing.push_back(std::move(c.stream));
        idle_total -= idle.size();
        idle.clear();
      } else {
        candidate = std::move(newest.stream);
      }
      if (idle.empty()) pools.erase(it);
    }
    if (!candidate) return std::nullopt;
    // Outside the lock: a syscall.
    if (still_usable(*candidate)) return candidate;
    stale_closed.fetch_add(1, std::memory_order_relaxed);
  }
}

void ClientState::put(const std::string& key, net::Stream stream) {
  std::vector<net::Stream> closing;  // closed after the lock is released
  std::lock_guard lock(mu);
  const Clock::time_point now = Clock::now();
  sweep_locked(now, closing);
  if (options.max_idle_per_host == 0 || idle_total >= options.max_idle_total) {
    closing.push_back(std::move(stream));
    return;
  }
  std::deque<IdleConnection>& idle = pools[key];
  // A full host pool drops its oldest: the one nearest the server's idle timeout.
  while (idle.size() >= options.max_idle_per_host) {
    closing.push_back(std::move(idle.front().stream));
    idle.pop_front();
    --idle_total;
  }
  idle.push_back(IdleConnection{std::move(stream), now});
  ++idle_total;
}

void ClientState::close_idle() {
  std::vector<net::Stream> closing;
  std::lock_guard lock(mu);
  for (auto& [key, idle] : pools)
    for (IdleConnection& c : idle)
      closing.push_back(std::move(c.stream));
  pools.clear();
  idle_total = 0;
}

// One request and its response on one connection.
struct RoundTrip {
  Result<Response> result = make_error_code(errc::connection_closed);
  bool reusable = false;   // the connection can carry another exchange
  bool got_bytes = false;  // some of the response arrived
};

// What every attempt of one request shares.
struct Exchange {
  Url url;
  std::string key;   // the pool's and the breaker's: "http://host:port"
  std::string wire;  // the request as sent (serialized once, sent by every attempt)
  bool head = false;
  bool idempotent = false;
  bool close = false;  // the request says "Connection: close"
};

}  // namespace detail

namespace {

Task<detail::RoundTrip> round_trip(Context ctx, net::Stream* conn, const detail::Exchange* ex,
                                   const Limits* limits) {
  detail::RoundTrip out;
  const Result<void> written = co_await conn->write_all(ctx, bytes(ex->wire));
  if (!written) {
    out.result = written.error();
    co_return out;
  }
  detail::MessageParser parser(detail::MessageParser::Kind::kResponse, *limits);
  if (ex->head) parser.expect_no_body();
  std::vector<std::byte> buf(kClientReadBuffer);
  using State = detail::MessageParser::State;
  while (true) {
    Result<std::size_t> n = co_await conn->read(ctx, std::span(buf.data(), buf.size()));
    if (!n) {
      out.result = n.error();
      co_return out;
    }
    if (*n == 0) {
      const State before = parser.state();
      parser.feed_eof();  // completes a close-delimited body
      if (parser.state() == State::kComplete) {
        out.result = parser.take_response();
      } else if (before == State::kIdle) {
        out.result = make_error_code(errc::connection_closed);
      } else {
        out.result = parser.error_status() == 413 || parser.error_status() == 431
                         ? make_error_code(errc::response_too_large)
                         : make_error_code(errc::connection_closed);
      }
      co_return out;
    }
    out.got_bytes = true;
    std::string_view data(reinterpret_cast<const char*>(buf.data()), *n);
    while (!data.empty()) {
      data.remove_prefix(parser.feed(data));
      const State st = parser.state();
      if (st == State::kError) {
        out.result = parser.error_status() == 413 || parser.error_status() == 431
                         ? make_error_code(errc::response_too_large)
                         : make_error_code(errc::malformed_response);
        co_return out;
      }
      if (st != State::kComplete) continue;
      Response resp = parser.take_response();
      if (resp.status >= 100 && resp.status < 200 && resp.status != 101) {  // interim
        if (ex->head) parser.expect_no_body();
        continue;
      }
      // Bytes after the response were not asked for: the connection is out of step.
      out.reusable =
          resp.keep_alive && data.empty() && !parser.upgraded() && resp.status != 101 && !ex->close;
      out.result = std::move(resp);
      co_return out;
    }
  }
}

}  // namespace

std::string Url::authority() const {
  return net::host_port(host, port);
}

Result<Url> parse_url(std::string_view text) {
  http_parser_url u;
  http_parser_url_init(&u);
  if (http_parser_parse_url(text.data(), text.size(), 0, &u) != 0)
    return make_error_code(errc::bad_url);
  const auto field = [&](http_parser_url_fields f) {
    return (u.field_set & (1u << f)) ? text.substr(u.field_data[f].off, u.field_data[f].len)
                                     : std::string_view();
  };
  const std::string_view schema = field(UF_SCHEMA);
  const bool https = iequals(schema, "https");
  if (!https && !iequals(schema, "http")) return make_error_code(errc::bad_url);
  Url url;
  url.https = https;
  if (https) url.port = 443;
  url.host = std::string(field(UF_HOST));
  if (url.host.empty()) return make_error_code(errc::bad_url);
  if (u.field_set & (1u << UF_PORT)) {
    if (u.port == 0) return make_error_code(errc::bad_url);
    url.port = u.port;
  }
  url.path_and_query = std::string(field(UF_PATH));
  if (url.path_and_query.empty()) url.path_and_query = std::string("/");
  if (u.field_set & (1u << UF_QUERY)) {
    url.path_and_query += '?';
    url.path_and_query += field(UF_QUERY);
  }
  return url;
}

Client::Client(ClientOptions options)
    : state_(std::make_unique<detail::ClientState>(std::move(options))) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() {
  if (state_) state_->close_idle();
}

void Client::close_idle() {
  state_->close_idle();
}

ClientStats Client::stats() const {
  ClientStats s;
  s.dials = state_->dials.load(std::memory_order_relaxed);
  s.reuses = state_->reuses.load(std::memory_order_relaxed);
  s.stale_closed = state_->stale_closed.load(std::memory_order_relaxed);
  s.stale_resends = state_->stale_resends.load(std::memory_order_relaxed);
  std::lock_guard lock(state_->mu);
  s.idle = state_->idle_total;
  return s;
}

std::shared_ptr<resilience::CircuitBreaker> Client::breaker(std::string_view url) const {
  if (!state_->breakers) return nullptr;
  Result<Url> u = parse_url(url);
  if (!u) return nullptr;
  return state_->breakers->find(pool_key(*u));
}

Task<Result<Response>> Client::get(Context ctx, std::string url) {
  Request req;
  req.method = "GET";
  req.target = std::move(url);
  Task<Result<Response>> sent = request(std::move(ctx), std::move(req));
  co_return co_await std::move(sent);
}

Task<Result<Response>> Client::post(Context ctx, std::string url, std::string body,
                                    std::string content_type) {
  Request req;
  req.method = "POST";
  req.target = std::move(url);
  req.body = std::move(body);
  if (!content_type.empty()) req.headers.set("Content-Type", std::move(content_type));
  Task<Result<Response>> sent = request(std::move(ctx), std::move(req));
  co_return co_await std::move(sent);
}

namespace {

// One attempt on a connection of the pool (or a new one), resent once on a new
// connection when a reused one failed before any response byte: the server may have
// closed it just as the request went out (its idle timeout racing our reuse), which
// the peek in take() cannot see coming.
Task<Result<Response>> exchange(Context ctx, detail::ClientState* st, const detail::Exchange* ex) {
  // A context already done would spend a pooled connection on a write it cuts.
  if (const std::error_code e = ctx.err()) co_return e;
  bool fresh_only = false;
  while (true) {
    std::optional<net::Stream> pooled;
    if (!fresh_only) pooled = st->take(ex->key);
    const bool reused = pooled.has_value();
    net::Stream conn;
    if (reused) {
      conn = std::move(*pooled);
      st->reuses.fetch_add(1, std::memory_order_relaxed);
    } else {
      Result<net::TcpStream> tcp = co_await net::dial(ctx, ex->url.host, ex->url.port);
      if (!tcp) co_return tcp.error();
      st->dials.fetch_add(1, std::memory_order_relaxed);
      Task<Result<net::Stream>> secured = net::client_stream(
          ctx, std::move(*tcp), ex->url.https ? &st->options.tls : nullptr, ex->url.host);
      Result<net::Stream> made = co_await std::move(secured);
      if (!made) co_return made.error();
      conn = std::move(*made);
    }
    Task<detail::RoundTrip> trip = round_trip(ctx, &conn, ex, &st->options.limits);
    detail::RoundTrip done = co_await std::move(trip);
    if (done.result && done.reusable) {
      st->put(ex->key, std::move(conn));
      co_return std::move(done.result);
    }
    conn.close();
    if (!done.result && reused && !done.got_bytes && ex->idempotent && !ctx.err()) {
      st->stale_resends.fetch_add(1, std::memory_order_relaxed);
      fresh_only = true;
      continue;
    }
    co_return std::move(done.result);
  }
}

// exchange() through the host's breaker, if breakers are on. With `held` (under
// retries), an answer with one of retry_statuses is kept there and returned as
// http::errc::server_error (too_many_requests for a 429), with the wait its Retry-After
// asks for in `retry_after`, so that the Retry sees a failure to retry; request()
// hands the answer back at the end.
Task<Result<Response>> attempt(Context ctx, detail::ClientState* st, const detail::Exchange* ex,
                               std::optional<Response>* held, resilience::RetryAfter* retry_after) {
  std::shared_ptr<resilience::CircuitBreaker> breaker;
  resilience::CircuitBreaker::Permit permit;
  if (st->breakers) {
    breaker = st->breakers->get(ex->key);
    permit = breaker->try_acquire();
    if (!permit) co_return make_error_code(resilience::errc::circuit_open);
  }
  const Clock::time_point start = Clock::now();
  Task<Result<Response>> sent = exchange(ctx, st, ex);
  Result<Response> r = co_await std::move(sent);
  const bool answered_5xx = r && r->status >= 500;
  if (permit) {
    const auto elapsed = Clock::now() - start;
    if (answered_5xx) {
      permit.record_error(make_error_code(errc::server_error), elapsed);
    } else if (r) {
      permit.record(true, elapsed);
    } else if (r.error() == make_error_code(orca::errc::canceled) &&
               !breaker->options().is_failure) {
      permit.release();  // our caller gave up: says nothing of the host (as call())
    } else {
      permit.record_error(r.error(), elapsed);
    }
  }
  if (held != nullptr && r && retried_status(st->options, r->status)) {
    const int status = r->status;
    if (const auto value = r->headers.get("Retry-After"); value && retry_after != nullptr)
      *retry_after = parse_retry_after(*value, std::chrono::system_clock::now());
    *held = std::move(*r);
    co_return make_error_code(status == 429 ? errc::too_many_requests : errc::server_error);
  }
  co_return r;
}

}  // namespace

namespace {

// request() without its span.
Task<Result<Response>> send_request(detail::ClientState* st, Context ctx, Request req) {
  Result<Url> url = parse_url(req.target);
  if (!url) co_return url.error();
  detail::Exchange ex;
  ex.url = std::move(*url);
  ex.key = pool_key(ex.url);
  ex.head = req.method == "HEAD";
  ex.idempotent = is_idempotent(req);
  if (st->options.max_idle_per_host == 0 && !req.headers.contains("Connection"))
    req.headers.set("Connection", "close");
  ex.close = says_close(req.headers);
  detail::write_request(req, ex.url.authority(), ex.url.path_and_query, ex.wire);

  if (!st->retry || !ex.idempotent) {
    // Counted by the budget all the same: retries are a ratio of all the calls.
    if (st->budget != nullptr) st->budget->deposit();
    Task<Result<Response>> once = attempt(std::move(ctx), st, &ex, nullptr, nullptr);
    co_return co_await std::move(once);
  }
  std::optional<Response> held;
  auto one = [st, &ex, &held](const Context& c, resilience::RetryAfter& after) {
    return attempt(c, st, &ex, &held, &after);
  };
  Task<Result<Response>> tried = st->retry->call(ctx, one);
  Result<Response> r = co_await std::move(tried);
  if (!r && held &&
      (r.error() == make_error_code(errc::server_error) ||
       r.error() == make_error_code(errc::too_many_requests)))
    co_return std::move(*held);
  co_return r;
}

}  // namespace

Task<Result<Response>> Client::request(Context ctx, Request req) {
  // Inside a trace: a client span, and its traceparent on the wire (tracing.hpp).
  trace::Span span = detail::client_span(ctx, req);
  Task<Result<Response>> sent = send_request(state_.get(), std::move(ctx), std::move(req));
  Result<Response> r = co_await std::move(sent);
  detail::end_client_span(span, r);
  co_return r;
}

}  // namespace orca::http
