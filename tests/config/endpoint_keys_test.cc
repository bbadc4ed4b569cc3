// Proves that the HTTP endpoint keys ([agent] listen, metrics_per_variant,
// enable_reload) read what docs/config.md promises: off by default, IPv4 and
// bracketed IPv6 with a port, "{shard}" accepted, and exact messages otherwise.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "originwatch/config.h"

namespace originwatch::testing {
namespace {

constexpr char kOrigin[] = "\n[[origin]]\nname = \"x\"\nhost = \"example.com\"\n";

std::vector<std::string> Errors(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.ToString());
  return out;
}

TEST(EndpointKeys, OffByDefaultWithPerVariantMetricsAndNoReload) {
  LoadResult r = ParseConfig(kOrigin, "t.toml");
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(Errors(r));
  EXPECT_EQ(r.config->listen, "");
  EXPECT_TRUE(r.config->metrics_per_variant);
  EXPECT_FALSE(r.config->enable_reload);
}

TEST(EndpointKeys, ReadsIpv4Ipv6AndShardPlaceholder) {
  for (const std::string listen : {"127.0.0.1:9464", "[::1]:9464", "0.0.0.0:1", "127.0.0.1:94{shard}",
                                   "127.0.0.{shard}:9464"}) {
    LoadResult r = ParseConfig("[agent]\nlisten = \"" + listen +
                                   "\"\nmetrics_per_variant = false\nenable_reload = true\n" + kOrigin,
                               "t.toml");
    ASSERT_TRUE(r.ok()) << listen << ": " << ::testing::PrintToString(Errors(r));
    EXPECT_EQ(r.config->listen, listen);
    EXPECT_EQ(r.config->listen_pos.line, 2);
    EXPECT_FALSE(r.config->metrics_per_variant);
    EXPECT_TRUE(r.config->enable_reload);
  }
}

TEST(EndpointKeys, RejectsNamesMissingPortsAndBadPortsWithPosition) {
  struct Case {
    const char* listen;
    const char* message;
  };
  const Case cases[] = {
      {"localhost:9464", "t.toml:2:10: invalid listen \"localhost:9464\": \"localhost\" is not an IPv4 address (names are not allowed)"},
      {"127.0.0.1", "t.toml:2:10: invalid listen \"127.0.0.1\": expected \"address:port\", like \"127.0.0.1:9464\""},
      {"127.0.0.1:0", "t.toml:2:10: invalid listen \"127.0.0.1:0\": the port must be a number from 1 to 65535"},
      {"127.0.0.1:65536", "t.toml:2:10: invalid listen \"127.0.0.1:65536\": the port must be a number from 1 to 65535"},
      {"::1:9464", "t.toml:2:10: invalid listen \"::1:9464\": an IPv6 address needs brackets, like \"[::1]:9464\""},
      {"[::1]", "t.toml:2:10: invalid listen \"[::1]\": expected \"[IPv6]:port\", like \"[::1]:9464\""},
      {"[127.0.0.1]:80", "t.toml:2:10: invalid listen \"[127.0.0.1]:80\": \"127.0.0.1\" is not an IPv6 address"},
  };
  for (const Case& c : cases) {
    LoadResult r = ParseConfig(std::string("[agent]\nlisten = \"") + c.listen + "\"\n" + kOrigin, "t.toml");
    EXPECT_EQ(Errors(r), std::vector<std::string>{c.message}) << c.listen;
  }
}

TEST(EndpointKeys, ListenAddressParserGivesHostWithoutBrackets) {
  std::string host, why;
  uint16_t port = 0;
  ASSERT_TRUE(ParseListenAddress("[::1]:9464", &host, &port, &why)) << why;
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 9464);
  ASSERT_TRUE(ParseListenAddress("127.0.0.1:80", &host, &port, &why)) << why;
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 80);
  EXPECT_FALSE(ParseListenAddress("127.0.0.1:80x", &host, &port, &why));
}

}  // namespace
}  // namespace originwatch::testing
