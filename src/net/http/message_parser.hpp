// MessageParser: libhttp-parser (Debian's http-parser 2.9) wrapped into a
// streaming parser of whole requests or responses under orca's Limits.
//
// feed() consumes bytes until one message is complete, then stops (the parser is
// paused in on_message_complete), so a pipelined stream yields its messages one
// by one and in order; the caller feeds the unconsumed rest afterwards. Limits are
// checked in the callbacks, as the bytes arrive, so an oversized header or body is
// refused before it is buffered.
//
// Private to orca_http (tests include it for the fuzz test). Not thread-safe.
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "orca/net/http/limits.hpp"
#include "orca/net/http/request.hpp"
#include "orca/net/http/response.hpp"

namespace orca::http::detail {

class MessageParser {
 public:
  enum class Kind { kRequest, kResponse };
  enum class State {
    kIdle,      // between messages: nothing of the next one seen yet
    kPartial,   // inside a message
    kComplete,  // a message is ready: take_request() / take_response()
    kError,     // malformed or over a limit: error_status() / error_text()
  };

  MessageParser(Kind kind, Limits limits);
  MessageParser(const MessageParser&) = delete;
  MessageParser& operator=(const MessageParser&) = delete;

  // Parses up to the end of the next message in `data`; returns the bytes
  // consumed. Call only in kIdle or kPartial state.
  std::size_t feed(std::string_view data);
  // Tells the parser the peer closed its side: completes a close-delimited
  // response body, or turns a partial message into an error.
  void feed_eof();

  State state() const noexcept { return state_; }
  // Inside a message whose header block is complete: its body (or chunked
  // trailer) is still arriving. The server's body_read_timeout runs from here.
  bool in_body() const noexcept { return state_ == State::kPartial && in_body_; }
  // After kComplete: the message; the parser returns to kIdle.
  Request take_request();
  Response take_response();
  // After kError: the status the server answers with (400, 413, 431) and a short
  // text saying why ("request body too large: limit is 1024 bytes").
  int error_status() const noexcept { return error_status_; }
  const std::string& error_text() const noexcept { return error_text_; }

  // Response parsing: the next response answers a HEAD request (no body follows).
  void expect_no_body() noexcept { no_body_ = true; }
  // The message just completed asked to switch protocols (Upgrade, CONNECT); the
  // bytes after it are not HTTP.
  bool upgraded() const noexcept { return upgraded_; }

 private:
  static const http_parser_settings& callbacks() noexcept;
  static int on_message_begin(http_parser* p);
  static int on_url(http_parser* p, const char* at, std::size_t n);
  static int on_status(http_parser* p, const char* at, std::size_t n);
  static int on_header_field(http_parser* p, const char* at, std::size_t n);
  static int on_header_value(http_parser* p, const char* at, std::size_t n);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, std::size_t n);
  static int on_message_complete(http_parser* p);

  bool add_header_bytes(std::size_t n);
  void fail(int status, std::string text);
  void commit_field();
  void reset_message();

  http_parser parser_;
  Kind kind_;
  Limits limits_;
  State state_ = State::kIdle;
  bool no_body_ = false;
  bool upgraded_ = false;
  bool in_value_ = false;  // the last header callback was a value
  bool in_body_ = false;   // on_headers_complete has run for this message
  std::size_t header_bytes_ = 0;
  std::size_t header_count_ = 0;
  std::string field_;
  std::string value_;
  Request request_;
  Response response_;
  int error_status_ = 0;
  std::string error_text_;
};

}  // namespace orca::http::detail
