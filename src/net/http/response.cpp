// Response constructors, the error renderer, and reason phrases (libhttp-parser's
// table).
#include "orca/net/http/response.hpp"

#include <http_parser.h>

#include <cstring>
#include <string_view>

namespace orca::http {

Response Response::text(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.add("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(body);
  return r;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.add("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

namespace {

// A JSON string literal of `s`: quotes, backslashes and control bytes escaped. The
// messages are ASCII; a byte >= 0x80 is sent as \u00XX (its Latin-1 reading), so the
// body stays valid JSON even if a message ever quotes a client's bytes.
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x80 || c == 0x7f) {
      out.append("\\u00");
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
}

}  // namespace

Response Response::error(int status, std::string_view message, ErrorFormat format) {
  Response r;
  if (format == ErrorFormat::kText) {
    std::string body(message);
    body.push_back('\n');
    r = text(status, std::move(body));
  } else {
    std::string body = "{\"error\":";
    append_json_string(body, message);
    body.push_back('}');
    r = json(status, std::move(body));
  }
  // Some of these never reach a route (a malformed request, a refused connection),
  // so no access policy adds its headers: a browser must not sniff them as HTML.
  r.headers.set("X-Content-Type-Options", "nosniff");
  return r;
}

std::string_view status_text(int status) noexcept {
  const char* text = http_status_str(static_cast<http_status>(status));
  // http-parser answers "<unknown>" for codes outside its table.
  if (text == nullptr || std::strcmp(text, "<unknown>") == 0) return "Unknown";
  return text;
}

}  // namespace orca::http
