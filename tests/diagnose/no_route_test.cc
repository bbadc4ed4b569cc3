// Proves that a connect the agent has no route for (ENETUNREACH) is diagnosed
// as no_route_from_agent, info, in plain words with the family to fix, and
// never makes an origin unhealthy or leads while its other variants work;
// other network errors (EHOSTUNREACH, ...) keep their finding.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "originwatch/diagnose.h"
#include "support/results.h"

namespace originwatch::testing {
namespace {

constexpr int64_t kNow = 1'700'000'000;  // 2023-11-14 22:13 UTC
constexpr char kHost[] = "dual.example.com";

// The engine's result of a connect that failed with errno `err`.
ProbeResult ConnectFailed(const std::string& address, int err) {
  return FailedResult(TestSpec("dual", kHost, address, std::string(kHost)), 0,
                      Outcome::kNetworkError, -1, std::string("connect: ") + std::strerror(err));
}

ProbeResult Works(const std::string& address) {
  return OkResult(TestSpec("dual", kHost, address, std::string(kHost)), 0,
                  {TestLeaf(kHost, {kHost}, kNow, 60), TestIntermediate(kNow)});
}

Diagnosis DiagnoseAt(const std::vector<ProbeResult>& results) {
  DiagnoseOptions o;
  o.now_s = kNow;
  return Diagnose(results, o);
}

std::vector<std::string> Codes(const Diagnosis& d) {
  std::vector<std::string> out;
  for (const auto& f : d.findings) out.push_back(f.code);
  return out;
}

TEST(NoRouteTest, OnlyNetworkUnreachableOnConnectIsTheAgentsProblem) {
  EXPECT_TRUE(IsNoRouteFromAgent(ConnectFailed("2001:db8::1", ENETUNREACH)));
  EXPECT_FALSE(IsNoRouteFromAgent(ConnectFailed("2001:db8::1", EHOSTUNREACH)));
  EXPECT_FALSE(IsNoRouteFromAgent(ConnectFailed("2001:db8::1", EADDRNOTAVAIL)));
  ProbeResult later = ConnectFailed("2001:db8::1", ENETUNREACH);
  later.error_text = std::string("send: ") + std::strerror(ENETUNREACH);  // after connecting
  EXPECT_FALSE(IsNoRouteFromAgent(later));
  ProbeResult other_outcome = ConnectFailed("2001:db8::1", ENETUNREACH);
  other_outcome.outcome = Outcome::kInternal;
  EXPECT_FALSE(IsNoRouteFromAgent(other_outcome));
  EXPECT_FALSE(IsNoRouteFromAgent(Works("2001:db8::1")));
}

TEST(NoRouteTest, AgentWithoutIpv6KeepsADualStackOriginHealthyAndSaysWhy) {
  const Diagnosis d = DiagnoseAt({Works("192.0.2.1"), ConnectFailed("2001:db8::1", ENETUNREACH)});
  ASSERT_EQ(Codes(d), (std::vector<std::string>{"healthy", "no_route_from_agent"}));
  EXPECT_TRUE(d.healthy());
  EXPECT_EQ(d.lead().code, "healthy");
  EXPECT_EQ(d.lead().variants,
            std::vector<std::string>{"192.0.2.1 sni=dual.example.com profile=modern"});
  EXPECT_NE(d.lead().summary.find("The only variant the agent can reach completes"),
            std::string::npos)
      << d.lead().summary;
  const Finding& f = d.findings[1];
  EXPECT_EQ(f.severity, Severity::kInfo);
  EXPECT_EQ(f.summary,
            "The agent has no route to 2001:db8::1 (IPv6): this says nothing of the origin; "
            "clients with IPv6 may still reach it.");
  EXPECT_EQ(f.fix, "Give the agent an IPv6 route, or set family = \"ipv4\" on the origin.");
  EXPECT_EQ(f.variants,
            std::vector<std::string>{"2001:db8::1 sni=dual.example.com profile=modern"});
}

TEST(NoRouteTest, AgentWithoutIpv4NamesTheOtherFamily) {
  const Diagnosis d = DiagnoseAt({ConnectFailed("192.0.2.1", ENETUNREACH), Works("2001:db8::1")});
  ASSERT_EQ(Codes(d), (std::vector<std::string>{"healthy", "no_route_from_agent"}));
  EXPECT_EQ(d.findings[1].summary,
            "The agent has no route to 192.0.2.1 (IPv4): this says nothing of the origin; "
            "clients with IPv4 may still reach it.");
  EXPECT_EQ(d.findings[1].fix,
            "Give the agent an IPv4 route, or set family = \"ipv6\" on the origin.");
}

TEST(NoRouteTest, ARealProblemElsewhereStillLeads) {
  ProbeResult refused =
      FailedResult(TestSpec("dual", kHost, "192.0.2.1", std::string(kHost)), 0, Outcome::kRefused);
  const Diagnosis d = DiagnoseAt({refused, ConnectFailed("2001:db8::1", ENETUNREACH)});
  ASSERT_EQ(Codes(d), (std::vector<std::string>{"refused", "no_route_from_agent"}));
  EXPECT_FALSE(d.healthy());
}

TEST(NoRouteTest, NothingReachedIsNotHealthyButOnlyInfo) {
  const Diagnosis d = DiagnoseAt(
      {ConnectFailed("2001:db8::1", ENETUNREACH), ConnectFailed("2001:db8::2", ENETUNREACH)});
  ASSERT_EQ(Codes(d), std::vector<std::string>{"no_route_from_agent"});
  EXPECT_EQ(d.lead().severity, Severity::kInfo);
  EXPECT_FALSE(d.healthy());  // nothing is known of the origin
  EXPECT_NE(d.lead().summary.find("no route to 2001:db8::1, 2001:db8::2 (IPv6)"), std::string::npos)
      << d.lead().summary;
}

TEST(NoRouteTest, HostUnreachableStaysAFailureOfTheOrigin) {
  const Diagnosis d = DiagnoseAt({Works("192.0.2.1"), ConnectFailed("2001:db8::1", EHOSTUNREACH)});
  ASSERT_EQ(Codes(d), std::vector<std::string>{"handshake_failed"});
  EXPECT_FALSE(d.healthy());
}

}  // namespace
}  // namespace originwatch::testing
