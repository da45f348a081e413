// Response constructors and reason phrases (libhttp-parser's table).
#include "orca/net/http/response.hpp"

#include <http_parser.h>

#include <cstring>

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

std::string_view status_text(int status) noexcept {
  const char* text = http_status_str(static_cast<http_status>(status));
  // http-parser answers "<unknown>" for codes outside its table.
  if (text == nullptr || std::strcmp(text, "<unknown>") == 0) return "Unknown";
  return text;
}

}  // namespace orca::http
