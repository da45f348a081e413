// The TLS error categories: messages from OpenSSL's error strings.
#include "orca/net/tls_error.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <cstdio>
#include <string>

namespace orca::net {
namespace {

class TlsCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "orca.tls"; }
  std::string message(int code) const override {
    const auto e = static_cast<unsigned long>(code);
    std::string out("tls: ");
    if (const char* reason = ERR_reason_error_string(e)) {
      out.append(reason);
    } else {
      char hex[32];
      std::snprintf(hex, sizeof hex, "error %08lx", e);
      out.append(hex);
    }
    if (const char* lib = ERR_lib_error_string(e)) out.append(" (").append(lib).append(")");
    return out;
  }
};

class TlsVerifyCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "orca.tls.verify"; }
  std::string message(int code) const override {
    std::string out("certificate verify failed: ");
    out.append(X509_verify_cert_error_string(code));
    return out;
  }
};

}  // namespace

const std::error_category& tls_category() noexcept {
  static const TlsCategory category;
  return category;
}

const std::error_category& tls_verify_category() noexcept {
  static const TlsVerifyCategory category;
  return category;
}

}  // namespace orca::net
