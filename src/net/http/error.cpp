// The orca::http error category.
#include "orca/net/http/error.hpp"

#include <string>

namespace orca::http {

namespace {
class HttpCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "orca.http"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::bad_url:
        return "bad URL: want http://host[:port][/path][?query]";
      case errc::malformed_response:
        return "malformed HTTP response";
      case errc::response_too_large:
        return "HTTP response exceeds the client's limits";
      case errc::connection_closed:
        return "connection closed before a complete HTTP response";
      case errc::server_error:
        return "the server answered 5xx";
      case errc::too_many_requests:
        return "the server answered 429 Too Many Requests";
    }
    return "unknown orca.http error";
  }
};
}  // namespace

const std::error_category& error_category() noexcept {
  static const HttpCategory category;
  return category;
}

}  // namespace orca::http
