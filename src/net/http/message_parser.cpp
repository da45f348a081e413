// MessageParser: see message_parser.hpp. Every callback either appends to the
// message being built or fails it; limits are checked before bytes are kept.
#include "message_parser.hpp"

#include <initializer_list>
#include <string>
#include <utility>

namespace orca::http::detail {

namespace {

// ": " and CRLF around each field, counted toward max_header_bytes so that the
// limit is close to the bytes on the wire.
constexpr std::size_t kFieldOverhead = 4;

MessageParser* self(http_parser* p) noexcept {
  return static_cast<MessageParser*>(p->data);
}

// Builds messages by appending: GCC 12 warns falsely (-Wrestrict, PR 105329) on
// chains of std::string operator+ at -O3.
std::string text_of(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts)
    out.append(p);
  return out;
}

}  // namespace

const http_parser_settings& MessageParser::callbacks() noexcept {
  static const http_parser_settings s = [] {
    http_parser_settings v;
    http_parser_settings_init(&v);
    v.on_message_begin = &MessageParser::on_message_begin;
    v.on_url = &MessageParser::on_url;
    v.on_status = &MessageParser::on_status;
    v.on_header_field = &MessageParser::on_header_field;
    v.on_header_value = &MessageParser::on_header_value;
    v.on_headers_complete = &MessageParser::on_headers_complete;
    v.on_body = &MessageParser::on_body;
    v.on_message_complete = &MessageParser::on_message_complete;
    return v;
  }();
  return s;
}

MessageParser::MessageParser(Kind kind, Limits limits) : kind_(kind), limits_(limits) {
  http_parser_init(&parser_, kind == Kind::kRequest ? HTTP_REQUEST : HTTP_RESPONSE);
  parser_.data = this;
}

void MessageParser::reset_message() {
  header_bytes_ = 0;
  header_count_ = 0;
  in_value_ = false;
  in_body_ = false;
  field_.clear();
  value_.clear();
  request_ = Request{};
  response_ = Response{};
}

void MessageParser::fail(int status, std::string text) {
  state_ = State::kError;
  error_status_ = status;
  error_text_ = std::move(text);
}

bool MessageParser::add_header_bytes(std::size_t n) {
  header_bytes_ += n;
  if (header_bytes_ <= limits_.max_header_bytes) return true;
  fail(431, text_of({"request header fields too large: limit is ",
                     std::to_string(limits_.max_header_bytes), " bytes"}));
  return false;
}

void MessageParser::commit_field() {
  if (field_.empty() && value_.empty()) return;
  if (kind_ == Kind::kRequest) {
    request_.headers.add(std::move(field_), std::move(value_));
  } else {
    response_.headers.add(std::move(field_), std::move(value_));
  }
  field_.clear();
  value_.clear();
}

int MessageParser::on_message_begin(http_parser* p) {
  MessageParser* m = self(p);
  m->reset_message();
  m->state_ = State::kPartial;
  return 0;
}

int MessageParser::on_url(http_parser* p, const char* at, std::size_t n) {
  MessageParser* m = self(p);
  if (!m->add_header_bytes(n)) return -1;
  m->request_.target.append(at, n);
  return 0;
}

int MessageParser::on_status(http_parser* p, const char*, std::size_t n) {
  return self(p)->add_header_bytes(n) ? 0 : -1;
}

int MessageParser::on_header_field(http_parser* p, const char* at, std::size_t n) {
  MessageParser* m = self(p);
  if (m->in_value_ || m->field_.empty()) {  // a new field starts
    if (m->in_value_) m->commit_field();
    m->in_value_ = false;
    if (++m->header_count_ > m->limits_.max_header_count) {
      m->fail(431, text_of({"too many header fields: limit is ",
                            std::to_string(m->limits_.max_header_count)}));
      return -1;
    }
    if (!m->add_header_bytes(kFieldOverhead)) return -1;
  }
  if (!m->add_header_bytes(n)) return -1;
  m->field_.append(at, n);
  return 0;
}

int MessageParser::on_header_value(http_parser* p, const char* at, std::size_t n) {
  MessageParser* m = self(p);
  m->in_value_ = true;
  if (!m->add_header_bytes(n)) return -1;
  m->value_.append(at, n);
  return 0;
}

int MessageParser::on_headers_complete(http_parser* p) {
  MessageParser* m = self(p);
  m->commit_field();
  m->in_value_ = false;
  if (p->http_major != 1) {
    m->fail(505, "HTTP version not supported: only HTTP/1.0 and HTTP/1.1");
    return -1;
  }
  const bool keep_alive = http_should_keep_alive(p) != 0;
  if (m->kind_ == Kind::kRequest) {
    Request& r = m->request_;
    r.method = http_method_str(static_cast<http_method>(p->method));
    r.version_major = p->http_major;
    r.version_minor = p->http_minor;
    r.keep_alive = keep_alive;
    if (r.target == "*") {
      r.path = std::string("*");
    } else {
      http_parser_url url;
      http_parser_url_init(&url);
      const bool connect = p->method == HTTP_CONNECT;
      if (http_parser_parse_url(r.target.data(), r.target.size(), connect ? 1 : 0, &url) != 0) {
        m->fail(400, "malformed request: invalid request target");
        return -1;
      }
      if (url.field_set & (1u << UF_PATH))
        r.path = r.target.substr(url.field_data[UF_PATH].off, url.field_data[UF_PATH].len);
      if (url.field_set & (1u << UF_QUERY))
        r.query = r.target.substr(url.field_data[UF_QUERY].off, url.field_data[UF_QUERY].len);
      if (r.path.empty() && !connect) r.path = std::string("/");
    }
  } else {
    Response& r = m->response_;
    r.status = static_cast<int>(p->status_code);
    r.version_major = p->http_major;
    r.version_minor = p->http_minor;
    r.keep_alive = keep_alive;
  }
  // A declared length over the limit is refused before any body byte is read.
  if ((p->flags & F_CONTENTLENGTH) && p->content_length > m->limits_.max_body_bytes &&
      !(m->kind_ == Kind::kResponse && m->no_body_)) {
    m->fail(413, text_of({m->kind_ == Kind::kRequest ? "request" : "response",
                          " body too large: limit is ", std::to_string(m->limits_.max_body_bytes),
                          " bytes"}));
    return -1;
  }
  m->in_body_ = true;
  // 1: a response to HEAD has no body, whatever its Content-Length says.
  return m->kind_ == Kind::kResponse && m->no_body_ ? 1 : 0;
}

int MessageParser::on_body(http_parser* p, const char* at, std::size_t n) {
  MessageParser* m = self(p);
  std::string& body = m->kind_ == Kind::kRequest ? m->request_.body : m->response_.body;
  if (body.size() + n > m->limits_.max_body_bytes) {
    m->fail(413, text_of({m->kind_ == Kind::kRequest ? "request" : "response",
                          " body too large: limit is ", std::to_string(m->limits_.max_body_bytes),
                          " bytes"}));
    return -1;
  }
  body.append(at, n);
  return 0;
}

int MessageParser::on_message_complete(http_parser* p) {
  MessageParser* m = self(p);
  m->state_ = State::kComplete;
  // Stop right after this message, so pipelined messages come out one at a time.
  http_parser_pause(p, 1);
  return 0;
}

std::size_t MessageParser::feed(std::string_view data) {
  if (HTTP_PARSER_ERRNO(&parser_) == HPE_PAUSED) http_parser_pause(&parser_, 0);
  if (data.empty()) return 0;
  const std::size_t n = http_parser_execute(&parser_, &callbacks(), data.data(), data.size());
  if (state_ == State::kError) return n;  // a callback refused the message
  const http_errno err = HTTP_PARSER_ERRNO(&parser_);
  if (err == HPE_PAUSED) {
    if (parser_.upgrade) upgraded_ = true;
    return n;
  }
  if (err != HPE_OK) {
    if (err == HPE_HEADER_OVERFLOW) {
      fail(431, "request header fields too large");
    } else {
      fail(400, text_of({"malformed ", kind_ == Kind::kRequest ? "request" : "response", ": ",
                         http_errno_description(err)}));
    }
    return n;
  }
  if (parser_.upgrade) upgraded_ = true;
  return n;
}

void MessageParser::feed_eof() {
  if (state_ != State::kPartial && state_ != State::kIdle) return;
  if (HTTP_PARSER_ERRNO(&parser_) == HPE_PAUSED) http_parser_pause(&parser_, 0);
  const State before = state_;
  http_parser_execute(&parser_, &callbacks(), nullptr, 0);
  if (state_ == State::kComplete || state_ == State::kError) return;
  if (before == State::kPartial)
    fail(400, text_of({"malformed ", kind_ == Kind::kRequest ? "request" : "response",
                       ": connection closed mid-message"}));
}

Request MessageParser::take_request() {
  state_ = State::kIdle;
  return std::move(request_);
}

Response MessageParser::take_response() {
  state_ = State::kIdle;
  no_body_ = false;  // expect_no_body() holds for one response
  return std::move(response_);
}

}  // namespace orca::http::detail
