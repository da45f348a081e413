// rediss://: Connection and Client over TLS against a real redis-server serving
// TLS only (--port 0 --tls-port), with certificates made by the test
// (support/tls_pki.hpp): verified by the right CA, refused under a wrong one, and
// with the client certificate a server with tls-auth-clients asks for.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "orca/net/tls_error.hpp"
#include "redis_test_support.hpp"
#include "support/tls_pki.hpp"

namespace {

using namespace orca_redis_test;
using orca::Result;
using orca::Task;
using orca::redis::Connection;
using orca::redis::RedisUrl;
using orca::redis::Reply;
using orca_test::TestPki;

const TestPki& pki() {
  const TestPki& p = TestPki::shared();
  EXPECT_TRUE(p.ok()) << p.error();
  return p;
}

orca_test::RedisServerOptions tls_server(bool auth_clients) {
  orca_test::RedisServerOptions options;
  options.tls = true;
  options.extra_args = {"--tls-cert-file",    pki().server_cert,          "--tls-key-file",
                        pki().server_key,     "--tls-ca-cert-file",       pki().ca_cert,
                        "--tls-auth-clients", auth_clients ? "yes" : "no"};
  return options;
}

// rediss://localhost:port?<params>, parsed (fails the test if it does not parse).
RedisUrl rediss(const orca_test::RedisServer& server, const std::string& params) {
  std::string text("rediss://localhost:");
  text.append(std::to_string(server.port())).append("?").append(params);
  auto url = RedisUrl::parse(text);
  EXPECT_TRUE(url) << text << ": " << url.error();
  return url ? *url : RedisUrl();
}

std::string ca_param(const std::string& file) {
  std::string p("cacert=");
  p.append(file);
  return p;
}

TEST(Rediss, PingSetGetOverVerifiedTls) {
  ASSERT_TRUE(pki().ok());
  ORCA_REDIS_SERVER(server, tls_server(false));
  const RedisUrl good = rediss(server, ca_param(pki().ca_cert));
  const RedisUrl wrong = rediss(server, ca_param(pki().other_ca_cert));
  run_on(2, [&]() -> Task<void> {
    Bounded b;
    Result<Connection> conn = co_await Connection::connect(b.ctx, good);
    CO_ASSERT_TRUE(conn);
    Result<Reply> pong = co_await conn->command(b.ctx, cmd("PING"));
    CO_ASSERT_TRUE(pong);
    EXPECT_EQ(pong->str(), "PONG");
    Result<Reply> set = co_await conn->command(b.ctx, cmd("SET", "tls:k", "v1"));
    CO_EXPECT_TRUE(set && set->is_ok());
    Result<Reply> got = co_await conn->command(b.ctx, cmd("GET", "tls:k"));
    CO_ASSERT_TRUE(got);
    EXPECT_EQ(got->str(), "v1");
    // The pooled client dials the same way.
    Result<orca::redis::Client> client = co_await orca::redis::Client::connect(b.ctx, good);
    CO_ASSERT_TRUE(client);
    Result<Reply> again = co_await client->command(b.ctx, cmd("GET", "tls:k"));
    CO_ASSERT_TRUE(again);
    EXPECT_EQ(again->str(), "v1");
    co_await client->closed();
    // Trusting another CA: the server is refused, with the reason.
    Result<Connection> refused = co_await Connection::connect(b.ctx, wrong);
    CO_ASSERT_TRUE(!refused);
    EXPECT_TRUE(orca::net::is_tls_verify_error(refused.error())) << describe(refused.error());
  });
}

TEST(Rediss, ClientCertificateForTlsAuthClients) {
  ASSERT_TRUE(pki().ok());
  ORCA_REDIS_SERVER(server, tls_server(true));
  std::string with_cert = ca_param(pki().ca_cert);
  with_cert.append("&cert=").append(pki().client_cert).append("&key=").append(pki().client_key);
  const RedisUrl url = rediss(server, with_cert);
  const RedisUrl no_cert = rediss(server, ca_param(pki().ca_cert));
  run_on(2, [&]() -> Task<void> {
    Bounded b;
    Result<Connection> conn = co_await Connection::connect(b.ctx, url);
    CO_ASSERT_TRUE(conn);
    Result<Reply> pong = co_await conn->command(b.ctx, cmd("PING"));
    CO_ASSERT_TRUE(pong);
    EXPECT_EQ(pong->str(), "PONG");
    // Without a certificate the server drops the connection (with TLS 1.3 the
    // client's handshake may complete first: the refusal comes on the first read).
    Result<Connection> bare = co_await Connection::connect(b.ctx, no_cert);
    if (bare) {
      Result<Reply> r = co_await bare->command(b.ctx, cmd("PING"));
      CO_EXPECT_TRUE(!r);
    }
  });
}

}  // namespace
