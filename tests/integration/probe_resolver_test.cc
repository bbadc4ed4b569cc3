// Proves that `originwatch probe NAME --resolver ADDR` looks the name up on that DNS server,
// probes every address of the answer on its own and names exactly the one that serves the
// wrong certificate, and that a failed lookup or a bad --resolver is told apart in words and
// exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "dns/dns_servers.h"
#include "probe/engine_fixture.h"
#include "integration/agent_process.h"
#include "support/tls_server.h"

namespace originwatch::testing {
namespace {

constexpr const char* kName = "shop.example.test";
const std::vector<std::string> kAddresses = {"127.0.0.1", "127.0.0.2", "127.0.0.3"};
constexpr const char* kBroken = "127.0.0.3";

// The real binary, one command line (stderr folded into out).
CliRun RunCli(const std::string& args) { return RunBinary(OW_BINARY, args); }

// The first line of `text` that starts with `prefix`, or "".
std::string LineStartingWith(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return "";
}

class ProbeResolverTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    if (HasFatalFailure()) return;
    std::string error;
    std::vector<std::string> records = {"--local=/test/"};  // any other name is NXDOMAIN
    for (const auto& a : kAddresses)
      records.push_back(std::string("--host-record=") + kName + "," + a + ",300");
    dnsmasq_ = Dnsmasq::Start(records, &error);
    ASSERT_NE(dnsmasq_, nullptr) << error;

    const ServedCert good =
        ServedCert::From(pki_->Leaf({.dns_names = {kName}, .key = KeyKind::kRsa2048}), {kName});
    const ServedCert other = ServedCert::From(
        pki_->Leaf({.dns_names = {"other.example.test"}, .key = KeyKind::kRsa2048}),
        {"other.example.test"});
    // One port on three addresses; another process may hold it on one of them: a few tries.
    for (int attempt = 0; attempt < 5 && servers_.size() < kAddresses.size(); ++attempt) {
      servers_.clear();
      uint16_t port = 0;
      for (const auto& a : kAddresses) {
        ServerOptions o;
        o.certs = {a == kBroken ? other : good};
        o.bind_address = a;
        o.port = port;
        auto s = TlsTestServer::Start(std::move(o));
        if (s == nullptr) break;
        port = s->port();
        servers_.push_back(std::move(s));
      }
    }
    ASSERT_EQ(servers_.size(), kAddresses.size()) << "no port free on all three addresses";
  }

  std::string Args(const std::string& name) const {
    return name + ":" + std::to_string(servers_.front()->port()) + " --resolver " +
           dnsmasq_->server() + " --ca " + ca_file_;
  }

  std::unique_ptr<Dnsmasq> dnsmasq_;
  std::vector<std::unique_ptr<TlsTestServer>> servers_;
};

TEST_F(ProbeResolverTest, TextReportNamesTheResolverEveryAddressAndOnlyTheBrokenOne) {
  CliRun r = RunCli("probe " + Args(kName));
  EXPECT_EQ(r.exit_code, 1) << r.out;

  const std::string dns = LineStartingWith(r.out, "DNS: ");
  EXPECT_EQ(dns.rfind(std::string("DNS: ") + kName + " -> ", 0), 0u) << r.out;
  for (const auto& a : kAddresses) EXPECT_NE(dns.find(a), std::string::npos) << a << "\n" << r.out;
  EXPECT_NE(dns.find("(via " + dnsmasq_->server() + ", "), std::string::npos) << r.out;
  EXPECT_NE(dns.find("ttl 300s"), std::string::npos) << r.out;

  // Each address was probed: every variant row starts with its address.
  for (const auto& a : kAddresses) {
    const std::string row = LineStartingWith(r.out, "  " + a + " sni=" + kName + " profile=modern");
    EXPECT_FALSE(row.empty()) << a << "\n" << r.out;
    EXPECT_EQ(row.find(std::string("does not cover ") + kName) != std::string::npos, a == kBroken)
        << row;
  }
  EXPECT_NE(r.out.find(std::string("expected  ") + kName + " NOT covered"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Diagnosis: name_mismatch"), std::string::npos) << r.out;
  // The report wraps its paragraphs: compare with the words joined by single spaces.
  std::istringstream words(r.out);
  std::string flat;
  for (std::string w; words >> w;) flat += w + " ";
  EXPECT_NE(flat.find("hostname mismatch on 1 of 3 addresses (" + std::string(kBroken) + ")"),
            std::string::npos)
      << r.out;
  for (const auto& s : servers_) EXPECT_GE(s->connections_accepted(), 1u) << s->address();
}

TEST_F(ProbeResolverTest, JsonCarriesTheAnswerAndBlamesOnlyTheAddressWithTheWrongCertificate) {
  CliRun r = RunCli("probe --json " + Args(kName));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;

  const auto& dns = j["dns"];
  EXPECT_EQ(dns["name"], kName);
  EXPECT_EQ(dns["resolver"], dnsmasq_->server());
  EXPECT_EQ(dns["outcome"], "ok");
  EXPECT_TRUE(dns["error"].is_null());
  EXPECT_EQ(dns["ttl_ms"], 300000);
  EXPECT_EQ(dns["cached"], false);
  auto answered = dns["addresses"].get<std::vector<std::string>>();
  std::sort(answered.begin(), answered.end());
  EXPECT_EQ(answered, kAddresses);
  auto probed = j["addresses"].get<std::vector<std::string>>();
  std::sort(probed.begin(), probed.end());
  EXPECT_EQ(probed, kAddresses);

  EXPECT_EQ(j["diagnosis"], "name_mismatch");
  bool blamed = false;
  for (const auto& f : j["findings"]) {
    if (f["severity"] == "info") continue;
    blamed |= f["code"] == "name_mismatch";
    ASSERT_FALSE(f["variants"].empty()) << f.dump();
    for (const auto& v : f["variants"])
      EXPECT_EQ(v.get<std::string>().rfind(std::string(kBroken) + " ", 0), 0u) << f.dump();
  }
  EXPECT_TRUE(blamed) << r.out;

  // Every address got the whole matrix; the two good ones are healthy end to end.
  std::map<std::string, int> per_address;
  for (const auto& v : j["variants"]) {
    const std::string address = v["address"];
    ++per_address[address];
    EXPECT_GE(v["dns_ms"].get<int64_t>(), 0) << v.dump();
    EXPECT_EQ(v["dns_cached"], false);
    if (address == kBroken) {
      if (v["sni"] == kName) {
        EXPECT_EQ(v["names"][0]["covered"], false) << v.dump();
      }
    } else {
      EXPECT_EQ(v["outcome"], "ok") << v.dump();
      EXPECT_EQ(v["verify"]["ok"], true) << v.dump();
      EXPECT_EQ(v["names"][0]["covered"], true) << v.dump();
    }
  }
  ASSERT_EQ(per_address.size(), 3u) << r.out;
  EXPECT_EQ(per_address["127.0.0.1"], per_address[kBroken]);
  EXPECT_EQ(per_address["127.0.0.2"], per_address[kBroken]);
}

TEST_F(ProbeResolverTest, UnknownNameIsADnsFindingInWordsAndExit1) {
  CliRun r = RunCli("probe " + Args("nx.example.test"));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(
      r.out.find("DNS: nx.example.test -> dns_nxdomain: NXDOMAIN: the name does not exist (via " +
                 dnsmasq_->server()),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Diagnosis: dns_error"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("does not resolve"), std::string::npos) << r.out;
  for (const auto& s : servers_) EXPECT_EQ(s->connections_accepted(), 0u);

  r = RunCli("probe --json " + Args("nx.example.test"));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["dns"]["outcome"], "dns_nxdomain");
  EXPECT_EQ(j["dns"]["error"], "NXDOMAIN: the name does not exist");
  EXPECT_TRUE(j["addresses"].empty());
  ASSERT_EQ(j["variants"].size(), 1u);
  EXPECT_EQ(j["variants"][0]["outcome"], "dns_nxdomain");
  EXPECT_EQ(j["diagnosis"], "dns_error");
}

TEST_F(ProbeResolverTest, FamilyIpv6OfAnIpv4OnlyNameIsNoAddress) {
  CliRun r = RunCli("probe --family ipv6 " + Args(kName));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find(std::string("DNS: ") + kName + " (ipv6) -> dns_no_address: "),
            std::string::npos)
      << r.out;
}

TEST_F(ProbeResolverTest, BadResolverSpellingIsAUsageErrorExit2) {
  const std::vector<std::string> bad_spellings = {"dns.example.test", "127.0.0.1:70000", "::1]:53",
                                                  "[::1:53"};
  for (const std::string& bad : bad_spellings) {
    CliRun r = RunCli("probe " + std::string(kName) + " --resolver '" + bad + "'");
    EXPECT_EQ(r.exit_code, 2) << bad << "\n" << r.out;
    EXPECT_NE(r.out.find("bad --resolver"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(bad), std::string::npos) << r.out;
  }
  CliRun r = RunCli("probe " + std::string(kName) + " --family ipv5");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("bad --family \"ipv5\""), std::string::npos) << r.out;
  r = RunCli("probe " + std::string(kName) + " --family ipv6 --connect 127.0.0.1");
  EXPECT_EQ(r.exit_code, 2) << r.out;
}

TEST_F(ProbeResolverTest, ConnectPinsTheAddressWithoutALookup) {
  CliRun r = RunCli("probe --json " + Args(kName) + " --connect 127.0.0.2");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_TRUE(j["dns"].is_null());
  EXPECT_EQ(j["addresses"], nlohmann::json::array({"127.0.0.2"}));
  for (const auto& v : j["variants"]) EXPECT_TRUE(v["dns_ms"].is_null()) << v.dump();
  EXPECT_EQ(servers_[0]->connections_accepted(), 0u);
  EXPECT_EQ(servers_[2]->connections_accepted(), 0u);
}

}  // namespace
}  // namespace originwatch::testing
