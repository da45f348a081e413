// TlsContext: a loaded TLS configuration (OpenSSL's SSL_CTX) that TlsStreams are
// made from: for a client, the CAs it trusts and its optional certificate; for a
// server, its certificate chain and key. Invariant: it always holds a complete,
// loaded configuration; reload() replaces it whole or not at all.
//
//   auto tls = orca::net::TlsContext::server({.cert_file = "c.pem", .key_file = "k.pem"});
//   if (!tls) { log(tls.error().detail()); ... }  // "cannot load the certificate chain from c.pem:
//   ..." auto s = co_await orca::net::TlsStream::accept(ctx, std::move(tcp), **tls);
//
// Both sides: TLS 1.2 minimum, renegotiation refused (it is where TLS 1.2's worst
// bugs were, and nothing here needs it). A client verifies the server's chain and
// name (TlsStream::connect). A server does not ask for client certificates.
//
// Reloading (certificate rotation): reload() loads the configured files again into
// a new SSL_CTX and swaps it in for the connections made after it. Connections
// already open keep the SSL_CTX they were made with (each holds a reference), so
// they are not disturbed. If the new files do not load, nothing changes and the
// error says why.
//
// Thread safety: every member may be called from any thread or task at once.
// reload() reads files with blocking calls (a few small files, once per rotation).
// Errors: a missing or unreadable file is its errno (std::system_category); a file
// that OpenSSL refuses (not PEM, a key that does not match the certificate) is a
// tls_category() error. Either way the Error's detail() is a one-line reason naming
// the file ("cannot read the private key k.pem: No such file or directory").
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include "orca/net/tls_config.hpp"
#include "orca/runtime/result.hpp"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX
struct ssl_st;      // OpenSSL's SSL

namespace orca::net {

class TlsContext {
 public:
  // Loads a client configuration: the CAs (or the system store), the optional
  // client certificate.
  static Result<std::shared_ptr<TlsContext>> client(TlsClientConfig config);
  // The client context of `config` shared by the whole process: loaded by the first
  // call for that (CA file, certificate, key), then the same one returned, so that
  // connections (net::client_stream: the HTTP client's and Redis's) do not read and
  // parse the files each (a CA bundle takes milliseconds, more than a loopback TLS
  // handshake). Not reloaded: a client's files are read once per process, and a
  // rotated client certificate needs a restart, or a TlsContext of its own that the
  // caller reload()s. A configuration that fails to load is not kept (the next call
  // tries again). At most kSharedClients configurations are kept; past that the cache
  // starts over (connections keep the contexts they hold).
  static Result<std::shared_ptr<TlsContext>> shared_client(const TlsClientConfig& config);
  static constexpr std::size_t kSharedClients = 64;
  // Loads a server configuration: certificate chain and key, checked to match.
  static Result<std::shared_ptr<TlsContext>> server(TlsServerConfig config);

  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  ~TlsContext();

  // Loads the configured files again and, if they load, uses them for new
  // connections (see Reloading).
  Result<void> reload();
  bool is_server() const noexcept { return server_; }

  // A new OpenSSL connection object on the current SSL_CTX (it holds its own
  // reference to that SSL_CTX); null if OpenSSL is out of memory. For TlsStream.
  ssl_st* new_connection() const;

 private:
  TlsContext(bool server, TlsClientConfig client, TlsServerConfig server_config,
             ssl_ctx_st* ctx) noexcept;
  Result<ssl_ctx_st*> load() const;

  const bool server_;
  const TlsClientConfig client_config_;
  const TlsServerConfig server_config_;
  mutable std::mutex mu_;
  ssl_ctx_st* ctx_;  // guarded by mu_; never null
};

}  // namespace orca::net
