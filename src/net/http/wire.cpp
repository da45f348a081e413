// Message serialization. The Date header is formatted once per second per thread:
// formatting a date per response costs more than the rest of a small response.
#include "wire.hpp"

#include <charconv>
#include <ctime>

namespace orca::http::detail {

namespace {

void append_number(std::string& out, std::size_t n) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

// Not inline: thread-locals must not be read from a coroutine (a task may move
// between threads at a suspension; Clang may cache the address, LLVM 47179).
[[gnu::noinline]] std::string_view http_date() {
  thread_local std::time_t cached_second = 0;
  thread_local char cached[40];
  thread_local std::size_t cached_len = 0;
  const std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm tm;
    gmtime_r(&now, &tm);
    cached_len = std::strftime(cached, sizeof cached, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_second = now;
  }
  return {cached, cached_len};
}

bool is_framing(std::string_view name) {
  return iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") ||
         iequals(name, "Connection") || iequals(name, "Date");
}

}  // namespace

namespace {

// The status line, the handler's headers (minus framing) and Date.
void write_head_fields(const Response& resp, int status, std::string& out) {
  out.append("HTTP/1.1 ");
  append_number(out, static_cast<std::size_t>(status));
  out.push_back(' ');
  out.append(status_text(status));
  out.append("\r\nDate: ");
  out.append(http_date());
  out.append("\r\n");
  for (const auto& [name, value] : resp.headers) {
    if (is_framing(name)) continue;
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
  }
}

}  // namespace

void write_stream_head(const Response& resp, bool http10, std::string& out) {
  write_head_fields(resp, resp.status >= 200 && resp.status <= 999 ? resp.status : 500, out);
  if (!http10) out.append("Transfer-Encoding: chunked\r\n");
  out.append("Connection: close\r\n\r\n");
}

void write_response(const Response& resp, bool head, bool keep_alive, bool http10,
                    std::string& out) {
  const int status = resp.status >= 100 && resp.status <= 999 ? resp.status : 500;
  write_head_fields(resp, status, out);
  // 1xx, 204 and 304 carry no body and no length (RFC 9110 §8.6).
  const bool bodiless = status < 200 || status == 204 || status == 304;
  if (!bodiless) {
    out.append("Content-Length: ");
    append_number(out, resp.body.size());
    out.append("\r\n");
  }
  if (!keep_alive) {
    out.append("Connection: close\r\n");
  } else if (http10) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
  if (!head && !bodiless) out.append(resp.body);
}

void write_request(const Request& req, std::string_view host, std::string_view path_and_query,
                   std::string& out) {
  out.append(req.method);
  out.push_back(' ');
  out.append(path_and_query);
  out.append(" HTTP/1.1\r\n");
  if (!req.headers.contains("Host")) {
    out.append("Host: ");
    out.append(host);
    out.append("\r\n");
  }
  for (const auto& [name, value] : req.headers) {
    if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding")) continue;
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
  }
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
    out.append("Content-Length: ");
    append_number(out, req.body.size());
    out.append("\r\n");
  }
  out.append("\r\n");
  out.append(req.body);
}

}  // namespace orca::http::detail
