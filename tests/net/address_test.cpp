// Address: parsing, printing and rejection of bad input.
#include <gtest/gtest.h>

#include <system_error>

#include "orca/net/address.hpp"

namespace {

using orca::net::Address;

TEST(Address, ParsesIpv4AndPrintsItBack) {
  auto a = Address::parse("127.0.0.1:8080");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_TRUE(a->is_v4());
  EXPECT_EQ(a->port(), 8080);
  EXPECT_EQ(a->to_string(), "127.0.0.1:8080");
  EXPECT_EQ(*a, Address::loopback_v4(8080));
}

TEST(Address, ParsesBracketedIpv6AndPrintsItBack) {
  auto a = Address::parse("[::1]:80");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_TRUE(a->is_v6());
  EXPECT_EQ(a->port(), 80);
  EXPECT_EQ(a->to_string(), "[::1]:80");
  EXPECT_EQ(*a, Address::loopback_v6(80));
}

TEST(Address, LocalhostIsIpv4Loopback) {
  auto a = Address::parse("localhost:0");
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, Address::loopback_v4(0));
}

TEST(Address, RejectsBadInputWithInvalidArgument) {
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                          "127.0.0.1:80x", "::1:80", "[::1]80", "[::1]:", "[::1", "1.2.3:80",
                          "example.com:80", "[127.0.0.1]:80", ":80", "127.0.0.1:123456"}) {
    auto a = Address::parse(bad);
    EXPECT_FALSE(a) << "parse(\"" << bad << "\"): got " << (a ? a->to_string() : "")
                    << ", want an error";
    if (!a) {
      EXPECT_EQ(a.error(), std::make_error_code(std::errc::invalid_argument))
          << "parse(\"" << bad << "\")";
    }
  }
}

TEST(Address, DefaultIsIpv4AnyPortZero) {
  Address a;
  EXPECT_TRUE(a.is_v4());
  EXPECT_EQ(a.to_string(), "0.0.0.0:0");
}

}  // namespace
