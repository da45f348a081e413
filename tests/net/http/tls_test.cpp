// HTTPS: orca's server with ServerOptions::tls against orca's client, curl and a
// plaintext client; certificate rotation with reload_tls(); the handshake timeout.
// Certificates are made by the test (support/tls_pki.hpp).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "http_test_support.hpp"
#include "orca/net/tls_context.hpp"
#include "orca/net/tls_stream.hpp"
#include "support/tls_pki.hpp"

namespace {

using namespace http_test;
using orca::http::Client;
using orca::http::ClientOptions;
using orca::http::Router;
using orca::http::Server;
using orca::http::ServerOptions;
using orca::net::Address;
using orca::net::TlsContext;
using orca::net::TlsStream;
using orca_test::TestPki;

const TestPki& pki() {
  const TestPki& p = TestPki::shared();
  EXPECT_TRUE(p.ok()) << p.error();
  return p;
}

Router tls_hello_router() {
  Router router;
  router.get("/hello", sync_handler([](const Request&) { return Response::text(200, "hello\n"); }));
  return router;
}

ServerOptions tls_options() {
  ServerOptions options;
  auto tls = TlsContext::server({.cert_file = pki().server_cert, .key_file = pki().server_key});
  EXPECT_TRUE(tls);
  if (tls) options.tls = *tls;
  return options;
}

ClientOptions trusting(std::string ca) {
  ClientOptions options;
  options.tls.ca_file = std::move(ca);
  return options;
}

std::string https_url(const Server& server, const char* host, const char* path) {
  std::string u("https://");
  u.append(host).append(":").append(std::to_string(server.local_address().port())).append(path);
  return u;
}

// A TLS connection to the server, verified against the test CA as "localhost".
Task<Result<TlsStream>> dial_tls(Context ctx, const Server& server) {
  Result<orca::net::TcpStream> tcp = co_await orca::net::TcpStream::connect(
      ctx, Address::loopback_v4(server.local_address().port()));
  if (!tcp) co_return tcp.error();
  orca::net::TlsClientConfig config;
  config.ca_file = pki().ca_cert;
  auto tls = TlsContext::client(config);
  if (!tls) co_return tls.error();
  co_return co_await TlsStream::connect(ctx, std::move(*tcp), **tls, "localhost");
}

// One keep-alive GET /hello on `s`; the body, or "" on failure.
Task<std::string> get_hello(Context ctx, TlsStream* s) {
  const std::string req = "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
  Result<void> w = co_await s->write_all(ctx, bytes(req));
  if (!w) co_return std::string();
  std::string data;
  std::vector<std::byte> buf(4096);
  for (;;) {
    Responses r = parse_responses(data, false);
    if (!r.list.empty()) co_return r.list.front().body;
    Result<std::size_t> n = co_await s->read(ctx, buf);
    if (!n || *n == 0) co_return std::string();
    data.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
}

TEST(Https, ClientVerifiesTheServerAgainstItsCa) {
  ASSERT_TRUE(pki().ok());  // made before the runtime: openssl blocks its thread
  orca::run(
      []() -> Task<void> {
        Server server(tls_hello_router(), tls_options());
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        auto [ctx, cancel] = orca::with_timeout(orca::background(), std::chrono::seconds(20));
        Client good(trusting(pki().ca_cert));
        // By name (checked against DNS:localhost, sent as SNI) and by IP literal.
        auto by_name = co_await good.get(ctx, https_url(server, "localhost", "/hello"));
        CO_ASSERT_TRUE(by_name);
        EXPECT_EQ(by_name->status, 200);
        EXPECT_EQ(by_name->body, "hello\n");
        auto by_ip = co_await good.get(ctx, https_url(server, "127.0.0.1", "/hello"));
        CO_ASSERT_TRUE(by_ip);
        EXPECT_EQ(by_ip->status, 200);
        // A client trusting another CA refuses the server, and says why.
        Client wrong(trusting(pki().other_ca_cert));
        auto refused = co_await wrong.get(ctx, https_url(server, "localhost", "/hello"));
        CO_ASSERT_TRUE(!refused);
        EXPECT_TRUE(orca::net::is_tls_verify_error(refused.error())) << refused.error().message();
        EXPECT_EQ(refused.error().message(),
                  "certificate verify failed: unable to get local issuer certificate");
        // The default (the system store) does not know the test CA either.
        Client system;
        auto unknown = co_await system.get(ctx, https_url(server, "localhost", "/hello"));
        CO_ASSERT_TRUE(!unknown);
        EXPECT_TRUE(orca::net::is_tls_verify_error(unknown.error()));
        // The server goes on serving.
        auto again = co_await good.get(ctx, https_url(server, "localhost", "/hello"));
        CO_EXPECT_TRUE(again && again->status == 200);
        auto done = co_await server.shutdown(ctx);
        CO_EXPECT_TRUE(done);
        cancel();
      },
      kRun);
}

TEST(Https, CurlGetsA200) {
  ASSERT_TRUE(pki().ok());  // made before the runtime: openssl blocks its thread
  orca::run(
      []() -> Task<void> {
        Server server(tls_hello_router(), tls_options());
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        // curl on the blocking pool: it blocks its thread until the server answers.
        const std::string cmd = "curl -sS --max-time 20 --cacert '" + pki().ca_cert +
                                "' -o /dev/null -w '%{http_code}' '" +
                                https_url(server, "localhost", "/hello") + "' 2>&1";
        std::string out = co_await orca::blocking([&] {
          std::string text;
          std::FILE* p = ::popen(cmd.c_str(), "r");
          if (p == nullptr) return std::string("popen failed");
          char buf[256];
          while (std::fgets(buf, sizeof buf, p) != nullptr)
            text.append(buf);
          ::pclose(p);
          return text;
        });
        EXPECT_EQ(out, "200") << cmd;
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(Https, PlaintextClientFailsCleanlyAndTheServerGoesOn) {
  ASSERT_TRUE(pki().ok());  // made before the runtime: openssl blocks its thread
  orca::run(
      []() -> Task<void> {
        Server server(tls_hello_router(), tls_options());
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        auto [ctx, cancel] = orca::with_timeout(orca::background(), std::chrono::seconds(20));
        Client plain;
        auto got = co_await plain.get(ctx, url(server, "/hello"));
        // The server answers the request with a TLS alert and closes: not HTTP.
        CO_ASSERT_TRUE(!got);
        EXPECT_TRUE(got.error() == orca::http::errc::malformed_response ||
                    got.error() == orca::http::errc::connection_closed)
            << got.error().message();
        Client good(trusting(pki().ca_cert));
        auto after = co_await good.get(ctx, https_url(server, "localhost", "/hello"));
        CO_ASSERT_TRUE(after);
        EXPECT_EQ(after->status, 200);
        auto done = co_await server.shutdown(ctx);
        CO_EXPECT_TRUE(done);
        cancel();
      },
      kRun);
}

TEST(Https, ReloadServesTheNewCertificateToNewConnectionsOnly) {
  // The files are rewritten in place, as a certificate rotation does.
  const TestPki& p = pki();
  const std::string cert = p.dir + "/rotating.pem";
  const std::string key = p.dir + "/rotating.key";
  std::filesystem::copy_file(p.server_cert, cert,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(p.server_key, key, std::filesystem::copy_options::overwrite_existing);
  ASSERT_TRUE(pki().ok());  // made before the runtime: openssl blocks its thread
  orca::run(
      [&]() -> Task<void> {
        ServerOptions options;
        auto tls = TlsContext::server({.cert_file = cert, .key_file = key});
        CO_ASSERT_TRUE(tls);
        options.tls = *tls;
        Server server(tls_hello_router(), options);
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        auto [ctx, cancel] = orca::with_timeout(orca::background(), std::chrono::seconds(20));

        Result<TlsStream> before = co_await dial_tls(ctx, server);
        CO_ASSERT_TRUE(before);
        EXPECT_EQ(before->peer_serial(), "1001");
        std::string first = co_await get_hello(ctx, &*before);
        EXPECT_EQ(first, "hello\n");

        std::filesystem::copy_file(p.server2_cert, cert,
                                   std::filesystem::copy_options::overwrite_existing);
        std::filesystem::copy_file(p.server2_key, key,
                                   std::filesystem::copy_options::overwrite_existing);
        // From another thread (the blocking pool's): reload_tls may be called
        // from anywhere, as a SIGHUP handler's thread would.
        Result<void> reloaded = co_await orca::blocking([&] { return server.reload_tls(); });
        CO_ASSERT_TRUE(reloaded);

        Result<TlsStream> after = co_await dial_tls(ctx, server);
        CO_ASSERT_TRUE(after);
        EXPECT_EQ(after->peer_serial(), "2002");
        EXPECT_EQ(after->peer_subject(), "CN=localhost-2");
        std::string fresh = co_await get_hello(ctx, &*after);
        EXPECT_EQ(fresh, "hello\n");
        // The keep-alive connection opened before the reload still works.
        std::string second = co_await get_hello(ctx, &*before);
        EXPECT_EQ(second, "hello\n");
        EXPECT_EQ(before->peer_serial(), "1001");

        // A reload whose files do not load changes nothing, and names the file.
        std::FILE* f = std::fopen(key.c_str(), "w");
        CO_ASSERT_TRUE(f != nullptr);
        std::fputs("garbage\n", f);
        std::fclose(f);
        Result<void> bad = server.reload_tls();
        CO_ASSERT_TRUE(!bad);
        EXPECT_NE(bad.error().detail().find(key), std::string::npos) << bad.error();
        Result<TlsStream> still = co_await dial_tls(ctx, server);
        CO_ASSERT_TRUE(still);
        EXPECT_EQ(still->peer_serial(), "2002");

        before->close();
        after->close();
        still->close();
        auto done = co_await server.shutdown(ctx);
        CO_EXPECT_TRUE(done);
        cancel();
      },
      kRun);
}

TEST(Https, SilentClientIsCutAtTheHandshakeTimeout) {
  ASSERT_TRUE(pki().ok());  // made before the runtime: openssl blocks its thread
  orca::run(
      []() -> Task<void> {
        ServerOptions options = tls_options();
        options.tls_handshake_timeout = std::chrono::milliseconds(20);
        Server server(tls_hello_router(), options);
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        auto [ctx, cancel] = orca::with_timeout(orca::background(), std::chrono::seconds(20));
        // Connects and sends nothing: the server closes the connection by itself
        // (EOF here), long before the test's own 20 s bound.
        orca::net::TcpStream silent = co_await dial(ctx, server);
        Received r = co_await read_to_end(ctx, &silent);
        EXPECT_TRUE(r.eof || r.error == std::errc::connection_reset) << r.error.message();
        EXPECT_TRUE(r.data.empty());
        EXPECT_FALSE(ctx.is_done());
        auto done = co_await server.shutdown(ctx);
        CO_EXPECT_TRUE(done);
        cancel();
      },
      kRun);
}

}  // namespace
