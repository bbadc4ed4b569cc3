// Proves that the resolver keys ([agent] resolvers, dns_min_ttl, dns_max_ttl)
// and the per-origin address choice ([[origin]] addresses, family) read what
// docs/config.md promises, with their defaults, and that a server spelling is
// accepted exactly when the resolver would accept it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/names.h"
#include "originwatch/config.h"

namespace originwatch::testing {
namespace {

constexpr char kOrigin[] = "\n[[origin]]\nname = \"x\"\nhost = \"example.com\"\n";

std::vector<std::string> Errors(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.ToString());
  return out;
}

AgentConfig MustParse(const std::string& text) {
  LoadResult r = ParseConfig(text, "t.toml");
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(Errors(r));
  return r.config.value_or(AgentConfig{});
}

TEST(DnsKeys, DefaultsAreTheSystemResolverAndThirtySecondsToOneHour) {
  AgentConfig c = MustParse(kOrigin);
  EXPECT_TRUE(c.resolvers.empty());
  EXPECT_EQ(c.dns_min_ttl_ms, 30'000);
  EXPECT_EQ(c.dns_max_ttl_ms, 3'600'000);
  ASSERT_EQ(c.origins.size(), 1u);
  EXPECT_EQ(c.origins[0].addresses, "all");
  EXPECT_EQ(c.origins[0].family, "any");
}

TEST(DnsKeys, ResolversAreKeptAsWrittenInFileOrder) {
  AgentConfig c = MustParse(
      "[agent]\nresolvers = [\"127.0.0.1:53\", \"[::1]:5353\", \"192.0.2.53\", \"::1\"]\n" +
      std::string(kOrigin));
  EXPECT_EQ(c.resolvers,
            (std::vector<std::string>{"127.0.0.1:53", "[::1]:5353", "192.0.2.53", "::1"}));
}

TEST(DnsKeys, TtlBoundsAreDurationsAndMayBeEqual) {
  AgentConfig c =
      MustParse("[agent]\ndns_min_ttl = \"5s\"\ndns_max_ttl = 300\n" + std::string(kOrigin));
  EXPECT_EQ(c.dns_min_ttl_ms, 5'000);
  EXPECT_EQ(c.dns_max_ttl_ms, 300'000);  // a bare integer is seconds
  AgentConfig same =
      MustParse("[agent]\ndns_min_ttl = \"1m\"\ndns_max_ttl = \"60s\"\n" + std::string(kOrigin));
  EXPECT_EQ(same.dns_min_ttl_ms, same.dns_max_ttl_ms);
}

TEST(DnsKeys, MinAboveTheDefaultMaxNamesBoth) {
  LoadResult r = ParseConfig("[agent]\ndns_min_ttl = \"2h\"\n" + std::string(kOrigin), "t.toml");
  EXPECT_EQ(Errors(r), (std::vector<std::string>{"t.toml:2:15: \"dns_min_ttl\" (2h) must not be "
                                                 "longer than \"dns_max_ttl\" (1h, its default)"}));
}

TEST(DnsKeys, AResolverTypoGetsADidYouMean) {
  LoadResult r =
      ParseConfig("[agent]\nresolver = [\"127.0.0.1\"]\n" + std::string(kOrigin), "t.toml");
  EXPECT_EQ(Errors(r), (std::vector<std::string>{
                           "t.toml:2:1: unknown key \"resolver\" in [agent] (did you mean "
                           "\"resolvers\"?)"}));
}

TEST(AddressChoice, FirstAndOneFamilyAreRead) {
  AgentConfig c = MustParse(R"(
[[origin]]
name = "a"
host = "a.example.com"
addresses = "first"
family = "ipv6"

[[origin]]
name = "b"
host = "2001:db8::10"
family = "ipv6"
)");
  ASSERT_EQ(c.origins.size(), 2u);
  EXPECT_EQ(c.origins[0].addresses, "first");
  EXPECT_EQ(c.origins[0].family, "ipv6");
  EXPECT_EQ(c.origins[1].addresses, "all");
  EXPECT_EQ(c.origins[1].family, "ipv6");  // an IPv6 literal of the asked family
}

TEST(Names, DnsServerSpellingsAreTheResolvers) {
  using config_internal::IsDnsServer;
  for (const char* good : {"127.0.0.1", "127.0.0.1:53", "192.0.2.1:65535", "[::1]", "[::1]:5353",
                           "::1", "2001:db8::53", "[2001:db8::53]:1"}) {
    EXPECT_TRUE(IsDnsServer(good)) << good;
  }
  for (const char* bad :
       {"", "dns.example.com", "dns.example.com:53", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
        "127.0.0.1:053x", "127.0.0.1:+53", "192.0.2.300", "[127.0.0.1]:53", "[::1", "[::1]53",
        "[::1]:", "::1]:53", "[]:53", "[::1]:99999", " 127.0.0.1"}) {
    EXPECT_FALSE(IsDnsServer(bad)) << bad;
  }
}

}  // namespace
}  // namespace originwatch::testing
