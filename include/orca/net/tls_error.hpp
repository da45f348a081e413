// The error categories of orca's TLS: OpenSSL's own errors, and the reasons a peer's
// certificate failed verification.
//
//   tls_category():        value = OpenSSL's packed error code (ERR_get_error:
//                          library and reason), message = OpenSSL's reason text,
//                          e.g. "tls: wrong version number (SSL routines)".
//   tls_verify_category(): value = X509_V_ERR_*, message e.g. "certificate verify
//                          failed: unable to get local issuer certificate".
// A TLS operation that fails for a socket reason returns the socket's error
// (std::system_category, net::errc) instead, as TcpStream does.
#pragma once

#include <system_error>

namespace orca::net {

const std::error_category& tls_category() noexcept;
const std::error_category& tls_verify_category() noexcept;

// Whether `ec` says that the peer's certificate was refused (tls_verify_category).
inline bool is_tls_verify_error(const std::error_code& ec) noexcept {
  return ec.category() == tls_verify_category();
}

}  // namespace orca::net
