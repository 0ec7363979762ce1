#include "ops/bind_address.h"

#include <gtest/gtest.h>

namespace libcluster {
namespace {

BindAddress parsed(std::string_view text) {
  Result<std::optional<BindAddress>> result = parseBindAddress(text);
  EXPECT_TRUE(result.has_value()) << text;
  EXPECT_TRUE(result.has_value() && result->has_value()) << text;
  return result.has_value() && result->has_value() ? **result : BindAddress{};
}

TEST(BindAddress, PortAloneMeansEveryInterface) {
  EXPECT_EQ(parsed(":8080"), (BindAddress{.host = "", .port = 8080}));
}

TEST(BindAddress, HostAndPort) {
  EXPECT_EQ(parsed("127.0.0.1:8081"), (BindAddress{.host = "127.0.0.1", .port = 8081}));
  EXPECT_EQ(parsed("localhost:9090"), (BindAddress{.host = "localhost", .port = 9090}));
}

TEST(BindAddress, BracketedIpv6) {
  EXPECT_EQ(parsed("[::1]:0"), (BindAddress{.host = "::1", .port = 0}));
  EXPECT_EQ(parsed("[::]:8443"), (BindAddress{.host = "::", .port = 8443}));
}

TEST(BindAddress, ZeroAndEmptyDisableServing) {
  for (std::string_view text : {"0", ""}) {
    Result<std::optional<BindAddress>> result = parseBindAddress(text);
    ASSERT_TRUE(result.has_value()) << text;
    EXPECT_FALSE(result->has_value()) << text;
  }
}

TEST(BindAddress, MalformedAddressesAreInvalid) {
  for (std::string_view text : {"8080", ":", "127.0.0.1:", ":http", ":70000", ":-1", "::1:8080",
                                "[::1]", "[::1]8080", "[]:80", "[::1:80", ":80x"}) {
    Result<std::optional<BindAddress>> result = parseBindAddress(text);
    ASSERT_FALSE(result.has_value()) << text;
    EXPECT_EQ(result.error().code, Error::Code::Invalid) << text;
  }
}

} // namespace
} // namespace libcluster
