// Server: the accept loop, and per connection a reader task and a responder task
// (protocol in server.hpp).
//
// Invariants, per connection, under Connection::mu:
//  - in_flight counts requests whose first byte the reader has seen and whose
//    response the responder has not finished writing; the connection is idle when
//    it is 0;
//  - once `closing` is set, the reader starts no new request (it only watches for
//    the peer leaving) and the responder ends after its current response;
//  - end_stream is set exactly while a stream function runs, and only if
//    shutting_down was false when it was set: so shutdown, which sets the flag
//    first and then reads end_stream under this lock, ends every stream.
// Server-wide, under ServerState::mu: once `shutting_down` is set no connection is
// added, so the shutdown's snapshot plus "each responder checks the flag after each
// response" covers every connection; `connections` never exceeds max_connections.
//
// Timeouts live where the waiting happens: the reader bounds its reads by the
// header and body deadlines of the request it is parsing (a context per deadline,
// not per read); the responder bounds its wait for the next request by idle_timeout
// when nothing is in flight.
#include "orca/net/http/server.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <exception>
#include <limits>
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
#include "server_metrics.hpp"
#include "tracing.hpp"
#include "wire.hpp"

namespace orca::http {

namespace detail {

namespace {

// Read buffer per connection. 4 KiB holds a typical request whole (Go's bufio
// default too) while keeping 10,000 idle connections at 40 MiB.
constexpr std::size_t kServerReadBuffer = 4096;
// After its last response a connection shuts down its write side and reads (and
// drops) what the client still sends, for at most this long, before closing: a
// close with unread input sends RST, which can destroy the response in flight
// (Go's rstAvoidanceDelay is 500 ms).
constexpr auto kLinger = std::chrono::milliseconds(500);
// Pause after a failed accept (EMFILE...) before trying again; Go starts at 5 ms.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(5);
// A kind of refusal is logged at most once per this long (the count accumulates).
constexpr auto kLogInterval = std::chrono::seconds(1);

// What the reader hands the responder: a request, or the refusal of a bad one.
struct Incoming {
  Request request;
  int error_status = 0;  // 400, 408, 413, 431, 505: answer with error_text and close
  std::string error_text;
  bool last = false;  // the connection's max_requests_per_connection-th request
};

// The kinds of ServerStats, in its order.
enum class Refusal : std::size_t {
  kHeaderTimeout,
  kBodyTimeout,
  kIdleClose,
  kConnectionLimit,
  kRequestCap,
  kBadRequest,
  kStreamLimit,
  kStreamWriteTimeout,
  kCount,
};

// The line logged for a kind ("header_read_timeout: 3 connections cut..."); null:
// counted only (routine closes, not refusals).
const char* log_text(Refusal kind) {
  switch (kind) {
    case Refusal::kHeaderTimeout:
      return "header_read_timeout: connections cut (408) since the last report: ";
    case Refusal::kBodyTimeout:
      return "body_read_timeout: connections cut (408) since the last report: ";
    case Refusal::kConnectionLimit:
      return "max_connections: connections refused (503) since the last report: ";
    case Refusal::kBadRequest:
      return "malformed or over-limit requests refused since the last report: ";
    case Refusal::kStreamLimit:
      return "max_streams: streams refused (503) since the last report: ";
    case Refusal::kStreamWriteTimeout:
      return "stream_write_timeout: streams to clients not reading ended since the last "
             "report: ";
    default:
      return nullptr;
  }
}

}  // namespace

// Counters of ServerStats and their rate-limited log. Only refusals touch them:
// the path of a well-behaved request never does.
class RefusalLog {
 public:
  explicit RefusalLog(std::function<void(std::string_view)> sink) : sink_(std::move(sink)) {}

  void count(Refusal kind) {
    Kind& k = kinds_[static_cast<std::size_t>(kind)];
    // Relaxed: a statistic; nothing is published through it.
    k.total.fetch_add(1, std::memory_order_relaxed);
    const char* text = log_text(kind);
    if (text == nullptr || !sink_) return;
    const std::int64_t now = Clock::now().time_since_epoch().count();
    std::int64_t last = k.last_line.load(std::memory_order_relaxed);
    if (last != kNever && now - last < kInterval) return;
    // One caller per interval wins and writes the line; the others only counted.
    // Relaxed: the line's count is read after, from `total`, and may include
    // increments that raced with it (they are then not repeated in the next line).
    if (!k.last_line.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
    const std::uint64_t total = k.total.load(std::memory_order_relaxed);
    const std::uint64_t since = total - k.logged.exchange(total, std::memory_order_relaxed);
    std::string line(text);
    line.append(std::to_string(since));
    try {
      sink_(line);
    } catch (...) {
      // A failing log must not take the connection (or the accept loop) with it.
    }
  }

  std::uint64_t total(Refusal kind) const {
    return kinds_[static_cast<std::size_t>(kind)].total.load(std::memory_order_relaxed);
  }

 private:
  static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::min();
  static constexpr std::int64_t kInterval =
      std::chrono::duration_cast<Clock::duration>(kLogInterval).count();
  struct Kind {
    std::atomic<std::uint64_t> total{0};
    std::atomic<std::uint64_t> logged{0};         // `total` as of the last line
    std::atomic<std::int64_t> last_line{kNever};  // Clock ticks of the last line
  };
  std::function<void(std::string_view)> sink_;
  std::array<Kind, static_cast<std::size_t>(Refusal::kCount)> kinds_;
};

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
  // Ends the running stream (shutdown step 2); empty while none runs.
  CancelFunc end_stream;
};

struct ServerState {
  ServerState(Router r, ServerOptions o)
      : router(std::move(r)), options(std::move(o)), refusals(options.log) {
    auto [c, cancel] = with_cancel(options.base_context);
    hard_ctx = std::move(c);
    hard_cancel = std::move(cancel);
    if (options.metrics != nullptr) metrics.emplace(*options.metrics);
  }

  Router router;
  ServerOptions options;
  std::optional<ServerMetrics> metrics;  // ServerOptions::metrics set
  RefusalLog refusals;
  Context hard_ctx;
  CancelFunc hard_cancel;
  std::optional<net::TcpListener> listener;
  net::Address local = net::Address::loopback_v4(0);
  // A descriptor kept spare while accepting, closed to accept (and refuse) a client
  // when the process runs out (EMFILE); -1 if it could not be had. Accept loop only.
  int reserve_fd = -1;
  // Counts the accept loop and every connection's responder.
  WaitGroup tasks;

  mutable std::mutex mu;
  bool started = false;
  std::atomic<bool> shutting_down{false};  // written under mu, read under Connection::mu
  // Streams running; a responder takes a slot before it starts one (max_streams).
  // Relaxed: a count only; what a stream shares is under Connection::mu.
  std::atomic<std::size_t> streams{0};
  std::unordered_set<std::shared_ptr<Connection>> connections;
};

namespace {

int open_reserve_fd() {
  return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

std::span<std::byte> as_writable(std::vector<std::byte>& v) {
  return {v.data(), v.size()};
}

// `d` from now, or never for a zero (no limit) or unrepresentably far duration.
Clock::time_point deadline_after(Clock::duration d) {
  if (d <= Clock::duration::zero()) return Clock::time_point::max();
  const Clock::time_point now = Clock::now();
  return d < Clock::time_point::max() - now ? now + d : Clock::time_point::max();
}

// The context of a connection's waits: the connection's, or a child of it done at
// the current deadline. A child is made once per deadline, not per wait, so a
// request that arrives whole in one read costs none.
class DeadlineContext {
 public:
  explicit DeadlineContext(const Context& connection) : connection_(connection) {}
  DeadlineContext(const DeadlineContext&) = delete;
  DeadlineContext& operator=(const DeadlineContext&) = delete;
  ~DeadlineContext() { stop_(); }

  Context context(Clock::time_point deadline) {
    if (deadline == Clock::time_point::max()) {
      if (made_for_ != deadline) {  // no deadline any more: release the timer now
        stop_();
        ctx_ = Context();
        stop_ = CancelFunc();
        made_for_ = deadline;
      }
      return connection_;
    }
    if (deadline != made_for_) {
      stop_();  // releases the previous deadline's timer
      auto [ctx, stop] = with_deadline(connection_, deadline);
      ctx_ = std::move(ctx);
      stop_ = std::move(stop);
      made_for_ = deadline;
    }
    return ctx_;
  }

 private:
  Context connection_;
  Context ctx_;
  CancelFunc stop_;
  Clock::time_point made_for_ = Clock::time_point::max();
};

std::string timeout_text(const char* what, Clock::duration limit) {
  std::string text = "request timeout: ";
  text.append(what);
  text.append(" not received within ");
  text.append(std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(limit).count()));
  text.append(" ms");
  return text;
}

// The reader: parses requests and queues them in order; then watches the socket.
//
// Deadlines (ServerOptions): the first request's header is due header_read_timeout
// after accept, a later one's after its first byte (the wait before it is the
// responder's idle_timeout); a body is due body_read_timeout after its header. A
// read cut by its deadline queues a 408, which the responder sends after the
// responses before it, and ends the connection.
Task<void> read_requests(std::shared_ptr<ServerState> s, std::shared_ptr<Connection> c) {
  const ServerOptions& o = s->options;
  MessageParser parser(MessageParser::Kind::kRequest, o.limits);
  std::vector<std::byte> buf(kServerReadBuffer);
  bool parsing = true;
  std::size_t requests = 0;  // complete requests read on this connection
  DeadlineContext reads(c->ctx);
  Clock::time_point deadline = deadline_after(o.header_read_timeout);
  bool body_timed = false;  // the current request's body deadline is set
  while (true) {
    Context read_ctx = reads.context(parsing ? deadline : Clock::time_point::max());
    Result<std::size_t> n = co_await c->stream.read(read_ctx, as_writable(buf));
    if (!n) {
      // The request's deadline (not the connection's end): refuse it with a 408.
      if (parsing && n.error() == orca::errc::deadline_exceeded && !c->ctx.is_done()) {
        const bool in_body = parser.in_body();
        s->refusals.count(in_body ? Refusal::kBodyTimeout : Refusal::kHeaderTimeout);
        parsing = false;
        {
          std::lock_guard lock(c->mu);
          if (c->closing) break;  // the connection is ending anyway
          // Nothing received yet (the first request): the 408 is its response.
          if (parser.state() == MessageParser::State::kIdle) ++c->in_flight;
        }
        Incoming late{{},
                      408,
                      in_body ? timeout_text("body", o.body_read_timeout)
                              : timeout_text("header", o.header_read_timeout)};
        auto sent = co_await c->queue.send(c->ctx, std::move(late));
        if (!sent) break;
        continue;  // watch for the peer leaving while the responder ends
      }
      break;  // reset, or the connection is ending (ctx)
    }
    if (*n == 0) {  // the peer closed its side
      if (parsing && parser.state() == MessageParser::State::kPartial) {
        parser.feed_eof();
        if (parser.state() == MessageParser::State::kError) {
          s->refusals.count(Refusal::kBadRequest);
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
      if (st == MessageParser::State::kPartial) {
        if (parser.in_body()) {
          if (!body_timed) {
            body_timed = true;
            deadline = deadline_after(o.body_read_timeout);
          }
        } else if (deadline == Clock::time_point::max()) {
          deadline = deadline_after(o.header_read_timeout);  // from its first byte
        }
      } else if (st == MessageParser::State::kComplete) {
        deadline = Clock::time_point::max();  // the next request's starts with it
        body_timed = false;
        Incoming in{parser.take_request(), 0, {}, false};
        in.request.remote_address = c->remote;
        ++requests;
        if (!in.request.keep_alive || parser.upgraded()) {
          parsing = false;
        } else if (requests == o.max_requests_per_connection) {
          s->refusals.count(Refusal::kRequestCap);
          in.last = true;
          parsing = false;
        }
        auto sent = co_await c->queue.send(c->ctx, std::move(in));
        if (!sent) goto done;
      } else if (st == MessageParser::State::kError) {
        s->refusals.count(Refusal::kBadRequest);
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

// A stream's writer: each write one chunk (HTTP/1.1) or raw bytes (HTTP/1.0, the
// close ends the body), bounded by stream_write_timeout.
class ChunkWriter final : public BodyWriter {
 public:
  ChunkWriter(ServerState& s, Connection& c, Context ctx, bool chunked)
      : s_(s), c_(c), ctx_(std::move(ctx)), chunked_(chunked) {}

  // A chunk once begun is written whole (bounded by the connection's context and
  // the timeout), so that a stream ended mid-write (shutdown) still ends its body
  // with a well-formed final chunk; a stream already ended writes nothing more.
  Task<Result<void>> write(std::string_view data) override {
    if (failed_) co_return Error(make_error_code(orca::errc::closed), "the stream has ended");
    if (ctx_.is_done()) co_return ctx_.err();
    if (data.empty()) co_return Result<void>{};
    frame_.clear();
    if (chunked_) {
      char size[20];
      const auto r = std::to_chars(size, size + sizeof size, data.size(), 16);
      frame_.append(size, r.ptr).append("\r\n");
    }
    frame_.append(data);
    if (chunked_) frame_.append("\r\n");
    co_return co_await send();
  }

  // The last chunk of a chunked body, after the stream function returned.
  Task<Result<void>> finish() {
    if (failed_) co_return Error(make_error_code(orca::errc::closed), "the stream has ended");
    if (!chunked_) co_return Result<void>{};
    frame_.assign("0\r\n\r\n");
    co_return co_await send();
  }

 private:
  Task<Result<void>> send() {
    const Context& base = c_.ctx;
    const Clock::duration limit = s_.options.stream_write_timeout;
    auto [wctx, stop] =
        limit > Clock::duration::zero() ? with_timeout(base, limit) : with_cancel(base);
    Result<void> w = co_await c_.stream.write_all(wctx, std::as_bytes(std::span(frame_)));
    stop();
    if (!w) {
      failed_ = true;
      if (w.error() == orca::errc::deadline_exceeded && !base.is_done())
        s_.refusals.count(Refusal::kStreamWriteTimeout);
    }
    co_return w;
  }

  ServerState& s_;
  Connection& c_;
  Context ctx_;
  bool chunked_;
  bool failed_ = false;
  std::string frame_;
};

// Runs a stream whose headers are sent: the function until it returns, then the
// final chunk. True if everything was written (worth lingering for the client).
Task<bool> run_stream(std::shared_ptr<ServerState> s, std::shared_ptr<Connection> c, BodyStream fn,
                      bool chunked) {
  auto [sctx, end] = with_cancel(c->peer_ctx);
  bool started;
  {
    // Under the connection's lock, against shutdown's step 2: either it sees
    // end_stream set and ends the stream, or this sees shutting_down and does not
    // start it (protocol in the file comment).
    std::lock_guard lock(c->mu);
    started = !s->shutting_down.load();
    if (started) c->end_stream = end;
  }
  ChunkWriter writer(*s, *c, sctx, chunked);
  if (started) {
    try {
      Task<void> streamed = fn(sctx, writer);
      co_await std::move(streamed);
    } catch (...) {
      // A stream function that throws ends its stream, and nothing else.
    }
  }
  {
    std::lock_guard lock(c->mu);
    c->end_stream = CancelFunc();
  }
  end();
  Result<void> finished = co_await writer.finish();
  co_return finished.has_value();
}

Task<Response> run_handler(std::shared_ptr<ServerState> s, Context ctx, Request req) {
  try {
    Task<Response> handled =
        s->router.dispatch(std::move(ctx), std::move(req), s->options.error_format);
    co_return co_await std::move(handled);
  } catch (...) {
    // A handler's exception answers its own request and nothing else.
  }
  co_return Response::error(500, "internal server error", s->options.error_format);
}

// The responder: answers queued requests in order; owns the connection's end.
Task<void> serve_connection(std::shared_ptr<ServerState> s, std::shared_ptr<Connection> c) {
  c->reader_done.add(1);
  auto reader = spawn([s, c] { return read_requests(s, c); });
  std::string out;
  bool clean = true;  // every response was written: worth lingering for the client
  // The idle check is lazy, so that a request costs no timer: one deadline context
  // stays armed across requests; when it fires, the connection is closed if it has
  // been idle for idle_timeout, or the check is re-armed for when it would be.
  const Clock::duration idle_timeout = s->options.idle_timeout;
  DeadlineContext idle_checks(c->ctx);
  Clock::time_point idle_since = Clock::now();  // accept, then each response's end
  Clock::time_point idle_check = deadline_after(idle_timeout);
  bool idle = false;
  while (true) {
    Result<Incoming> in = orca::errc::closed;
    while (true) {
      Context wait = idle_checks.context(idle_check);
      in = co_await c->queue.recv(wait);
      if (in || in.error() != orca::errc::deadline_exceeded || c->ctx.is_done()) break;
      // The check is due. Idle (nothing in flight since idle_since + idle_timeout):
      // close as idle (shutdown's way). A request that began arriving is the
      // reader's to time out; check again an idle_timeout after now.
      const Clock::time_point now = Clock::now();
      bool in_flight;
      {
        std::lock_guard lock(c->mu);
        in_flight = c->in_flight != 0;
        idle = !in_flight && now - idle_since >= idle_timeout;
        if (idle) c->closing = true;
      }
      if (idle) break;
      idle_check = (in_flight ? now : idle_since) + idle_timeout;
    }
    if (idle) {
      s->refusals.count(Refusal::kIdleClose);
      c->cancel();
      break;
    }
    if (!in) break;
    bool last;
    Response resp;
    bool head = false;
    bool http10 = false;
    const Clock::time_point began = s->metrics ? Clock::now() : Clock::time_point();
    // Taken before the request moves to its handler.
    const std::string_view method =
        s->metrics ? ServerMetrics::method_label(in->request.method) : std::string_view();
    std::string trace_id;  // the request's trace, for the latency exemplar
    if (in->error_status != 0) {
      resp = Response::error(in->error_status, in->error_text, s->options.error_format);
      last = true;
    } else {
      head = in->request.method == "HEAD";
      http10 = in->request.version_minor == 0;
      last = !in->request.keep_alive || in->last;
      auto [hctx, hcancel] = with_cancel(c->peer_ctx);
      // The request's span: its traceparent, or a new trace (tracing.hpp).
      trace::Span span = server_span(hctx, in->request);
      Context traced = span.context().valid() ? trace::with_span(hctx, span) : std::move(hctx);
      Task<Response> handled = run_handler(s, std::move(traced), std::move(in->request));
      resp = co_await std::move(handled);
      hcancel();  // the request's context ends with its handler
      end_server_span(span, resp);
      if (s->metrics && span.context().valid()) trace_id = span.context().trace_id.hex();
      // A handler may end the connection, as in Go, by answering "Connection: close".
      if (resp.headers.has_token("Connection", "close")) last = true;
    }
    if (s->metrics) s->metrics->request(method, resp, Clock::now() - began, trace_id);
    {
      std::lock_guard lock(c->mu);
      if (last || c->closing || (s->shutting_down.load() && c->in_flight <= 1)) {
        c->closing = true;
        last = true;
      }
    }
    // A stream: a slot among max_streams, or a 503 instead. Its connection ends
    // after it.
    bool streaming = false;
    if (resp.stream) {
      const int st = resp.status;
      if (head || st < 200 || st == 204 || st == 304) {
        resp.stream = BodyStream();  // the headers only, as a HEAD gets them
      } else if (s->options.max_streams != 0 &&
                 s->streams.fetch_add(1, std::memory_order_relaxed) >= s->options.max_streams) {
        s->streams.fetch_sub(1, std::memory_order_relaxed);
        s->refusals.count(Refusal::kStreamLimit);
        resp = Response::error(503, "too many streams", s->options.error_format);
        resp.headers.set("Retry-After", "1");
        last = true;  // the client asked for a stream: it has nothing else to send here
      } else {
        if (s->options.max_streams == 0) s->streams.fetch_add(1, std::memory_order_relaxed);
        streaming = true;
        last = true;
        std::lock_guard lock(c->mu);
        c->closing = true;  // the reader only watches for the client leaving now
      }
    }
    out.clear();
    if (streaming) {
      write_stream_head(resp, http10, out);
    } else {
      write_response(resp, head, !last, http10, out);
    }
    Result<void> w =
        co_await c->stream.write_all(c->ctx, std::as_bytes(std::span(out.data(), out.size())));
    if (w && streaming) {
      const bool finished = co_await run_stream(s, c, std::move(resp.stream), !http10);
      if (!finished) w = Error(make_error_code(orca::errc::closed), "stream cut");
    }
    if (streaming) s->streams.fetch_sub(1, std::memory_order_relaxed);
    if (!w) {
      clean = false;
      break;
    }
    if (idle_timeout > Clock::duration::zero()) idle_since = Clock::now();
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
  if (s->metrics) s->metrics->connection_closed();
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
  if (s->metrics) s->metrics->connection_closed();
  s->tasks.done();
}

// Answers a connection the server cannot take (max_connections reached, or out of
// descriptors) with a 503 on its socket `fd`, without ever waiting: the accept
// loop must go on. A fresh socket's send buffer is empty, so the short answer is
// taken by one non-blocking send. The caller closes `fd`.
void refuse_connection(ServerState& s, int fd) {
  s.refusals.count(Refusal::kConnectionLimit);
  std::string out;
  write_response(Response::error(503, "too many connections", s.options.error_format),
                 /*head=*/false, /*keep_alive=*/false, /*http10=*/false, out);
  (void)::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  // Drop what the client already sent (its request), so that the close sends FIN
  // after the 503 rather than a reset that could destroy it in flight. Bounded: a
  // client still sending may get the reset.
  char sink[4096];
  for (int i = 0; i < 16 && ::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
  }
  (void)::shutdown(fd, SHUT_WR);
}

// Out of descriptors (EMFILE): a client left in the backlog would hang. Frees the
// spare descriptor to accept a waiting client, if any, refuses it, and takes the
// spare back (libev's trick). Never waits: with no client waiting, accept4 says
// EAGAIN (Linux checks for a free descriptor before it looks at the backlog, so
// EMFILE comes with or without a client).
// The reserve can be lost: another thread may take the descriptor in the moment it
// is free. It is then taken back at the next EMFILE that finds one free.
void refuse_without_descriptors(ServerState& s) {
  if (s.reserve_fd < 0) s.reserve_fd = open_reserve_fd();
  if (s.reserve_fd < 0) return;
  ::close(s.reserve_fd);
  const int fd =
      ::accept4(s.listener->native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0) {
    refuse_connection(s, fd);
    ::close(fd);
  }
  s.reserve_fd = open_reserve_fd();
}

Task<void> accept_loop(std::shared_ptr<ServerState> s) {
  const std::size_t max_connections = s->options.max_connections;
  while (!s->shutting_down.load()) {
    Result<net::TcpStream> accepted = co_await s->listener->accept(s->hard_ctx);
    if (!accepted) {
      if (s->shutting_down.load() || s->hard_ctx.is_done()) break;
      const std::error_code e = accepted.error();
      if (e == std::errc::too_many_files_open || e == std::errc::too_many_files_open_in_system)
        refuse_without_descriptors(*s);  // then back off: descriptors may come back
      (void)co_await sleep_for(s->hard_ctx, kAcceptBackoff);
      continue;
    }
    if (max_connections != 0) {
      bool full;
      {
        std::lock_guard lock(s->mu);
        // Only this loop adds connections: the count cannot grow past the check.
        full = s->connections.size() >= max_connections;
      }
      if (full) {
        refuse_connection(*s, accepted->native_handle());
        accepted->close();
        continue;
      }
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
    if (s->metrics) s->metrics->connection_opened();
    if (s->options.tls != nullptr) {
      go([s, c] { return serve_tls_connection(s, c); });
    } else {
      go([s, c] { return serve_connection(s, c); });
    }
  }
  if (s->reserve_fd >= 0) ::close(s->reserve_fd);
  s->reserve_fd = -1;
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
  s->reserve_fd = detail::open_reserve_fd();
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

std::size_t Server::stream_count() const {
  return state_->streams.load(std::memory_order_relaxed);
}

Result<void> Server::reload_tls() {
  if (state_->options.tls == nullptr)
    return Error(std::make_error_code(std::errc::operation_not_permitted),
                 "the server does not serve TLS");
  return state_->options.tls->reload();
}

ServerStats Server::stats() const {
  using detail::Refusal;
  const detail::RefusalLog& r = state_->refusals;
  ServerStats out;
  out.header_timeouts = r.total(Refusal::kHeaderTimeout);
  out.body_timeouts = r.total(Refusal::kBodyTimeout);
  out.idle_closes = r.total(Refusal::kIdleClose);
  out.connection_refusals = r.total(Refusal::kConnectionLimit);
  out.request_cap_closes = r.total(Refusal::kRequestCap);
  out.bad_requests = r.total(Refusal::kBadRequest);
  out.stream_refusals = r.total(Refusal::kStreamLimit);
  out.stream_write_timeouts = r.total(Refusal::kStreamWriteTimeout);
  return out;
}

void ServerOptions::default_log(std::string_view line) {
  std::string out = "orca http: ";
  out.append(line);
  out.push_back('\n');
  // One write, so that lines from concurrent writers never interleave.
  (void)!::write(STDERR_FILENO, out.data(), out.size());
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
  for (const auto& c : snapshot) {  // 2. close idle connections, end streams
    bool idle;
    CancelFunc end_stream;
    {
      std::lock_guard lock(c->mu);
      idle = c->in_flight == 0;
      if (idle) c->closing = true;
      end_stream = c->end_stream;
    }
    if (idle) c->cancel();
    end_stream();  // a no-op when no stream runs
  }
  const Result<void> waited = co_await s->tasks.wait(ctx);  // 3.
  if (waited) co_return Result<void>{};
  s->hard_cancel();  // 4. cut: handlers' contexts, reads and writes
  co_await s->tasks.wait();
  co_return waited.error();
}

}  // namespace orca::http
