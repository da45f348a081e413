// Fuzz target: the HTTP/1.1 message parser (src/net/http/message_parser.hpp,
// libhttp-parser under orca's limits), requests as the server reads them and
// responses as the client does. The first byte chooses the kind, the piece size
// and the limits; the rest is the stream. Properties: the stream fed in one piece
// and fed in small pieces gives the same messages, then the same end (refused or
// not: the reason may differ, see refused() below); the parser
// takes every byte it is given unless it stops at a message's end; a message keeps
// within the limits; a refusal is one of 400, 413, 431, 505 with a reason.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "message_parser.hpp"

namespace {

using orca::http::Limits;
using orca::http::detail::MessageParser;
using State = MessageParser::State;

struct Options {
  MessageParser::Kind kind = MessageParser::Kind::kRequest;
  Limits limits;
  bool head_response = false;  // responses: the request was HEAD
};

// Everything a message carries, flattened for comparison.
std::string describe(const orca::http::Request& r) {
  std::string out = r.method + ' ' + r.target + " path=" + r.path + " query=" + r.query;
  out += " v" + std::to_string(r.version_major) + '.' + std::to_string(r.version_minor);
  out += r.keep_alive ? " keep-alive" : " close";
  for (const auto& [name, value] : r.headers)
    out += '\n' + name + ": " + value;
  out += "\n\n" + r.body;
  return out;
}

std::string describe(const orca::http::Response& r) {
  std::string out = std::to_string(r.status);
  out += " v" + std::to_string(r.version_major) + '.' + std::to_string(r.version_minor);
  out += r.keep_alive ? " keep-alive" : " close";
  for (const auto& [name, value] : r.headers)
    out += '\n' + name + ": " + value;
  out += "\n\n" + r.body;
  return out;
}

void check_limits(const Options& o, const orca::http::Headers& headers, const std::string& body) {
  FUZZ_CHECK(headers.size() <= o.limits.max_header_count);
  FUZZ_CHECK(body.size() <= o.limits.max_body_bytes);
}

// The messages parsed from the stream, then how it ended.
std::vector<std::string> parse(const Options& o, std::string_view stream, std::size_t piece) {
  std::vector<std::string> out;
  MessageParser parser(o.kind, o.limits);
  if (o.head_response) parser.expect_no_body();
  if (piece == 0) piece = stream.size() + 1;
  bool stopped = false;  // refused, or the stream switched protocols
  auto take = [&] {
    if (o.kind == MessageParser::Kind::kRequest) {
      orca::http::Request r = parser.take_request();
      check_limits(o, r.headers, r.body);
      (void)r.query_params();
      out.push_back(describe(r));
    } else {
      orca::http::Response r = parser.take_response();
      check_limits(o, r.headers, r.body);
      out.push_back(describe(r));
      if (o.head_response) parser.expect_no_body();
    }
    if (parser.upgraded()) {
      out.push_back("upgraded");
      stopped = true;
    }
  };
  auto refused = [&] {
    const int status = parser.error_status();
    FUZZ_CHECK(status == 400 || status == 413 || status == 431 || status == 505, "status %d",
               status);
    FUZZ_CHECK(!parser.error_text().empty());
    // Not the status or the reason: a message that breaks two rules (a bad byte
    // after the header that goes over a limit) is refused for the one its pieces
    // show first, since limits are checked as the bytes arrive (by design: an
    // oversized header is refused before it is buffered).
    out.push_back("refused");
    stopped = true;
  };
  for (std::size_t at = 0; at < stream.size() && !stopped; at += piece) {
    std::string_view rest = stream.substr(at, piece);
    while (!rest.empty() && !stopped) {
      const std::size_t n = parser.feed(rest);
      FUZZ_CHECK(n <= rest.size());
      rest.remove_prefix(n);
      if (parser.state() == State::kComplete) {
        take();
      } else if (parser.state() == State::kError) {
        refused();
      } else {
        FUZZ_CHECK(rest.empty(), "the parser stopped %zu bytes early in state %d", rest.size(),
                   static_cast<int>(parser.state()));
      }
    }
  }
  if (!stopped) {
    parser.feed_eof();
    if (parser.state() == State::kComplete)
      take();
    else if (parser.state() == State::kError)
      refused();
    else
      FUZZ_CHECK(parser.state() == State::kIdle);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  Options o;
  if (control & 0x10) o.kind = MessageParser::Kind::kResponse;
  if (control & 0x20)
    o.limits = Limits{.max_header_bytes = 64, .max_header_count = 4, .max_body_bytes = 16};
  o.head_response = o.kind == MessageParser::Kind::kResponse && (control & 0x40);
  const std::size_t piece = 1 + (control & 0x0f);
  const auto whole = parse(o, stream, 0);
  const auto split = parse(o, stream, piece);
  FUZZ_CHECK(whole == split, "%zu outcomes in one piece, %zu in pieces of %zu: %s | %s",
             whole.size(), split.size(), piece, whole.empty() ? "" : whole.back().c_str(),
             split.empty() ? "" : split.back().c_str());
  return 0;
}
