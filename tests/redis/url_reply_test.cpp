// Pure functions of orca_redis: URL parsing (good and bad), Reply's conversions
// and rendering, the script SHA1, and the cluster hash slot.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "redis_test_support.hpp"

namespace {

using orca::redis::cluster_slot;
using orca::redis::crc16_xmodem;
using orca::redis::errc;
using orca::redis::RedisUrl;
using orca::redis::Reply;

TEST(RedisUrl, ParsesEveryPart) {
  auto u = RedisUrl::parse("redis://alice:s3cret@127.0.0.1:6380/2");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->user, "alice");
  EXPECT_EQ(u->password, "s3cret");
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->db, 2);
  EXPECT_EQ(u->to_string(), "redis://alice:***@127.0.0.1:6380/2");
}

TEST(RedisUrl, DefaultsPortAndDb) {
  auto u = RedisUrl::parse("redis://localhost");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, 6379);
  EXPECT_EQ(u->db, 0);
  EXPECT_TRUE(u->password.empty());
  EXPECT_TRUE(u->user.empty());
  EXPECT_EQ(u->host, "localhost");  // kept as written: resolved at connect time
  EXPECT_EQ(u->authority(), "localhost:6379");
  auto slash = RedisUrl::parse("redis://127.0.0.1:7000/");
  ASSERT_TRUE(slash);
  EXPECT_EQ(slash->db, 0);
}

TEST(RedisUrl, PasswordOnlyForms) {
  auto colon = RedisUrl::parse("redis://:pw@127.0.0.1");
  ASSERT_TRUE(colon);
  EXPECT_EQ(colon->user, "");
  EXPECT_EQ(colon->password, "pw");
  auto bare = RedisUrl::parse("redis://pw@127.0.0.1");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->password, "pw");
  auto escaped = RedisUrl::parse("redis://:p%40ss%2Fw@127.0.0.1");
  ASSERT_TRUE(escaped);
  EXPECT_EQ(escaped->password, "p@ss/w");
}

TEST(RedisUrl, HostNamesAreKeptForConnectTime) {
  for (const char* name :
       {"redis", "redis-0.redis.default.svc.cluster.local", "cache_1.internal", "LOCALHOST"}) {
    std::string text("redis://");
    text.append(name);
    text.append(":7000/1");
    auto u = RedisUrl::parse(text);
    ASSERT_TRUE(u) << text << ": " << u.error();
    EXPECT_EQ(u->host, name);
    EXPECT_EQ(u->port, 7000);
    EXPECT_EQ(u->to_string(), text);
  }
}

TEST(RedisUrl, Ipv6Host) {
  auto u = RedisUrl::parse("redis://[::1]:7001/3");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 7001);
  EXPECT_EQ(u->db, 3);
  EXPECT_EQ(u->authority(), "[::1]:7001");
}

TEST(RedisUrl, RedissIsTlsWithItsFiles) {
  auto plain = RedisUrl::parse("rediss://:pw@localhost/1");
  ASSERT_TRUE(plain) << plain.error();
  EXPECT_TRUE(plain->tls);
  EXPECT_EQ(plain->port, 6379);
  EXPECT_EQ(plain->host, "localhost");  // what the server's certificate must name
  EXPECT_EQ(plain->tls_config, orca::net::TlsClientConfig{});
  EXPECT_EQ(plain->to_string(), "rediss://:***@localhost:6379/1");
  auto files =
      RedisUrl::parse("rediss://127.0.0.1:6380?cacert=/etc/ca.pem&cert=/c%26d.pem&key=/k.pem");
  ASSERT_TRUE(files) << files.error();
  EXPECT_EQ(files->tls_config.ca_file, "/etc/ca.pem");
  EXPECT_EQ(files->tls_config.cert_file, "/c&d.pem");
  EXPECT_EQ(files->tls_config.key_file, "/k.pem");
  EXPECT_EQ(files->to_string(),
            "rediss://127.0.0.1:6380?cacert=/etc/ca.pem&cert=/c%26d.pem&key=/k.pem");
  auto again = RedisUrl::parse(files->to_string());
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *files);
  EXPECT_FALSE(RedisUrl::parse("redis://127.0.0.1")->tls);
}

TEST(RedisUrl, BadUrlsAreInvalidUrlWithAReason) {
  const std::vector<std::string> bad = {
      "",
      "http://127.0.0.1",
      "redis://",
      "redis://127.0.0.1:",
      "redis://127.0.0.1:0",
      "redis://127.0.0.1:65536",
      "redis://127.0.0.1:99999999999999999999",
      "redis://127.0.0.1:12ab",
      "redis://127.0.0.1/-1",
      "redis://127.0.0.1/x",
      "redis://127.0.0.1/1?timeout=3",
      "redis://exa mple.com:6379",
      "redis://host%20name",
      "redis://[127.0.0.1]:6379",
      "redis://[redis.local]:6379",
      "redis://[::1",
      "redis://[::1]x",
      "redis://:%zz@127.0.0.1",
      "redis://:%4@127.0.0.1",
      "redis://alice:@127.0.0.1",
      "redis://@",
      "rediss://127.0.0.1?timeout=3",
      "rediss://127.0.0.1?cert=/c.pem",
      "rediss://127.0.0.1?cacert=",
      "rediss://127.0.0.1?cacert=/a.pem&cacert=/b.pem",
      "rediss://127.0.0.1#x",
  };
  for (const std::string& text : bad) {
    auto u = RedisUrl::parse(text);
    EXPECT_FALSE(u) << "parse(\"" << text << "\"): got a URL, want invalid_url";
    if (u) continue;
    EXPECT_EQ(u.error(), make_error_code(errc::invalid_url)) << text;
    EXPECT_FALSE(u.error().detail().empty()) << "parse(\"" << text << "\") gave no reason";
  }
}

TEST(Reply, ConstructorsAndPredicates) {
  EXPECT_TRUE(Reply().is_nil());
  EXPECT_TRUE(Reply::status("OK").is_ok());
  EXPECT_TRUE(Reply::error("ERR x").is_error());
  EXPECT_EQ(Reply::integer(42).integer(), 42);
  EXPECT_EQ(Reply::string("bytes").str(), "bytes");
  const Reply a = Reply::array({Reply::integer(1), Reply::array({Reply::string("x")})});
  ASSERT_TRUE(a.is_array());
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(a[1][0].str(), "x");
  EXPECT_EQ(a, Reply::array({Reply::integer(1), Reply::array({Reply::string("x")})}));
  EXPECT_NE(a, Reply::array({}));
}

TEST(Reply, CheckedConversions) {
  EXPECT_EQ(*Reply::integer(7).as_int(), 7);
  EXPECT_EQ(*Reply::string("-12").as_int(), -12);
  EXPECT_EQ(Reply::string("12x").as_int().error(), make_error_code(errc::unexpected_reply));
  EXPECT_EQ(Reply::string("").as_int().error(), make_error_code(errc::unexpected_reply));
  EXPECT_EQ(Reply().as_int().error(), make_error_code(errc::unexpected_reply));
  EXPECT_EQ(Reply::error("ERR no").as_int().error(), make_error_code(errc::server_error));
  EXPECT_EQ(*Reply::status("PONG").as_string(), "PONG");
  EXPECT_EQ(Reply().as_string().error(), make_error_code(errc::unexpected_reply));
  auto none = Reply().as_optional_string();
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  auto some = Reply::string("v").as_optional_string();
  ASSERT_TRUE(some);
  EXPECT_EQ(some->value(), "v");
}

TEST(Reply, ErrorKindMatchesTheFirstWord) {
  const Reply moved = Reply::error("MOVED 3999 127.0.0.1:6381");
  EXPECT_TRUE(moved.is_error_kind("MOVED"));
  EXPECT_FALSE(moved.is_error_kind("MOVE"));
  EXPECT_FALSE(Reply::error("ASKING x").is_error_kind("ASK"));
  EXPECT_TRUE(Reply::error("NOSCRIPT No matching script").is_error_kind("NOSCRIPT"));
  EXPECT_FALSE(Reply::string("MOVED 1 a:1").is_error_kind("MOVED"));
}

TEST(Reply, RendersLikeRedisCli) {
  EXPECT_EQ(Reply().to_string(), "(nil)");
  EXPECT_EQ(Reply::integer(3).to_string(), "(integer) 3");
  EXPECT_EQ(Reply::error("ERR bad").to_string(), "(error) ERR bad");
  EXPECT_EQ(Reply::array({Reply::string("a"), Reply::integer(1)}).to_string(),
            "1) \"a\"\n2) (integer) 1");
}

TEST(Script, Sha1MatchesKnownVectors) {
  EXPECT_EQ(orca::redis::sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(orca::redis::sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(orca::redis::sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(orca::redis::sha1_hex(std::string(1000000, 'a')),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  EXPECT_EQ(orca::redis::Script("return 1").sha1(), orca::redis::sha1_hex("return 1"));
}

TEST(Cluster, Crc16AndSlotsFollowTheSpec) {
  // The check value of CRC-16/XMODEM, and the examples of the cluster spec.
  EXPECT_EQ(crc16_xmodem("123456789"), 0x31C3);
  EXPECT_EQ(cluster_slot("foo"), 12182);
  EXPECT_EQ(cluster_slot("bar"), 5061);
  EXPECT_EQ(cluster_slot("{user1000}.following"), cluster_slot("{user1000}.followers"));
  EXPECT_EQ(cluster_slot("{user1000}.following"), cluster_slot("user1000"));
  // Only the first {...} counts, and an empty {} hashes the whole key.
  EXPECT_EQ(cluster_slot("foo{bar}{zap}"), cluster_slot("bar"));
  EXPECT_EQ(cluster_slot("foo{}{bar}"), crc16_xmodem("foo{}{bar}") % 16384);
  EXPECT_EQ(cluster_slot("foo{{bar}}zap"), cluster_slot("{bar"));
}

}  // namespace
