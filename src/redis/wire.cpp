// RESP through hiredis (encode: redisFormatCommandArgv; decode: redisReader), and
// the login exchange of a new connection.
#include "wire.hpp"

#include <hiredis/hiredis.h>

#include <cstdlib>
#include <memory>
#include <new>
#include <utility>

#include "orca/net/dial.hpp"
#include "orca/redis/error.hpp"

namespace orca::redis::detail {

void append_command(std::string& out, const std::vector<std::string>& args) {
  // Small fixed arrays for the common case; hiredis wants C arrays of pointers.
  constexpr std::size_t kInline = 8;
  const char* argv_inline[kInline];
  std::size_t len_inline[kInline];
  std::vector<const char*> argv_heap;
  std::vector<std::size_t> len_heap;
  const char** argv = argv_inline;
  std::size_t* lens = len_inline;
  if (args.size() > kInline) {
    argv_heap.resize(args.size());
    len_heap.resize(args.size());
    argv = argv_heap.data();
    lens = len_heap.data();
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    argv[i] = args[i].data();
    lens[i] = args[i].size();
  }
  char* cmd = nullptr;
  const int n = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv, lens);
  if (n < 0) throw std::bad_alloc();  // hiredis fails only when out of memory
  out.append(cmd, static_cast<std::size_t>(n));
  redisFreeCommand(cmd);
}

std::string encode_commands(const std::vector<std::vector<std::string>>& commands) {
  std::string out;
  for (const auto& c : commands)
    append_command(out, c);
  return out;
}

namespace {

// hiredis 0.14 allocates an array reply's element pointers as soon as its header
// arrives, before any element: "*666666661\r\n" asks for 5 GB, so a server (or
// anyone on the path to it) could make the client reserve any amount of memory
// (found by fuzz/resp_reply_fuzz). A longer array is refused instead: its create
// function returns null, which hiredis reports as a protocol error ("Out of
// memory"). 16M elements is far beyond any reply orca's own commands read.
constexpr int kMaxReplyElements = 1 << 24;

using CreateArray = void* (*)(const redisReadTask*, int);
CreateArray default_create_array = nullptr;  // set once, before any reader uses it

void* create_bounded_array(const redisReadTask* task, int elements) {
  if (elements > kMaxReplyElements) return nullptr;
  return default_create_array(task, elements);
}

// hiredis's reply functions with create_bounded_array; shared by every reader.
redisReplyObjectFunctions* bounded_functions(const redisReplyObjectFunctions* defaults) {
  static redisReplyObjectFunctions functions = [defaults] {
    redisReplyObjectFunctions f = *defaults;
    default_create_array = f.createArray;
    f.createArray = &create_bounded_array;
    return f;
  }();
  return &functions;
}

Reply convert(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
      return Reply::string(std::string(r->str, r->len));
    case REDIS_REPLY_STATUS:
      return Reply::status(std::string(r->str, r->len));
    case REDIS_REPLY_ERROR:
      return Reply::error(std::string(r->str, r->len));
    case REDIS_REPLY_INTEGER:
      return Reply::integer(r->integer);
    case REDIS_REPLY_ARRAY: {
      std::vector<Reply> elements;
      elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i)
        elements.push_back(convert(r->element[i]));
      return Reply::array(std::move(elements));
    }
    default:
      return Reply::nil();
  }
}

}  // namespace

ReplyDecoder::ReplyDecoder() : reader_(redisReaderCreate()) {
  // hiredis's default maxbuf (16 KiB) stays: it shrinks the buffer back after a
  // large reply, so one 1 MB value does not pin 1 MB per connection forever.
  if (reader_ == nullptr) throw std::bad_alloc();
  reader_->fn = bounded_functions(reader_->fn);
}

ReplyDecoder::ReplyDecoder(ReplyDecoder&& other) noexcept
    : reader_(std::exchange(other.reader_, nullptr)) {}

ReplyDecoder& ReplyDecoder::operator=(ReplyDecoder&& other) noexcept {
  if (this != &other) {
    if (reader_ != nullptr) redisReaderFree(reader_);
    reader_ = std::exchange(other.reader_, nullptr);
  }
  return *this;
}

ReplyDecoder::~ReplyDecoder() {
  if (reader_ != nullptr) redisReaderFree(reader_);
}

Result<void> ReplyDecoder::feed(std::span<const std::byte> bytes) {
  if (reader_ == nullptr || reader_->err != 0) return make_error_code(errc::protocol_error);
  if (redisReaderFeed(reader_, reinterpret_cast<const char*>(bytes.data()), bytes.size()) !=
      REDIS_OK)
    return make_error_code(errc::protocol_error);
  return {};
}

Result<std::optional<Reply>> ReplyDecoder::next() {
  if (reader_ == nullptr || reader_->err != 0) return make_error_code(errc::protocol_error);
  void* raw = nullptr;
  if (redisReaderGetReply(reader_, &raw) != REDIS_OK) return make_error_code(errc::protocol_error);
  if (raw == nullptr) return std::optional<Reply>();
  auto* reply = static_cast<redisReply*>(raw);
  std::optional<Reply> out;
  try {
    out = convert(reply);
  } catch (...) {
    freeReplyObject(reply);
    throw;
  }
  freeReplyObject(reply);
  return out;
}

std::string ReplyDecoder::error_text() const {
  if (reader_ == nullptr || reader_->err == 0) return {};
  return reader_->errstr;
}

Task<Result<Reply>> read_reply(Context ctx, Session* session) {
  std::vector<std::byte> buf(16 * 1024);
  for (;;) {
    Result<std::optional<Reply>> next = session->decoder.next();
    if (!next) co_return next.error();
    if (next->has_value()) co_return std::move(**next);
    Result<std::size_t> n = co_await session->stream.read(ctx, buf);
    if (!n) co_return n.error();
    if (*n == 0) co_return make_error_code(errc::connection_lost);
    Result<void> fed = session->decoder.feed(std::span(buf.data(), *n));
    if (!fed) co_return fed.error();
  }
}

Task<Result<Reply>> round_trip(Context ctx, Session* session, std::vector<std::string> args) {
  std::string wire;
  append_command(wire, args);
  const Result<void> w = co_await session->stream.write_all(ctx, bytes_of(wire));
  if (!w) co_return w.error();
  Task<Result<Reply>> read = read_reply(ctx, session);
  co_return co_await std::move(read);
}

Task<Result<Session>> dial(Context ctx, RedisUrl url) {
  Result<net::TcpStream> tcp = co_await net::dial(ctx, url.host, url.port);
  if (!tcp) co_return tcp.error();
  Task<Result<net::Stream>> secured =
      net::client_stream(ctx, std::move(*tcp), url.tls ? &url.tls_config : nullptr, url.host);
  Result<net::Stream> stream = co_await std::move(secured);
  if (!stream) co_return stream.error();
  Session session{std::move(*stream), ReplyDecoder()};
  if (!url.password.empty()) {
    std::vector<std::string> auth;
    auth.emplace_back("AUTH");
    if (!url.user.empty()) auth.push_back(url.user);
    auth.push_back(url.password);
    Result<Reply> r = co_await round_trip(ctx, &session, std::move(auth));
    if (!r) co_return r.error();
    if (r->is_error()) co_return make_error_code(errc::auth_failed);
  }
  if (url.db != 0) {
    std::vector<std::string> select;
    select.emplace_back("SELECT");
    select.push_back(std::to_string(url.db));
    Result<Reply> r = co_await round_trip(ctx, &session, std::move(select));
    if (!r) co_return r.error();
    if (r->is_error()) co_return make_error_code(errc::server_error);
  }
  co_return std::move(session);
}

}  // namespace orca::redis::detail
