// TlsContext: builds SSL_CTXs from the configured files; reload() swaps the
// current one under mu_ (SSL_new takes its own reference, so a swapped-out
// SSL_CTX lives on until its last connection is freed).
#include "orca/net/tls_context.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "tls_openssl.hpp"

namespace orca::net {
namespace {

// Owns an SSL_CTX until released into a TlsContext.
struct CtxOwner {
  SSL_CTX* ctx;
  ~CtxOwner() { SSL_CTX_free(ctx); }
  SSL_CTX* release() { return std::exchange(ctx, nullptr); }
};

// The error `ec` with the detail "<what> <file>: <the error's message>".
Error explain(const char* what, const std::string& file, std::error_code ec) {
  std::string why(what);
  if (!file.empty()) why.append(" ").append(file);
  why.append(": ").append(ec.message());
  return Error(ec, std::move(why));
}

// A file that cannot be opened gets its errno (ENOENT, EACCES), which names the
// problem better than OpenSSL's "system library" wrapping of the same.
std::error_code readable(const std::string& file) {
  std::FILE* f = std::fopen(file.c_str(), "r");
  if (f == nullptr) return {errno, std::system_category()};
  std::fclose(f);
  return {};
}

Result<void> load_key_pair(SSL_CTX* ctx, const std::string& cert, const std::string& key) {
  const auto fallback = make_error_code(std::errc::invalid_argument);
  if (std::error_code e = readable(cert))
    return explain("cannot read the certificate chain", cert, e);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1)
    return explain("cannot load the certificate chain from", cert,
                   detail::take_tls_error(fallback));
  if (std::error_code e = readable(key)) return explain("cannot read the private key", key, e);
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
    return explain("cannot load the private key from", key, detail::take_tls_error(fallback));
  if (SSL_CTX_check_private_key(ctx) != 1)
    return explain("the private key does not match the certificate: key", key,
                   detail::take_tls_error(fallback));
  return {};
}

// The system's CAs (OpenSSL's default paths: $SSL_CERT_FILE / $SSL_CERT_DIR, else
// Debian's /etc/ssl/certs), loaded once per process and shared by every client
// context, as Go does: parsing the bundle takes about 80 ms, too much for each
// connection. An X509_STORE is safe to share between threads (it locks inside).
X509_STORE* system_store() {
  static X509_STORE* const store = [] {
    X509_STORE* s = X509_STORE_new();
    if (s != nullptr) (void)X509_STORE_set_default_paths(s);  // missing paths: an empty store
    ERR_clear_error();
    return s;
  }();
  return store;
}

}  // namespace

TlsContext::TlsContext(bool server, TlsClientConfig client, TlsServerConfig server_config,
                       ssl_ctx_st* ctx) noexcept
    : server_(server),
      client_config_(std::move(client)),
      server_config_(std::move(server_config)),
      ctx_(ctx) {}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

Result<ssl_ctx_st*> TlsContext::load() const {
  ERR_clear_error();
  CtxOwner owner{SSL_CTX_new(server_ ? TLS_server_method() : TLS_client_method())};
  SSL_CTX* ctx = owner.ctx;
  if (ctx == nullptr)
    return explain("cannot create a TLS context", {},
                   detail::take_tls_error(make_error_code(std::errc::not_enough_memory)));
  // TLS 1.0 and 1.1 are deprecated (RFC 8996).
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  // Idle connections give their record buffers back (about 34 KiB each): a server
  // may hold thousands of idle keep-alive connections.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (server_) {
    if (Result<void> pair = load_key_pair(ctx, server_config_.cert_file, server_config_.key_file);
        !pair)
      return pair.error();
    return owner.release();
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (client_config_.ca_file.empty()) {
    X509_STORE* store = system_store();
    if (store == nullptr)
      return explain("cannot load the system's CA store", {},
                     make_error_code(std::errc::not_enough_memory));
    SSL_CTX_set1_cert_store(ctx, store);  // takes its own reference
  } else {
    const std::string& ca = client_config_.ca_file;
    if (std::error_code e = readable(ca)) return explain("cannot read the CA file", ca, e);
    if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1)
      return explain("cannot load the CA file", ca,
                     detail::take_tls_error(make_error_code(std::errc::invalid_argument)));
  }
  const bool has_cert = !client_config_.cert_file.empty();
  if (has_cert != !client_config_.key_file.empty())
    return explain("a client certificate needs both a certificate and a key file", {},
                   make_error_code(std::errc::invalid_argument));
  if (has_cert) {
    if (Result<void> pair = load_key_pair(ctx, client_config_.cert_file, client_config_.key_file);
        !pair)
      return pair.error();
  }
  return owner.release();
}

Result<std::shared_ptr<TlsContext>> TlsContext::client(TlsClientConfig config) {
  std::shared_ptr<TlsContext> tls(
      new TlsContext(false, std::move(config), TlsServerConfig{}, nullptr));
  Result<ssl_ctx_st*> ctx = tls->load();
  if (!ctx) return ctx.error();
  tls->ctx_ = *ctx;
  return tls;
}

Result<std::shared_ptr<TlsContext>> TlsContext::shared_client(const TlsClientConfig& config) {
  using Key = std::tuple<std::string, std::string, std::string>;
  static std::mutex mu;
  static std::map<Key, std::shared_ptr<TlsContext>> contexts;  // guarded by mu
  Key key{config.ca_file, config.cert_file, config.key_file};
  {
    std::lock_guard lock(mu);
    auto it = contexts.find(key);
    if (it != contexts.end()) return it->second;
  }
  // Loaded outside the lock (file reads): two first connections at once may both
  // load; the first to finish is kept and the other's dropped.
  Result<std::shared_ptr<TlsContext>> loaded = client(config);
  if (!loaded) return loaded.error();
  std::lock_guard lock(mu);
  if (contexts.size() >= kSharedClients && !contexts.count(key)) contexts.clear();
  return contexts.emplace(std::move(key), std::move(*loaded)).first->second;
}

Result<std::shared_ptr<TlsContext>> TlsContext::server(TlsServerConfig config) {
  std::shared_ptr<TlsContext> tls(
      new TlsContext(true, TlsClientConfig{}, std::move(config), nullptr));
  Result<ssl_ctx_st*> ctx = tls->load();
  if (!ctx) return ctx.error();
  tls->ctx_ = *ctx;
  return tls;
}

Result<void> TlsContext::reload() {
  Result<ssl_ctx_st*> fresh = load();  // outside the lock: file reads
  if (!fresh) return fresh.error();
  SSL_CTX* old;
  {
    std::lock_guard lock(mu_);
    old = std::exchange(ctx_, *fresh);
  }
  SSL_CTX_free(old);  // drops our reference; open connections hold theirs
  return {};
}

ssl_st* TlsContext::new_connection() const {
  std::lock_guard lock(mu_);
  return SSL_new(ctx_);
}

}  // namespace orca::net
