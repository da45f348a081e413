// The request and response parsing path (libhttp-parser under orca's limits), fed
// byte streams directly: no sockets.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "message_parser.hpp"

namespace {

using orca::http::Limits;
using orca::http::Request;
using orca::http::detail::MessageParser;
using State = MessageParser::State;

// Feeds `wire` in pieces of `step` bytes; collects complete requests until the
// stream ends or the parser fails.
struct Parsed {
  std::vector<Request> requests;
  int error_status = 0;
  std::string error_text;
};

Parsed parse_all(std::string_view wire, std::size_t step = 1 << 20, Limits limits = {}) {
  MessageParser parser(MessageParser::Kind::kRequest, limits);
  Parsed out;
  while (!wire.empty()) {
    std::string_view piece = wire.substr(0, std::min(step, wire.size()));
    while (!piece.empty()) {
      const std::size_t used = parser.feed(piece);
      piece.remove_prefix(used);
      wire.remove_prefix(used);
      if (parser.state() == State::kComplete) out.requests.push_back(parser.take_request());
      if (parser.state() == State::kError) {
        out.error_status = parser.error_status();
        out.error_text = parser.error_text();
        return out;
      }
    }
  }
  return out;
}

TEST(HttpParser, SimpleGetHasMethodPathQueryAndHeaders) {
  const Parsed p = parse_all(
      "GET /api/jobs?state=running&limit=10 HTTP/1.1\r\nHost: x\r\nX-Trace-Id: abc\r\n\r\n");
  ASSERT_EQ(p.error_status, 0) << p.error_text;
  ASSERT_EQ(p.requests.size(), 1u);
  const Request& r = p.requests[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/api/jobs?state=running&limit=10");
  EXPECT_EQ(r.path, "/api/jobs");
  EXPECT_EQ(r.query, "state=running&limit=10");
  EXPECT_EQ(r.query_param("limit").value_or("?"), "10");
  EXPECT_FALSE(r.query_param("nope").has_value());
  EXPECT_EQ(r.headers.get("x-trace-id").value_or("?"), "abc");  // any case
  EXPECT_EQ(r.headers.get("HOST").value_or("?"), "x");
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(r.version_minor, 1);
}

TEST(HttpParser, ByteByByteGivesTheSameRequest) {
  const std::string wire =
      "POST /a%20b?q=x+y%21 HTTP/1.1\r\nContent-Length: 5\r\nA: 1\r\nA: 2\r\n\r\nhello";
  const Parsed whole = parse_all(wire);
  const Parsed bytes = parse_all(wire, 1);
  ASSERT_EQ(bytes.requests.size(), 1u) << bytes.error_text;
  EXPECT_EQ(bytes.requests[0].body, "hello");
  EXPECT_EQ(bytes.requests[0].path, "/a%20b");
  EXPECT_EQ(bytes.requests[0].query_param("q").value_or("?"), "x y!");
  EXPECT_EQ(bytes.requests[0].headers.get_all("a").size(), 2u);
  EXPECT_EQ(whole.requests[0].body, bytes.requests[0].body);
}

TEST(HttpParser, ChunkedBodyIsDecoded) {
  const Parsed p = parse_all(
      "POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
      3);
  ASSERT_EQ(p.requests.size(), 1u) << p.error_text;
  EXPECT_EQ(p.requests[0].body, "hello world");
}

TEST(HttpParser, PipelinedRequestsComeOutInOrder) {
  std::string wire;
  for (int i = 0; i < 5; ++i)
    wire.append("GET /").append(std::to_string(i)).append(" HTTP/1.1\r\nHost: x\r\n\r\n");
  wire += "POST /5 HTTP/1.1\r\nContent-Length: 2\r\n\r\nok";
  const Parsed p = parse_all(wire);
  ASSERT_EQ(p.requests.size(), 6u) << p.error_text;
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(p.requests[i].path, std::string("/").append(std::to_string(i)));
  EXPECT_EQ(p.requests[5].body, "ok");
}

TEST(HttpParser, ConnectionCloseAndHttp10EndKeepAlive) {
  EXPECT_FALSE(parse_all("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").requests.at(0).keep_alive);
  EXPECT_FALSE(parse_all("GET / HTTP/1.0\r\n\r\n").requests.at(0).keep_alive);
  EXPECT_TRUE(
      parse_all("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").requests.at(0).keep_alive);
}

TEST(HttpParser, OversizeHeaderIs431) {
  Limits limits;
  limits.max_header_bytes = 1024;
  const Parsed p =
      parse_all("GET / HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n", 100, limits);
  EXPECT_EQ(p.error_status, 431);
  EXPECT_NE(p.error_text.find("1024"), std::string::npos) << p.error_text;
}

TEST(HttpParser, TooManyHeadersIs431) {
  Limits limits;
  limits.max_header_count = 10;
  std::string wire = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 11; ++i)
    wire.append("H").append(std::to_string(i)).append(": v\r\n");
  const Parsed p = parse_all(wire + "\r\n", 1 << 20, limits);
  EXPECT_EQ(p.error_status, 431);
  EXPECT_NE(p.error_text.find("too many header fields"), std::string::npos) << p.error_text;
}

TEST(HttpParser, DeclaredBodyOverLimitIs413BeforeTheBody) {
  Limits limits;
  limits.max_body_bytes = 100;
  const Parsed p = parse_all("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 1 << 20, limits);
  EXPECT_EQ(p.error_status, 413);
  EXPECT_NE(p.error_text.find("body too large"), std::string::npos) << p.error_text;
}

TEST(HttpParser, ChunkedBodyOverLimitIs413) {
  Limits limits;
  limits.max_body_bytes = 8;
  const Parsed p = parse_all(
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n",
      1 << 20, limits);
  EXPECT_EQ(p.error_status, 413);
}

TEST(HttpParser, MalformedInputsAre400) {
  for (const char* wire : {
           "GARBAGE\r\n\r\n",
           "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
           "GET / HTTP/x.1\r\n\r\n",
           "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
           "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
           "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
           "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
           "GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
           "\x01\x02\x03",
       }) {
    const Parsed p = parse_all(wire);
    EXPECT_EQ(p.error_status, 400) << "input: " << wire << " gave " << p.error_text;
  }
}

TEST(HttpParser, Http2PrefaceIsRefused) {
  const Parsed p = parse_all("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  EXPECT_GE(p.error_status, 400);
}

TEST(HttpParser, EofMidRequestIsAnError) {
  MessageParser parser(MessageParser::Kind::kRequest, {});
  (void)parser.feed("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(parser.state(), State::kPartial);
  parser.feed_eof();
  EXPECT_EQ(parser.state(), State::kError);
  EXPECT_EQ(parser.error_status(), 400);
}

TEST(HttpParser, ResponseWithCloseDelimitedBodyCompletesAtEof) {
  MessageParser parser(MessageParser::Kind::kResponse, {});
  (void)parser.feed("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome bytes");
  EXPECT_EQ(parser.state(), State::kPartial);
  parser.feed_eof();
  ASSERT_EQ(parser.state(), State::kComplete);
  const auto resp = parser.take_response();
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "some bytes");
}

TEST(HttpParser, ResponseToHeadHasNoBody) {
  MessageParser parser(MessageParser::Kind::kResponse, {});
  parser.expect_no_body();
  (void)parser.feed("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
  ASSERT_EQ(parser.state(), State::kComplete);
  EXPECT_EQ(parser.take_response().body, "");
}

}  // namespace
