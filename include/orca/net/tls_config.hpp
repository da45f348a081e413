// TlsClientConfig and TlsServerConfig: the files and choices a TLS endpoint is
// made from (TlsContext loads them). Plain values: nothing is read until a
// TlsContext is built from them.
//
// Safe by default: a client verifies the server's certificate chain (against the
// system's CA store unless ca_file says otherwise) and the server's name; there is
// no switch to turn verification off. Both sides speak TLS 1.2 or 1.3 only.
//
// Thread safety: value types.
#pragma once

#include <string>

namespace orca::net {

struct TlsClientConfig {
  // PEM file of the CAs that may sign the server's certificate (read whole each
  // time a TlsContext is made: keep it to the CAs needed). Empty: the system
  // store (OpenSSL's default paths: /etc/ssl/certs on Debian, or $SSL_CERT_FILE
  // and $SSL_CERT_DIR), loaded once per process on first use (tens of ms).
  std::string ca_file;
  // A client certificate (PEM chain) and its private key (PEM), for servers that
  // ask for one (Redis with tls-auth-clients). Both or neither.
  std::string cert_file;
  std::string key_file;

  friend bool operator==(const TlsClientConfig&, const TlsClientConfig&) = default;
};

struct TlsServerConfig {
  // PEM file: the server's certificate first, then its intermediates.
  std::string cert_file;
  // PEM file: the certificate's private key.
  std::string key_file;

  friend bool operator==(const TlsServerConfig&, const TlsServerConfig&) = default;
};

}  // namespace orca::net
