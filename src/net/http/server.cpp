// Server: the accept loop, and per connection a reader task and a responder task
// (protocol in server.hpp).
//
// Invariants, per connection, under Connection::mu:
//  - in_flight counts requests whose first byte the reader has seen and whose
//    response the responder has not finished writing; the connection is idle when
//    it is 0;
//  - once `closing` is set, the reader starts no new request (it only watches for
//    the peer leaving) and the responder ends after its current response.
// Server-wide, under ServerState::mu: once `shutting_down` is set no connection is
// added, so the shutdown's snapshot plus "each responder checks the flag after each
// response" covers every connection.
#include "orca/net/http/server.hpp"

#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "message_parser.hpp"
#include "orca/net/stream.hpp"
#include "orca/net/tcp_listener.hpp"
#include "orca/net/tcp_stream.hpp"
#include "orca/net/tls_stream.hpp"
#include "orca/runtime/spawn.hpp"
#include "orca/sync/channel.hpp"
#include "orca/sync/wait_group.hpp"
#include "wire.hpp"

namespace orca::http {

namespace detail {

namespace {

// Read buffer per connection. 4 KiB holds a typical request whole (Go's bufio
// default too) while keeping 10,000 idle connections at 40 MiB.
constexpr std::size_t kReadBuffer = 4096;
// After its last response a connection shuts down its write side and reads (and
// drops) what the client still sends, for at most this long, before closing: a
// close with unread input sends RST, which can destroy the response in flight
// (Go's rstAvoidanceDelay is 500 ms).
constexpr auto kLinger = std::chrono::milliseconds(500);
// Pause after a failed accept (EMFILE...) before trying again; Go starts at 5 ms.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(5);

// What the reader hands the responder: a request, or the refusal of a bad one.
struct Incoming {
  Request request;
  int error_status = 0;  // 400, 413, 431, 505: answer with error_text and close
  std::string error_text;
};

}  // namespace

struct Connection {
  Connection(net::Stream s, const Context& parent, std::size_t pipelined)
      : stream(std::move(s)), queue(pipelined) {
    auto [c, cancel_c] = with_cancel(parent);
    ctx = std::move(c);
    cancel = std::move(cancel_c);
    auto [p, cancel_p] = with_cancel(ctx);
    peer_ctx = std::move(p);
    peer_gone = std::move(cancel_p);
  }

  net::Stream stream;  // TCP; TLS once serve_tls_connection's handshake is done
  std::string remote;
  // Bounds every read and write; cancelled to end the connection (idle close,
  // shutdown cut, end of the responder).
  Context ctx;
  CancelFunc cancel;
  // Parent of the handlers' contexts; cancelled when the reader stops (the peer
  // left, or the connection ends).
  Context peer_ctx;
  CancelFunc peer_gone;
  Channel<Incoming> queue;
  WaitGroup reader_done;

  std::mutex mu;
  int in_flight = 0;
  bool closing = false;
};

struct ServerState {
  ServerState(Router r, ServerOptions o) : router(std::move(r)), options(std::move(o)) {
    auto [c, cancel] = with_cancel(options.base_context);
    hard_ctx = std::move(c);
    hard_cancel = std::move(cancel);
  }

  Router router;
  ServerOptions options;
  Context hard_ctx;
  CancelFunc hard_cancel;
  std::optional<net::TcpListener> listener;
  net::Address local = net::Address::loopback_v4(0);
  // Counts the accept loop and every connection's responder.
  WaitGroup tasks;

  mutable std::mutex mu;
  bool started = false;
  std::atomic<bool> shutting_down{false};  // written under mu, read under Connection::mu
  std::unordered_set<std::shared_ptr<Connection>> connections;
};

namespace {

std::span<std::byte> as_writable(std::vector<std::byte>& v) {
  return {v.data(), v.size()};
}

// The reader: parses requests and queues them in order; then watches the socket.
Task<void> read_requests(std::shared_ptr<ServerState> s, std::shared_ptr<Connection> c) {
  MessageParser parser(MessageParser::Kind::kRequest, s->options.limits);
  std::vector<std::byte> buf(kReadBuffer);
  bool parsing = true;
  while (true) {
    Result<std::size_t> n = co_await c->stream.read(c->ctx, as_writable(buf));
    if (!n) break;  // reset, or the connection is ending (ctx)
    if (*n == 0) {  // the peer closed its side
      if (parsing && parser.state() == MessageParser::State::kPartial) {
        parser.feed_eof();
        if (parser.state() == MessageParser::State::kError) {
          Incoming bad{{}, parser.error_status(), parser.error_text()};
          (void)co_await c->queue.send(c->ctx, std::move(bad));
        }
      }
      break;
    }
    if (!parsing) continue;  // only watching for the peer to leave
    std::string_view data(reinterpret_cast<const char*>(buf.data()), *n);
    while (parsing && !data.empty()) {
      const bool was_idle = parser.state() == MessageParser::State::kIdle;
      data.remove_prefix(parser.feed(data));
      const MessageParser::State st = parser.state();
      if (was_idle && st != MessageParser::State::kIdle) {
        // A new request begins: refused on a closing connection, or when shutting
        // down a connection with nothing in flight (it is being closed as idle).
        std::lock_guard lock(c->mu);
        if (c->closing || (s->shutting_down.load() && c->in_flight == 0)) {
          c->closing = true;
          parsing = false;
          break;
        }
        ++c->in_flight;
      }
      if (st == MessageParser::State::kComplete) {
        Incoming in{parser.take_request(), 0, {}};
        in.request.remote_address = c->remote;
        if (!in.request.keep_alive || parser.upgraded()) parsing = false;
        auto sent = co_await c->queue.send(c->ctx, std::move(in));
        if (!sent) goto done;
      } else if (st == MessageParser::State::kError) {
        Incoming bad{{}, parser.error_status(), parser.error_text()};
        parsing = false;
        auto sent = co_await c->queue.send(c->ctx, std::move(bad));
        if (!sent) goto done;
      }
    }
  }
done:
  c->peer_gone();  // cancels the running handler, if any: the client is gone
  (void)c->queue.close();
  c->reader_done.done();
}

Task<Response> run_handler(std::shared_ptr<ServerState> s, Context ctx, Request req) {
  try {
    Task<Response> handled = s->router.dispatch(std::move(ctx), std::move(req));
    co_return co_await std::move(handled);
  } catch (...) {
    // A handler's exception answers its own request and nothing else.
  }
  co_return Response::text(500, "internal server error\n");
}

// The responder: answers queued requests in order; owns the connection's end.
Task<void> serve_connection(std::shared_ptr<ServerState> s, std::shared_ptr<Connection> c) {
  c->reader_done.add(1);
  auto reader = spawn([s, c] { return read_requests(s, c); });
  std::string out;
  bool clean = true;  // every response was written: worth lingering for the client
  while (true) {
    Result<Incoming> in = orca::errc::closed;
    if (s->options.idle_timeout > Clock::duration::zero()) {
      auto [idle_ctx, stop_idle] = with_timeout(c->ctx, s->options.idle_timeout);
      in = co_await c->queue.recv(idle_ctx);
      stop_idle();
    } else {
      in = co_await c->queue.recv(c->ctx);
    }
    if (!in && in.error() == orca::errc::deadline_exceeded && !c->ctx.is_done()) {
      // idle_timeout passed with nothing in flight: close as idle (shutdown's way).
      // A request that began arriving meanwhile is waited for without a limit.
      bool idle;
      {
        std::lock_guard lock(c->mu);
        idle = c->in_flight == 0;
        if (idle) c->closing = true;
      }
      if (idle) {
        c->cancel();
        break;
      }
      in = co_await c->queue.recv(c->ctx);
    }
    if (!in) break;
    bool last;
    Response resp;
    bool head = false;
    bool http10 = false;
    if (in->error_status != 0) {
      resp = Response::text(in->error_status, in->error_text + "\n");
      last = true;
    } else {
      head = in->request.method == "HEAD";
      http10 = in->request.version_minor == 0;
      last = !in->request.keep_alive;
      auto [hctx, hcancel] = with_cancel(c->peer_ctx);
      Task<Response> handled = run_handler(s, std::move(hctx), std::move(in->request));
      resp = co_await std::move(handled);
      hcancel();  // the request's context ends with its handler
      // A handler may end the connection, as in Go, by answering "Connection: close".
      if (resp.headers.has_token("Connection", "close")) last = true;
    }
    {
      std::lock_guard lock(c->mu);
      if (last || c->closing || (s->shutting_down.load() && c->in_flight <= 1)) {
        c->closing = true;
        last = true;
      }
    }
    out.clear();
    write_response(resp, head, !last, http10, out);
    const Result<void> w =
        co_await c->stream.write_all(c->ctx, std::as_bytes(std::span(out.data(), out.size())));
    if (!w) {
      clean = false;
      break;
    }
    {
      std::lock_guard lock(c->mu);
      --c->in_flight;
      if (c->in_flight == 0 && s->shutting_down.load()) {
        c->closing = true;
        last = true;
      }
    }
    if (last) break;
  }

  // Teardown: let the client read what was sent, then stop the reader and close.
  if (clean && !c->ctx.is_done()) {
    auto [linger, stop_linger] = with_timeout(c->ctx, kLinger);
    (void)co_await c->stream.shutdown_write(linger);  // TLS: close_notify first
    (void)co_await c->reader_done.wait(linger);       // the client closes, or time is up
    stop_linger();
  }
  c->cancel();
  co_await std::move(reader);
  c->stream.close();
  {
    std::lock_guard lock(s->mu);
    s->connections.erase(c);
  }
  s->tasks.done();
}

// An HTTPS connection: the TLS handshake, bounded by tls_handshake_timeout (and by
// the connection's context: shutdown cuts it like an idle connection), then HTTP
// over the TLS stream. The connection is registered already: on failure it ends as
// serve_connection's teardown would.
Task<void> serve_tls_connection(std::shared_ptr<ServerState> s, std::shared_ptr<Connection> c) {
  bool shaken = false;
  if (net::TcpStream* tcp = c->stream.tcp()) {
    auto [hctx, stop] = with_timeout(c->ctx, s->options.tls_handshake_timeout);
    Task<Result<net::TlsStream>> handshake =
        net::TlsStream::accept(hctx, std::move(*tcp), *s->options.tls);
    Result<net::TlsStream> tls = co_await std::move(handshake);
    stop();
    if (tls) {
      c->stream = std::move(*tls);
      shaken = true;
    }
  }
  if (shaken) {
    co_await serve_connection(s, c);
    co_return;
  }
  c->cancel();
  c->stream.close();
  {
    std::lock_guard lock(s->mu);
    s->connections.erase(c);
  }
  s->tasks.done();
}

Task<void> accept_loop(std::shared_ptr<ServerState> s) {
  while (!s->shutting_down.load()) {
    Result<net::TcpStream> accepted = co_await s->listener->accept(s->hard_ctx);
    if (!accepted) {
      if (s->shutting_down.load() || s->hard_ctx.is_done()) break;
      (void)co_await sleep_for(s->hard_ctx, kAcceptBackoff);
      continue;
    }
    (void)accepted->set_nodelay(true);  // responses are written whole; don't hold them
    std::string remote = accepted->peer_address().to_string();
    auto c =
        std::make_shared<Connection>(std::move(*accepted), s->hard_ctx, s->options.max_pipelined);
    c->remote = std::move(remote);
    {
      std::lock_guard lock(s->mu);
      if (s->shutting_down.load()) {
        c->stream.close();  // refused: shutdown has begun
        break;
      }
      s->connections.insert(c);
      s->tasks.add(1);
    }
    if (s->options.tls != nullptr) {
      go([s, c] { return serve_tls_connection(s, c); });
    } else {
      go([s, c] { return serve_connection(s, c); });
    }
  }
  s->tasks.done();
}

}  // namespace

}  // namespace detail

Server::Server(Router router, ServerOptions options)
    : state_(std::make_shared<detail::ServerState>(std::move(router), std::move(options))) {}

Server::~Server() {
  if (!state_) return;  // moved from
  std::lock_guard lock(state_->mu);
  if (!state_->started || state_->shutting_down.load()) return;
  state_->shutting_down.store(true);
  if (state_->listener) state_->listener->close();
  state_->hard_cancel();
}

Result<void> Server::start(net::Address address) {
  auto s = state_;
  std::lock_guard lock(s->mu);
  if (s->started || s->shutting_down.load())
    return std::make_error_code(std::errc::operation_not_permitted);
  Result<net::TcpListener> listener = net::TcpListener::listen(address);
  if (!listener) return listener.error();
  s->local = listener->local_address();
  s->listener.emplace(std::move(*listener));
  s->started = true;
  s->tasks.add(1);
  go([s] { return detail::accept_loop(s); });
  return {};
}

net::Address Server::local_address() const {
  std::lock_guard lock(state_->mu);
  return state_->local;
}

std::size_t Server::connection_count() const {
  std::lock_guard lock(state_->mu);
  return state_->connections.size();
}

Result<void> Server::reload_tls(std::string* why) {
  if (state_->options.tls == nullptr)
    return std::make_error_code(std::errc::operation_not_permitted);
  return state_->options.tls->reload(why);
}

Task<Result<void>> Server::shutdown(Context ctx) {
  std::shared_ptr<detail::ServerState> s = state_;
  std::vector<std::shared_ptr<detail::Connection>> snapshot;
  {
    std::lock_guard lock(s->mu);
    if (!s->started) co_return Result<void>{};
    if (!s->shutting_down.exchange(true)) {
      s->listener->close();  // 1. wakes the accept loop; new connections are refused
    }
    snapshot.assign(s->connections.begin(), s->connections.end());
  }
  for (const auto& c : snapshot) {  // 2. close idle connections
    bool idle;
    {
      std::lock_guard lock(c->mu);
      idle = c->in_flight == 0;
      if (idle) c->closing = true;
    }
    if (idle) c->cancel();
  }
  const Result<void> waited = co_await s->tasks.wait(ctx);  // 3.
  if (waited) co_return Result<void>{};
  s->hard_cancel();  // 4. cut: handlers' contexts, reads and writes
  co_await s->tasks.wait();
  co_return waited.error();
}

}  // namespace orca::http
