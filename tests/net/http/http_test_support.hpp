// Helpers for the HTTP tests: run a test body in orca::run, start a server on
// 127.0.0.1 port 0, and talk raw bytes to it (to send what a well-behaved client
// never would: pipelined, malformed, oversized, half-closed), parsing what comes
// back with the client's own response parser.
#pragma once

#include <gtest/gtest.h>

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "message_parser.hpp"
#include "orca/net/http/client.hpp"
#include "orca/net/http/server.hpp"
#include "orca/net/tcp_stream.hpp"
#include "orca/orca.hpp"
#include "sync/sync_test_support.hpp"

namespace http_test {

using orca::Context;
using orca::Result;
using orca::Task;
using orca::http::Request;
using orca::http::Response;

// Two workers: the server's tasks and the test's clients run in parallel, as in
// production, so TSan sees real concurrency.
inline constexpr orca::RunOptions kRun{.workers = 2};

inline std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

inline std::string url(const orca::http::Server& server, std::string_view path) {
  return "http://127.0.0.1:" + std::to_string(server.local_address().port()) + std::string(path);
}

// A handler from a plain function of the request.
template <class F>
orca::http::Handler sync_handler(F f) {
  return [f = std::move(f)](Context, Request req) -> Task<Response> { co_return f(req); };
}

// Reads from `s` until EOF (or an error, or ctx done); returns everything read and
// whether the stream ended with EOF.
struct Received {
  std::string data;
  bool eof = false;
  std::error_code error;
};
inline Task<Received> read_to_end(Context ctx, orca::net::TcpStream* s) {
  Received out;
  std::vector<std::byte> buf(16 * 1024);
  while (true) {
    Result<std::size_t> n = co_await s->read(ctx, std::span(buf.data(), buf.size()));
    if (!n) {
      out.error = n.error();
      co_return out;
    }
    if (*n == 0) {
      out.eof = true;
      co_return out;
    }
    out.data.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
}

// Splits a byte stream into responses. `complete` is false if bytes remain that
// are not a whole response; `malformed` if they are not HTTP at all.
struct Responses {
  std::vector<Response> list;
  bool complete = true;
  bool malformed = false;
};
// `head_at[i]`: the i-th response answers a HEAD request (it has no body).
inline Responses parse_responses(std::string_view data, bool eof, std::vector<bool> head_at) {
  using orca::http::detail::MessageParser;
  MessageParser p(
      MessageParser::Kind::kResponse,
      {.max_header_bytes = 1 << 20, .max_header_count = 1000, .max_body_bytes = 1 << 26});
  const auto head = [&](std::size_t i) { return i < head_at.size() && head_at[i]; };
  if (head(0)) p.expect_no_body();
  Responses out;
  while (!data.empty()) {
    data.remove_prefix(p.feed(data));
    if (p.state() == MessageParser::State::kComplete) {
      out.list.push_back(p.take_response());
      if (head(out.list.size())) p.expect_no_body();
    }
    if (p.state() == MessageParser::State::kError) {
      out.complete = false;
      out.malformed = true;
      return out;
    }
  }
  if (eof && p.state() == MessageParser::State::kPartial) {
    p.feed_eof();
    if (p.state() == MessageParser::State::kComplete) out.list.push_back(p.take_response());
  }
  out.complete = p.state() == MessageParser::State::kIdle;
  return out;
}

inline Responses parse_responses(std::string_view data, bool eof, bool head = false) {
  return parse_responses(data, eof, std::vector<bool>{head});
}

// Reads from `s` until `count` responses have arrived (or EOF/error).
inline Task<Responses> read_responses(Context ctx, orca::net::TcpStream* s, std::size_t count) {
  std::string data;
  std::vector<std::byte> buf(16 * 1024);
  while (true) {
    Responses r = parse_responses(data, false);
    if (r.list.size() >= count || r.malformed) co_return r;
    Result<std::size_t> n = co_await s->read(ctx, std::span(buf.data(), buf.size()));
    if (!n || *n == 0) co_return parse_responses(data, true);
    data.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
}

// Connects to the server; fails the test (and returns a closed stream) if it cannot.
inline Task<orca::net::TcpStream> dial(Context ctx, const orca::http::Server& server) {
  Result<orca::net::TcpStream> s = co_await orca::net::TcpStream::connect(
      ctx, orca::net::Address::loopback_v4(server.local_address().port()));
  if (!s) {
    ADD_FAILURE() << "connect: " << s.error().message();
    co_return orca::net::TcpStream{};
  }
  co_return std::move(*s);
}

// Writes `wire` on a fresh connection, optionally half-closes, and reads to EOF.
inline Task<Received> exchange(Context ctx, const orca::http::Server* server, std::string wire,
                               bool half_close) {
  orca::net::TcpStream s = co_await dial(ctx, *server);
  Result<void> w = co_await s.write_all(ctx, bytes(wire));
  if (!w) co_return Received{{}, false, w.error()};
  if (half_close) (void)s.shutdown_write();
  Received r = co_await read_to_end(ctx, &s);
  co_return r;
}

}  // namespace http_test
