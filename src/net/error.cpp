// orca::net's error category.
#include "orca/net/error.hpp"

#include <string>

namespace orca::net {
namespace {

class NetCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "orca.net"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::closed:
        return "use of closed network connection";
      case errc::unexpected_eof:
        return "unexpected EOF";
      case errc::busy:
        return "another operation is already waiting on this socket in the same direction";
      case errc::no_such_host:
        return "no such host";
      case errc::resolver_temporary:
        return "temporary failure in name resolution";
      case errc::resolver_failure:
        return "name resolution failed";
    }
    return "unknown orca.net error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const NetCategory category;
  return category;
}

}  // namespace orca::net
