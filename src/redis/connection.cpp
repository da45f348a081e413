// Connection: auto-pipelined calls over one socket (protocol in connection_core.hpp).
#include "orca/redis/connection.hpp"

#include <utility>

#include "connection_core.hpp"
#include "orca/runtime/spawn.hpp"
#include "orca/trace/tracer.hpp"

namespace orca::redis {
namespace detail {

namespace {
// Read size: a 64 KiB read takes a whole burst of pipelined replies at once.
constexpr std::size_t kReadBuffer = 64 * 1024;

void complete(const std::shared_ptr<Request>& r, std::error_code outcome) {
  // The channel has room for exactly this one value and nobody else sends: the
  // try_send cannot fail.
  (void)r->done.try_send(Request::Outcome{outcome});
}
}  // namespace

ConnectionCore::ConnectionCore(Session session, ConnectionOptions options)
    : options_(options),
      stream_(std::move(session.stream)),
      decoder_(std::move(session.decoder)),
      queue_(options.max_queued == 0 ? 1 : options.max_queued) {
  auto [ctx, cancel] = with_cancel(background());
  io_ctx_ = std::move(ctx);
  cancel_io_ = std::move(cancel);
}

ConnectionCore::~ConnectionCore() {
  fail(make_error_code(errc::closed));
}

void ConnectionCore::start() {
  tasks_.add(2);
  // Each task owns a reference: the core lives until both have left.
  go([self = shared_from_this()] { return self->write_loop(); });
  go([self = shared_from_this()] { return self->read_loop(); });
}

std::error_code ConnectionCore::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

std::error_code ConnectionCore::later_error() const {
  const std::error_code e = error();
  return e == make_error_code(errc::closed) ? e : make_error_code(errc::connection_lost);
}

void ConnectionCore::fail(std::error_code why) noexcept {
  std::deque<std::shared_ptr<Request>> pending;
  {
    std::lock_guard lock(mu_);
    if (broken_.load(std::memory_order_relaxed)) return;
    error_ = why;
    broken_.store(true, std::memory_order_release);
    pending.swap(inflight_);
  }
  (void)queue_.close();
  cancel_io_();
  stream_.close();
  for (const auto& r : pending)
    complete(r, why);
}

Task<void> ConnectionCore::stopped() {
  co_await tasks_.wait();
}

Task<Result<std::vector<Reply>>> ConnectionCore::submit(Context ctx, std::string wire,
                                                        std::size_t replies) {
  if (std::error_code e = ctx.err()) co_return e;
  if (broken()) co_return later_error();
  auto request = std::make_shared<Request>(std::move(wire), replies);
  std::shared_ptr<Request> queued = request;
  SendResult<std::shared_ptr<Request>> sent = co_await queue_.send(ctx, std::move(queued));
  if (!sent) {
    if (sent.error() == make_error_code(orca::errc::closed)) co_return later_error();
    co_return sent.error();
  }
  Result<Request::Outcome> outcome = co_await request->done.recv(ctx);
  if (!outcome) {
    // The context ended: leave at once. The reader will still consume and drop the
    // replies, which keeps the connection in step.
    request->abandoned.store(true, std::memory_order_relaxed);
    co_return outcome.error();
  }
  if (outcome->error) co_return outcome->error;
  co_return std::move(request->got);
}

namespace {

// Inside a trace, a command (or pipeline) records a client span named after its
// first word ("redis EVALSHA"); outside one (heartbeats, polls), nothing.
trace::Span command_span(const Context& ctx, const std::vector<std::string>& first,
                         std::size_t commands) {
  if (!trace::tracer_installed() || first.empty()) return trace::Span();
  trace::Span span = trace::start_child_span(ctx, std::string("redis ").append(first.front()),
                                             trace::SpanKind::kClient);
  if (span.recording()) {
    span.set_attribute("db.system", std::string("redis"));
    span.set_attribute("db.operation", first.front());
    if (commands > 1)
      span.set_attribute("db.redis.pipeline_length", static_cast<std::int64_t>(commands));
  }
  return span;
}

void end_command_span(trace::Span& span, const std::error_code& e) {
  if (!span.recording()) return;
  if (e) span.set_error(e.message());
  span.end();
}

}  // namespace

Task<Result<Reply>> ConnectionCore::command(Context ctx, std::vector<std::string> args) {
  trace::Span span = command_span(ctx, args, 1);
  std::string wire;
  append_command(wire, args);
  Result<std::vector<Reply>> r = co_await submit(std::move(ctx), std::move(wire), 1);
  if (span.recording() && r && r->front().is_error()) span.set_error(r->front().str());
  end_command_span(span, r ? std::error_code() : std::error_code(r.error()));
  if (!r) co_return r.error();
  co_return std::move(r->front());
}

Task<Result<std::vector<Reply>>> ConnectionCore::pipeline(
    Context ctx, std::vector<std::vector<std::string>> commands) {
  if (commands.empty()) co_return std::vector<Reply>();
  trace::Span span = command_span(ctx, commands.front(), commands.size());
  const std::size_t n = commands.size();
  std::string wire = encode_commands(commands);
  Result<std::vector<Reply>> r = co_await submit(std::move(ctx), std::move(wire), n);
  end_command_span(span, r ? std::error_code() : std::error_code(r.error()));
  co_return r;
}

// The writer: takes everything queued, appends it to inflight_, writes it in one go.
Task<void> ConnectionCore::write_loop() {
  std::string buf;
  std::vector<std::shared_ptr<Request>> batch;
  for (;;) {
    Result<std::shared_ptr<Request>> first = co_await queue_.recv(io_ctx_);
    if (!first) break;  // closed or cancelled: fail() has run
    buf.clear();
    batch.clear();
    std::shared_ptr<Request> next = std::move(*first);
    for (;;) {
      if (!next->abandoned.load(std::memory_order_relaxed)) {
        buf += next->wire;
        batch.push_back(std::move(next));
      }
      if (buf.size() >= options_.max_write_bytes) break;
      Result<std::shared_ptr<Request>> more = queue_.try_recv();
      if (!more) break;
      next = std::move(*more);
    }
    if (batch.empty()) continue;
    bool written_off = false;
    {
      std::lock_guard lock(mu_);
      if (broken_.load(std::memory_order_relaxed)) {
        written_off = true;
      } else {
        for (auto& r : batch)
          inflight_.push_back(r);
      }
    }
    if (written_off) {
      const std::error_code e = error();
      for (const auto& r : batch)
        complete(r, e);
      break;
    }
    const Result<void> w = co_await stream_.write_all(io_ctx_, bytes_of(buf));
    if (!w) {
      fail(make_error_code(errc::connection_lost));
      break;
    }
  }
  // The queue is closed (fail() closes it before cancelling io_ctx_): complete
  // whatever is still buffered in it.
  const std::error_code e = error();
  for (;;) {
    Result<std::shared_ptr<Request>> left = queue_.try_recv();
    if (!left) break;
    complete(*left, e);
  }
  tasks_.done();
}

// The reader: decodes replies and hands each to the oldest request in flight.
Task<void> ConnectionCore::read_loop() {
  std::vector<std::byte> buf(kReadBuffer);
  for (;;) {
    Result<std::size_t> n = co_await stream_.read(io_ctx_, buf);
    if (!n || *n == 0) {
      fail(make_error_code(errc::connection_lost));
      break;
    }
    Result<void> fed = decoder_.feed(std::span(buf.data(), *n));
    bool failed = !fed;
    while (!failed) {
      Result<std::optional<Reply>> reply = decoder_.next();
      if (!reply) {
        failed = true;
        break;
      }
      if (!reply->has_value()) break;
      std::shared_ptr<Request> finished;
      {
        std::lock_guard lock(mu_);
        if (inflight_.empty()) {
          // A reply nobody asked for: the stream is out of step.
          failed = true;
          break;
        }
        Request& front = *inflight_.front();
        front.got.push_back(std::move(**reply));
        if (front.got.size() == front.replies) {
          finished = std::move(inflight_.front());
          inflight_.pop_front();
        }
      }
      if (finished) complete(finished, {});
    }
    if (failed) {
      fail(make_error_code(errc::protocol_error));
      break;
    }
  }
  tasks_.done();
}

}  // namespace detail

Connection::Connection() noexcept = default;
Connection::Connection(std::shared_ptr<detail::ConnectionCore> core) noexcept
    : core_(std::move(core)) {}
Connection::Connection(Connection&&) noexcept = default;
Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    core_ = std::move(other.core_);
  }
  return *this;
}
Connection::~Connection() {
  close();
}

Task<Result<Connection>> Connection::connect(Context ctx, RedisUrl url, ConnectionOptions options) {
  Result<detail::Session> session = co_await detail::dial(ctx, std::move(url));
  if (!session) co_return session.error();
  auto core = std::make_shared<detail::ConnectionCore>(std::move(*session), options);
  core->start();
  co_return Connection(std::move(core));
}

Task<Result<Reply>> Connection::command(Context ctx, std::vector<std::string> args) {
  if (!core_) co_return make_error_code(errc::closed);
  std::shared_ptr<detail::ConnectionCore> core = core_;
  co_return co_await core->command(std::move(ctx), std::move(args));
}

Task<Result<std::vector<Reply>>> Connection::pipeline(
    Context ctx, std::vector<std::vector<std::string>> commands) {
  if (!core_) co_return make_error_code(errc::closed);
  std::shared_ptr<detail::ConnectionCore> core = core_;
  co_return co_await core->pipeline(std::move(ctx), std::move(commands));
}

bool Connection::broken() const noexcept {
  return !core_ || core_->broken();
}

std::error_code Connection::error() const noexcept {
  if (!core_) return make_error_code(errc::closed);
  return core_->error();
}

Context Connection::broken_context() const {
  if (!core_) return background();
  return core_->broken_context();
}

void Connection::close() noexcept {
  if (core_) core_->fail(make_error_code(errc::closed));
}

Task<void> Connection::closed() {
  close();
  if (!core_) co_return;
  std::shared_ptr<detail::ConnectionCore> core = core_;
  co_await core->stopped();
}

}  // namespace orca::redis
