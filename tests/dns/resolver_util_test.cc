// Proves the resolver's pure pieces: server spellings are read or rejected by
// name, the cache keeps an answer exactly for its TTL without regard to case,
// TTLs are clamped, and the DNS outcome codes have stable spellings.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "dns/answer_cache.h"
#include "dns/resolver_util.h"
#include "originwatch/probe.h"

namespace originwatch::dns {
namespace {

TEST(ParseServerTest, ReadsAddressesWithAndWithoutPorts) {
  struct Case {
    const char* text;
    const char* spelling;
    int family;
  };
  for (const Case& c : {Case{"127.0.0.1:5353", "127.0.0.1:5353", AF_INET},
                        Case{"127.0.0.1", "127.0.0.1:53", AF_INET},
                        Case{"[::1]:5353", "[::1]:5353", AF_INET6},
                        Case{"[::1]", "[::1]:53", AF_INET6},
                        Case{"0:0::1", "[::1]:53", AF_INET6}}) {
    auto s = ParseServer(c.text);
    ASSERT_TRUE(s.ok()) << c.text << ": " << s.status().message();
    EXPECT_EQ(s->spelling, c.spelling);
    EXPECT_EQ(s->family, c.family);
  }
}

TEST(ParseServerTest, RejectsNamesAndBadPortsNamingTheSpelling) {
  for (const char* bad : {"localhost:53", "1.2.3.4:", "1.2.3.4:0", "1.2.3.4:70000", "[::1",
                          "[::1]53", "::1:53x", "", "1.2.3.4:53:53", "[1.2.3.4]:53"}) {
    auto s = ParseServer(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(s.status().message().find("\"" + std::string(bad) + "\""), std::string::npos)
        << s.status().message();
  }
}

TEST(AnswerCacheTest, KeepsAnAnswerForItsTtlOnlyAndIgnoresCase) {
  AnswerCache cache;
  DnsAnswer a;
  a.outcome = Outcome::kOk;
  a.addresses = {"192.0.2.1"};
  a.ttl_ms = 1000;
  a.dns_ms = 7;
  cache.Store(MakeCacheKey("WWW.Example.TEST", Family::kAny), a, 5000);
  auto hit = cache.Find(MakeCacheKey("www.example.test", Family::kAny), 5400);
  ASSERT_TRUE(hit.has_value());
  EXPECT_TRUE(hit->cached);
  EXPECT_EQ(hit->ttl_ms, 600);
  EXPECT_EQ(hit->dns_ms, 0);
  EXPECT_EQ(hit->addresses, a.addresses);
  EXPECT_FALSE(cache.Find(MakeCacheKey("www.example.test", Family::kIpv4), 5400).has_value());
  EXPECT_FALSE(cache.Find(MakeCacheKey("www.example.test", Family::kAny), 6000).has_value());
  EXPECT_EQ(cache.size(), 0u);
}

TEST(AnswerCacheTest, ZeroTtlStoresNothingAndForgetsTheOldAnswer) {
  AnswerCache cache;
  DnsAnswer a;
  a.ttl_ms = 1000;
  const CacheKey key = MakeCacheKey("a.test", Family::kAny);
  cache.Store(key, a, 0);
  a.ttl_ms = 0;
  cache.Store(key, a, 10);
  EXPECT_FALSE(cache.Find(key, 20).has_value());
}

TEST(AnswerCacheTest, ExpiredEntriesAreSweptAsTheCacheGrows) {
  AnswerCache cache;
  DnsAnswer a;
  a.ttl_ms = 10;
  for (int i = 0; i < 1023; ++i) cache.Store(MakeCacheKey(std::to_string(i), Family::kAny), a, 0);
  EXPECT_EQ(cache.size(), 1023u);
  cache.Store(MakeCacheKey("late", Family::kAny), a, 100);  // the others expired at 10
  EXPECT_EQ(cache.size(), 1u);
}

TEST(ClampTtlTest, ClampsToFloorAndCeiling) {
  ResolverOptions o;
  o.ttl_floor_ms = 5000;
  o.ttl_ceiling_ms = 60000;
  EXPECT_EQ(ClampTtlMs(1, o), 5000);
  EXPECT_EQ(ClampTtlMs(30, o), 30000);
  EXPECT_EQ(ClampTtlMs(86400, o), 60000);
  EXPECT_EQ(ClampTtlMs(-1, o), 5000);
}

TEST(DnsOutcomeTest, NewCodesAreAppendedWithStableSpellings) {
  struct Case {
    Outcome outcome;
    int number;
    const char* code;
  };
  for (const Case& c : {Case{Outcome::kDnsNxdomain, 15, "dns_nxdomain"},
                        Case{Outcome::kDnsServfail, 16, "dns_servfail"},
                        Case{Outcome::kDnsTimeout, 17, "dns_timeout"},
                        Case{Outcome::kDnsNoAddress, 18, "dns_no_address"},
                        Case{Outcome::kDnsRefused, 19, "dns_refused"}}) {
    EXPECT_EQ(static_cast<int>(c.outcome), c.number);
    EXPECT_EQ(OutcomeCode(c.outcome), c.code);
    EXPECT_EQ(OutcomeFromCode(c.code), c.outcome);
    EXPECT_TRUE(IsDnsOutcome(c.outcome));
  }
  EXPECT_TRUE(IsDnsOutcome(Outcome::kDnsError));
  EXPECT_FALSE(IsDnsOutcome(Outcome::kOk));
  EXPECT_FALSE(IsDnsOutcome(Outcome::kRefused));
  EXPECT_FALSE(IsDnsOutcome(Outcome::kConnectTimeout));
}

}  // namespace
}  // namespace originwatch::dns
