// Proves that the Resolver answers from real DNS servers on loopback (dnsmasq
// and a scripted responder) with every address, the right outcome for each
// kind of failure, TTL-bound caching and one lookup per name in flight, and
// that it stops promptly with an answer for every pending request.
#include "originwatch/resolver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "dns/dns_servers.h"
#include "originwatch/clock.h"

namespace originwatch::testing {
namespace {

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Collects the answers of asynchronous requests; waits for them, bounded.
class Answers {
 public:
  Resolver::Callback Add() {
    return [this](DnsAnswer a) {
      std::lock_guard<std::mutex> lock(mutex_);
      answers_.push_back(std::move(a));
      cv_.notify_all();
    };
  }
  bool WaitFor(size_t n, int timeout_ms = 5000) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                        [&] { return answers_.size() >= n; });
  }
  std::vector<DnsAnswer> Take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return answers_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<DnsAnswer> answers_;
};

// A resolver, or nullptr with a failure recorded; io_uring missing is a skip
// unless ORIGINWATCH_REQUIRE_IO_URING is set (CI).
std::unique_ptr<Resolver> MakeResolver(const ResolverOptions& options) {
  auto r = Resolver::Start(options);
  if (r.ok()) return std::move(r).value();
  if (r.status().code() != Status::Code::kUnavailable ||
      std::getenv("ORIGINWATCH_REQUIRE_IO_URING") != nullptr) {
    ADD_FAILURE() << r.status().message();
  }
  return nullptr;
}

#define OW_RESOLVER_OR_SKIP(var, options)                                              \
  auto var = MakeResolver(options);                                                    \
  if (!var) {                                                                          \
    if (::testing::Test::HasFailure()) return;                                         \
    GTEST_SKIP() << "io_uring unavailable (set ORIGINWATCH_REQUIRE_IO_URING to fail)"; \
  }

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    dnsmasq_ = Dnsmasq::Start(
        {
            "--local=/test/",  // every other name under .test is NXDOMAIN
            "--host-record=multi.test,192.0.2.1,2001:db8::1,60",
            "--host-record=multi.test,192.0.2.2,2001:db8::2,60",
            "--host-record=short.test,192.0.2.10,1",
            "--host-record=long.test,192.0.2.20,86400",
            "--host-record=v4only.test,192.0.2.30,60",
            "--txt-record=txt.test,only text here",
        },
        &error);
    ASSERT_NE(dnsmasq_, nullptr) << error;
  }
  void TearDown() override { dnsmasq_.reset(); }

  ResolverOptions Options() const {
    ResolverOptions o;
    o.servers = {dnsmasq_->server()};
    o.timeout_ms = 1000;
    return o;
  }

  std::unique_ptr<Dnsmasq> dnsmasq_;
};

TEST_F(ResolverTest, SeveralAAndAaaaRecordsAreAllReturnedAndFamiliesFilter) {
  OW_RESOLVER_OR_SKIP(resolver, Options());
  DnsAnswer any = resolver->ResolveBlocking("multi.test", Family::kAny);
  ASSERT_EQ(any.outcome, Outcome::kOk) << any.error;
  ASSERT_EQ(any.addresses.size(), 4u);
  // IPv4 first, then IPv6; within a family, in the server's order (which
  // dnsmasq varies), so compared as sets.
  EXPECT_EQ(Sorted({any.addresses[0], any.addresses[1]}),
            (std::vector<std::string>{"192.0.2.1", "192.0.2.2"}));
  EXPECT_EQ(Sorted({any.addresses[2], any.addresses[3]}),
            (std::vector<std::string>{"2001:db8::1", "2001:db8::2"}));
  EXPECT_EQ(any.resolver, dnsmasq_->server());
  EXPECT_FALSE(any.cached);
  EXPECT_TRUE(any.error.empty());

  DnsAnswer v4 = resolver->ResolveBlocking("multi.test", Family::kIpv4);
  ASSERT_EQ(v4.outcome, Outcome::kOk) << v4.error;
  EXPECT_EQ(Sorted(v4.addresses), (std::vector<std::string>{"192.0.2.1", "192.0.2.2"}));
  DnsAnswer v6 = resolver->ResolveBlocking("multi.test", Family::kIpv6);
  ASSERT_EQ(v6.outcome, Outcome::kOk) << v6.error;
  EXPECT_EQ(Sorted(v6.addresses), (std::vector<std::string>{"2001:db8::1", "2001:db8::2"}));
  EXPECT_EQ(resolver->stats().lookups_sent, 3u);  // one per (name, family)
}

TEST_F(ResolverTest, AnswerIsCachedWithinItsTtlAndAskedAgainAfterIt) {
  ResolverOptions o = Options();
  o.ttl_floor_ms = 0;
  OW_RESOLVER_OR_SKIP(resolver, o);
  DnsAnswer first = resolver->ResolveBlocking("short.test", Family::kIpv4);
  ASSERT_EQ(first.outcome, Outcome::kOk) << first.error;
  EXPECT_EQ(first.ttl_ms, 1000);
  EXPECT_FALSE(first.cached);
  DnsAnswer again = resolver->ResolveBlocking("SHORT.test", Family::kIpv4);
  EXPECT_TRUE(again.cached);
  EXPECT_EQ(again.addresses, first.addresses);
  EXPECT_LE(again.ttl_ms, 1000);
  EXPECT_EQ(resolver->stats().lookups_sent, 1u);
  EXPECT_EQ(resolver->stats().cache_hits, 1u);

  // Past the 1 s TTL the name is asked again (bounded: at most ~3 s).
  DnsAnswer later;
  for (int i = 0; i < 30; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    later = resolver->ResolveBlocking("short.test", Family::kIpv4);
    if (!later.cached) break;
  }
  EXPECT_FALSE(later.cached);
  EXPECT_EQ(later.outcome, Outcome::kOk);
  EXPECT_EQ(resolver->stats().lookups_sent, 2u);
}

TEST_F(ResolverTest, TtlIsClampedToFloorAndCeiling) {
  ResolverOptions o = Options();
  o.ttl_floor_ms = 5000;
  o.ttl_ceiling_ms = 10000;
  OW_RESOLVER_OR_SKIP(resolver, o);
  DnsAnswer low = resolver->ResolveBlocking("short.test", Family::kIpv4);  // TTL 1 s
  ASSERT_EQ(low.outcome, Outcome::kOk) << low.error;
  EXPECT_EQ(low.ttl_ms, 5000);
  DnsAnswer high = resolver->ResolveBlocking("long.test", Family::kIpv4);  // TTL 1 day
  ASSERT_EQ(high.outcome, Outcome::kOk) << high.error;
  EXPECT_EQ(high.ttl_ms, 10000);
  // Within the floor, the 1 s record is still served from the cache after 1.2 s.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_TRUE(resolver->ResolveBlocking("short.test", Family::kIpv4).cached);
}

TEST_F(ResolverTest, UnknownNameIsNxdomainAndCachedForTheNegativeTtl) {
  ResolverOptions o = Options();
  o.negative_ttl_ms = 60000;
  OW_RESOLVER_OR_SKIP(resolver, o);
  DnsAnswer a = resolver->ResolveBlocking("nx.test", Family::kAny);
  EXPECT_EQ(a.outcome, Outcome::kDnsNxdomain);
  EXPECT_EQ(a.error, "NXDOMAIN: the name does not exist");
  EXPECT_TRUE(a.addresses.empty());
  EXPECT_EQ(a.ttl_ms, 60000);
  EXPECT_EQ(a.resolver, dnsmasq_->server());
  DnsAnswer b = resolver->ResolveBlocking("nx.test", Family::kAny);
  EXPECT_EQ(b.outcome, Outcome::kDnsNxdomain);
  EXPECT_TRUE(b.cached);
  EXPECT_EQ(resolver->stats().lookups_sent, 1u);
}

TEST_F(ResolverTest, NameWithoutAddressOfTheFamilyIsNoAddress) {
  OW_RESOLVER_OR_SKIP(resolver, Options());
  DnsAnswer txt = resolver->ResolveBlocking("txt.test", Family::kAny);
  EXPECT_EQ(txt.outcome, Outcome::kDnsNoAddress) << txt.error;
  EXPECT_EQ(txt.error, "no A or AAAA record: the name exists but has no address");
  DnsAnswer v6 = resolver->ResolveBlocking("v4only.test", Family::kIpv6);
  EXPECT_EQ(v6.outcome, Outcome::kDnsNoAddress) << v6.error;
  EXPECT_EQ(v6.error, "no AAAA record: the name exists but has no IPv6 address");
  DnsAnswer v4 = resolver->ResolveBlocking("v4only.test", Family::kIpv4);
  EXPECT_EQ(v4.outcome, Outcome::kOk) << v4.error;
  EXPECT_EQ(v4.addresses, std::vector<std::string>{"192.0.2.30"});
}

TEST_F(ResolverTest, HundredRequestsInFlightForOneNameShareOneLookup) {
  OW_RESOLVER_OR_SKIP(resolver, Options());
  Answers answers;
  // Issued from a callback on the resolver thread, the 100 requests all reach
  // it in one batch, before the lookup can complete: each one after the first
  // must join it.
  resolver->Resolve("192.0.2.99", Family::kAny, [&](DnsAnswer) {
    for (int i = 0; i < 100; ++i) resolver->Resolve("multi.test", Family::kAny, answers.Add());
  });
  ASSERT_TRUE(answers.WaitFor(100));
  for (const DnsAnswer& a : answers.Take()) {
    EXPECT_EQ(a.outcome, Outcome::kOk) << a.error;
    EXPECT_EQ(a.addresses.size(), 4u);
    EXPECT_FALSE(a.cached);
  }
  Resolver::Stats s = resolver->stats();
  EXPECT_EQ(s.lookups_sent, 1u);
  EXPECT_EQ(s.coalesced, 99u);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.answered, 101u);
}

TEST_F(ResolverTest, ConcurrentCallersOnManyThreadsCauseOneLookup) {
  OW_RESOLVER_OR_SKIP(resolver, Options());
  Answers answers;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) resolver->Resolve("multi.test", Family::kAny, answers.Add());
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(answers.WaitFor(100));
  for (const DnsAnswer& a : answers.Take()) EXPECT_EQ(a.outcome, Outcome::kOk) << a.error;
  Resolver::Stats s = resolver->stats();
  EXPECT_EQ(s.lookups_sent, 1u);
  EXPECT_EQ(s.coalesced + s.cache_hits, 99u);  // how they split depends on timing
}

TEST_F(ResolverTest, IpLiteralsAnswerThemselvesWithoutALookup) {
  OW_RESOLVER_OR_SKIP(resolver, Options());
  DnsAnswer v4 = resolver->ResolveBlocking("192.0.2.7", Family::kAny);
  EXPECT_EQ(v4.outcome, Outcome::kOk);
  EXPECT_EQ(v4.addresses, std::vector<std::string>{"192.0.2.7"});
  EXPECT_EQ(v4.resolver, "literal");
  DnsAnswer v6 = resolver->ResolveBlocking("2001:DB8::0001", Family::kIpv6);
  EXPECT_EQ(v6.addresses, std::vector<std::string>{"2001:db8::1"});
  DnsAnswer wrong = resolver->ResolveBlocking("::1", Family::kIpv4);
  EXPECT_EQ(wrong.outcome, Outcome::kDnsNoAddress);
  EXPECT_EQ(resolver->stats().lookups_sent, 0u);
}

TEST(ResolverStartTest, BadServerSpellingIsInvalidArgumentNamingIt) {
  ResolverOptions o;
  o.servers = {"127.0.0.1:53", "dns.example:53"};
  auto r = Resolver::Start(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("\"dns.example:53\""), std::string::npos)
      << r.status().message();
}

ResolverOptions ScriptedOptions(const ScriptedResponder& server, int timeout_ms, int tries) {
  ResolverOptions o;
  o.servers = {server.server()};
  o.timeout_ms = timeout_ms;
  o.tries = tries;
  return o;
}

TEST(ResolverScriptedTest, ServfailIsDnsServfailAndNotCached) {
  ScriptedResponder server(ScriptedResponder::Mode::kServfail);
  ASSERT_TRUE(server.ok());
  OW_RESOLVER_OR_SKIP(resolver, ScriptedOptions(server, 500, 2));
  DnsAnswer a = resolver->ResolveBlocking("broken.test", Family::kIpv4);
  EXPECT_EQ(a.outcome, Outcome::kDnsServfail) << a.error;
  EXPECT_EQ(a.error.rfind("SERVFAIL: ", 0), 0u) << a.error;
  EXPECT_EQ(a.resolver, server.server());
  EXPECT_GE(server.queries(), 1);
  DnsAnswer b = resolver->ResolveBlocking("broken.test", Family::kIpv4);
  EXPECT_EQ(b.outcome, Outcome::kDnsServfail);
  EXPECT_FALSE(b.cached);
  EXPECT_EQ(resolver->stats().lookups_sent, 2u);
}

TEST(ResolverScriptedTest, RefusedIsDnsRefused) {
  ScriptedResponder server(ScriptedResponder::Mode::kRefused);
  ASSERT_TRUE(server.ok());
  OW_RESOLVER_OR_SKIP(resolver, ScriptedOptions(server, 500, 2));
  DnsAnswer a = resolver->ResolveBlocking("elsewhere.test", Family::kAny);
  EXPECT_EQ(a.outcome, Outcome::kDnsRefused) << a.error;
  EXPECT_EQ(a.error.rfind("REFUSED: ", 0), 0u) << a.error;
  EXPECT_FALSE(a.cached);
}

TEST(ResolverScriptedTest, SilentServerIsDnsTimeoutAfterTheTries) {
  ScriptedResponder server(ScriptedResponder::Mode::kSilent);
  ASSERT_TRUE(server.ok());
  OW_RESOLVER_OR_SKIP(resolver, ScriptedOptions(server, 100, 2));
  DnsAnswer a = resolver->ResolveBlocking("silent.test", Family::kIpv4);
  EXPECT_EQ(a.outcome, Outcome::kDnsTimeout) << a.error;
  EXPECT_EQ(a.error.rfind("timeout: ", 0), 0u) << a.error;
  EXPECT_EQ(a.resolver, server.server());  // no reply: the servers asked
  EXPECT_GE(a.dns_ms, 100);                // at least the first try's wait
  EXPECT_GE(server.queries(), 2);          // asked once per try
}

TEST(ResolverScriptedTest, DestructionWithLookupsInFlightAnswersEveryRequestPromptly) {
  ScriptedResponder server(ScriptedResponder::Mode::kSilent);
  ASSERT_TRUE(server.ok());
  Answers answers;
  int64_t destroyed_in_ms = 0;
  {
    OW_RESOLVER_OR_SKIP(resolver, ScriptedOptions(server, 10000, 3));
    for (int i = 0; i < 20; ++i) {
      resolver->Resolve("pending" + std::to_string(i) + ".test", Family::kAny, answers.Add());
    }
    for (int i = 0; i < 500 && resolver->stats().in_flight < 20; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(resolver->stats().in_flight, 20u);
    const int64_t start = MonotonicMs();
    resolver.reset();
    destroyed_in_ms = MonotonicMs() - start;
  }
  // Far less than one 10 s try: the thread does not wait for c-ares's timeouts.
  EXPECT_LT(destroyed_in_ms, 3000);
  std::vector<DnsAnswer> got = answers.Take();  // all delivered before the destructor returned
  ASSERT_EQ(got.size(), 20u);
  for (const DnsAnswer& a : got) {
    EXPECT_EQ(a.outcome, Outcome::kDnsTimeout);
    EXPECT_EQ(a.error, "resolver stopped before an answer came");
  }
}

// Without servers the system's configuration applies, the hosts file first:
// every Debian machine maps localhost there.
TEST(ResolverSystemTest, WithoutServersTheHostsFileAnswersLocalhost) {
  OW_RESOLVER_OR_SKIP(resolver, ResolverOptions{});
  DnsAnswer a = resolver->ResolveBlocking("localhost", Family::kIpv4);
  ASSERT_EQ(a.outcome, Outcome::kOk) << a.error;
  EXPECT_EQ(a.addresses, std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(a.resolver, "hosts");
}

}  // namespace
}  // namespace originwatch::testing
