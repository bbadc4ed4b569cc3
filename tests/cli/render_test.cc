// Proves that the probe report shows hostile certificate text safely (control
// characters from a server never reach the terminal raw, invalid UTF-8 never
// breaks the JSON document) and shows the name lookup in one line and one object.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/render.h"
#include "support/results.h"

namespace originwatch::testing {
namespace {

constexpr int64_t kNowS = 1'800'000'000;

cli::ProbeReportInput HostileReport() {
  CertInfo leaf = TestLeaf("evil.example", {"evil.example", "x\x1b]0;pwned\x07.example"}, kNowS, 30);
  leaf.subject = "CN=evil\x1b[2J\x1b[31m.example";
  leaf.common_name = "evil\xff\xfe.example";  // not UTF-8
  ProbeSpec spec = TestSpec("evil", "evil.example", "127.0.0.1", std::string("evil.example"));
  cli::ProbeReportInput in;
  in.host = "evil.example";
  in.addresses = {"127.0.0.1"};
  in.now_s = kNowS;
  in.results = {WithNamesCovered(OkResult(spec, kNowS * 1000, {leaf}))};
  in.diagnosis.findings = {{"healthy", Severity::kInfo, "works", "", {"sni=evil.example profile=modern"}}};
  return in;
}

TEST(RenderTest, ControlCharactersFromACertificateAreEscapedInTheTextReport) {
  const std::string text = cli::RenderProbeText(HostileReport(), /*color=*/false);
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_EQ(text.find('\x07'), std::string::npos) << text;
  EXPECT_NE(text.find("CN=evil\\x1B[2J\\x1B[31m.example"), std::string::npos) << text;
  EXPECT_NE(text.find("x\\x1B]0;pwned\\x07.example"), std::string::npos) << text;
}

TEST(RenderTest, InvalidUtf8FromACertificateStillGivesValidJson) {
  const std::string doc = cli::DumpJson(cli::ProbeJson(HostileReport()));
  auto j = nlohmann::json::parse(doc, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << doc;
  const std::string cn = j["variants"][0]["chain"][0]["common_name"];
  EXPECT_NE(cn.find("\xef\xbf\xbd"), std::string::npos) << "invalid bytes become U+FFFD";
  EXPECT_EQ(j["diagnosis"], "healthy");
}

TEST(RenderTest, AHandshakeWhoseCertificateMissesTheNameSaysSoOnItsRow) {
  cli::ProbeReportInput in = HostileReport();
  EXPECT_EQ(cli::RenderProbeText(in, false).find("does not cover"), std::string::npos);
  in.results[0].names = {{"evil.example", true}, {"shop.example", false}};
  const std::string text = cli::RenderProbeText(in, /*color=*/false);
  EXPECT_NE(text.find("ok  TLSv1.3"), std::string::npos) << text;
  EXPECT_NE(text.find("; does not cover shop.example\n"), std::string::npos) << text;
}

cli::DnsReport ThreeAddressAnswer() {
  cli::DnsReport dns;
  dns.name = "shop.example.test";
  dns.answer.outcome = Outcome::kOk;
  dns.answer.addresses = {"127.0.0.1", "127.0.0.2", "127.0.0.3"};
  dns.answer.resolver = "127.0.0.1:5353";
  dns.answer.ttl_ms = 300000;
  dns.answer.dns_ms = 4;
  return dns;
}

TEST(RenderTest, DnsLineNamesEveryAddressTheResolverAndTheTtl) {
  EXPECT_EQ(cli::DnsLine(ThreeAddressAnswer()),
            "DNS: shop.example.test -> 127.0.0.1, 127.0.0.2, 127.0.0.3 (via 127.0.0.1:5353, 4 ms, "
            "ttl 300s)");
  cli::DnsReport hosts = ThreeAddressAnswer();
  hosts.family = Family::kIpv4;
  hosts.answer.resolver = "hosts";
  hosts.answer.addresses = {"127.0.0.1"};
  hosts.answer.dns_ms = 0;
  EXPECT_EQ(cli::DnsLine(hosts), "DNS: shop.example.test (ipv4) -> 127.0.0.1 (via hosts, 0 ms)");
}

TEST(RenderTest, FailedLookupShowsItsOutcomeCodeAndPlainWords) {
  cli::DnsReport dns = ThreeAddressAnswer();
  dns.name = "nx.example.test";
  dns.answer.outcome = Outcome::kDnsNxdomain;
  dns.answer.addresses.clear();
  dns.answer.error = "NXDOMAIN: the name does not exist";
  EXPECT_EQ(cli::DnsLine(dns),
            "DNS: nx.example.test -> dns_nxdomain: NXDOMAIN: the name does not exist (via "
            "127.0.0.1:5353, 4 ms)");
  const nlohmann::json j = cli::DnsJson(dns);
  EXPECT_EQ(j["outcome"], "dns_nxdomain");
  EXPECT_EQ(j["error"], "NXDOMAIN: the name does not exist");
  EXPECT_TRUE(j["addresses"].empty());
}

TEST(RenderTest, JsonHasTheDnsObjectOnlyWhenTheNameWasLookedUp) {
  cli::ProbeReportInput in = HostileReport();
  nlohmann::json j = cli::ProbeJson(in);
  EXPECT_TRUE(j["dns"].is_null());
  EXPECT_TRUE(j["variants"][0]["dns_ms"].is_null());
  EXPECT_TRUE(j["variants"][0]["dns_cached"].is_null());

  in.dns = ThreeAddressAnswer();
  in.results[0].dns_ms = 4;
  j = cli::ProbeJson(in);
  EXPECT_EQ(j["dns"]["name"], "shop.example.test");
  EXPECT_EQ(j["dns"]["family"], "any");
  EXPECT_EQ(j["dns"]["resolver"], "127.0.0.1:5353");
  EXPECT_EQ(j["dns"]["addresses"].size(), 3u);
  EXPECT_EQ(j["dns"]["ttl_ms"], 300000);
  EXPECT_EQ(j["dns"]["dns_ms"], 4);
  EXPECT_EQ(j["dns"]["cached"], false);
  EXPECT_EQ(j["dns"]["outcome"], "ok");
  EXPECT_TRUE(j["dns"]["error"].is_null());
  EXPECT_EQ(j["variants"][0]["dns_ms"], 4);
  EXPECT_EQ(j["variants"][0]["dns_cached"], false);
  const std::string text = cli::RenderProbeText(in, /*color=*/false);
  EXPECT_NE(text.find("\nDNS: shop.example.test -> 127.0.0.1, 127.0.0.2, 127.0.0.3 (via"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace originwatch::testing
