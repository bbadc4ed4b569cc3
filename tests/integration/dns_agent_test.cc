// Proves, end to end through a real DNS server (dnsmasq on loopback) and the
// real agent, that a name that stops resolving keeps its open alerts open and
// raises one dns_error that resolves with the name, that answers rotating
// among three addresses change nothing, and that the one address of three
// serving a wrong certificate is the one the database names.
#include <filesystem>
#include <fstream>

#include "dns/dns_servers.h"
#include "integration/agent_process.h"
#include "originwatch/store.h"
#include "probe/engine_fixture.h"
#include "support/scenarios.h"

namespace originwatch::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kName[] = "healthy.fleet.test";

class DnsAgentTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    scenarios_ = BuildScenarios(*pki_);
    db_ = (dir_ / "history.db").string();
    config_ = (dir_ / "agent.toml").string();
    hosts_ = (dir_ / "dns.hosts").string();
    SetAnswer({});
    std::string error;
    dns_ = Dnsmasq::Start({"--addn-hosts=" + hosts_}, &error);
    ASSERT_NE(dns_, nullptr) << error;
  }

  // The addresses dnsmasq answers for kName from now on (none: it refuses).
  void SetAnswer(const std::vector<std::string>& addresses) {
    {
      std::ofstream f(hosts_);
      for (const std::string& a : addresses) f << a << " " << kName << "\n";
    }
    if (dns_) {
      ASSERT_TRUE(dns_->Reload());
    }
  }

  void WriteConfig(uint16_t port, const std::string& extra_agent = "") {
    std::ofstream f(config_);
    f << "[agent]\ndatabase = \"" << db_ << "\"\ninterval = \"1s\"\ntimeout = \"2s\"\nconnect_timeout = \"1s\"\n"
      << "ca_file = \"" << ca_file_ << "\"\nresolvers = [\"" << dns_->server() << "\"]\n"
      << "dns_min_ttl = \"1ms\"\n" << extra_agent << "\n"
      << "[alerts]\nfail_after = 2\nresolve_after = 2\n\n"
      << "[[origin]]\nname = \"svc\"\nhost = \"" << kName << "\"\nport = " << port
      << "\nsni = [\"" << kName << "\"]\nprofiles = [\"modern\"]\n";
  }

  bool StartAgent(AgentProcess& agent) {
    return agent.Start({OW_BINARY, "run", "-c", config_}, (dir_ / "agent.log").string());
  }

  int64_t Count(const std::string& sql) {
    auto q = RunQuery(db_, sql);
    if (!q.ok() || q->rows.empty() || !q->rows[0][0]) return -1;
    return std::stoll(*q->rows[0][0]);
  }

  std::unique_ptr<TlsTestServer> Serve(const std::string& scenario, const std::string& address, uint16_t port) {
    const Scenario* sc = FindScenario(scenarios_, scenario);
    EXPECT_NE(sc, nullptr);
    auto s = sc ? StartScenario(*sc, address, port) : nullptr;
    EXPECT_NE(s, nullptr) << scenario << " on " << address;
    return s;
  }

  std::vector<Scenario> scenarios_;
  std::unique_ptr<Dnsmasq> dns_;
  std::string db_, config_, hosts_;
};

TEST_F(DnsAgentTest, ANameThatStopsResolvingKeepsItsAlertsOpenAndRaisesOneDnsError) {
  auto closed = ClosedPort::Reserve("127.0.0.1");  // the origin refuses: handshake_failed
  ASSERT_NE(closed, nullptr);
  SetAnswer({"127.0.0.1"});
  WriteConfig(closed->port());
  AgentProcess agent;
  ASSERT_TRUE(StartAgent(agent));
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT count(*) FROM alerts WHERE rule = 'handshake_failed' AND resolved_ms IS NULL") == 1; },
                      milliseconds(20000)))
      << agent.Log();

  SetAnswer({});  // the name stops resolving
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT count(*) FROM alerts WHERE rule = 'dns_error' AND resolved_ms IS NULL") == 1; },
                      milliseconds(20000)))
      << agent.Log();
  const int64_t probes_then = Count("SELECT count(*) FROM probes");
  // Three more intervals without an answer: the last good address is still
  // probed, its alert stays open, and nothing resolves because of DNS.
  std::this_thread::sleep_for(milliseconds(3500));
  EXPECT_GT(Count("SELECT count(*) FROM probes"), probes_then) << "the last good address is no longer probed";
  EXPECT_EQ(Count("SELECT count(*) FROM alerts WHERE rule = 'handshake_failed' AND resolved_ms IS NULL"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM alert_events WHERE kind = 'resolved'"), 0) << agent.Log();
  EXPECT_EQ(Count("SELECT count(*) FROM alert_events WHERE rule = 'dns_error' AND kind = 'firing'"), 1);

  SetAnswer({"127.0.0.1"});  // it resolves again
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT count(*) FROM alerts WHERE rule = 'dns_error' AND resolved_ms IS NOT NULL") == 1; },
                      milliseconds(20000)))
      << agent.Log();
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(milliseconds(15000)), 0) << agent.Log();
  EXPECT_EQ(Count("SELECT count(*) FROM alerts WHERE rule = 'handshake_failed'"), 1) << "the handshake alert fired again";
  EXPECT_EQ(Count("SELECT count(*) FROM alerts WHERE rule = 'handshake_failed' AND resolved_ms IS NULL"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM alert_events WHERE rule = 'dns_error'"), 2);  // firing, resolved
  EXPECT_GT(Count("SELECT count(*) FROM probes WHERE dns_ms IS NOT NULL AND dns_answer_id IS NOT NULL"), 0);
}

TEST_F(DnsAgentTest, AnswersRotatingAmongThreeAddressesChangeNothing) {
  auto a = Serve("healthy", "127.0.0.1", 0);
  ASSERT_NE(a, nullptr);
  auto b = Serve("healthy", "127.0.0.2", a->port());
  auto c = Serve("healthy", "127.0.0.3", a->port());
  ASSERT_NE(b, nullptr);
  ASSERT_NE(c, nullptr);
  SetAnswer({"127.0.0.1", "127.0.0.2"});
  WriteConfig(a->port());
  AgentProcess agent;
  ASSERT_TRUE(StartAgent(agent));
  const std::vector<std::vector<std::string>> rotation = {
      {"127.0.0.2", "127.0.0.3"}, {"127.0.0.3"}, {"127.0.0.1"}, {"127.0.0.1", "127.0.0.3"}, {"127.0.0.2"}};
  for (const auto& answer : rotation) {
    std::this_thread::sleep_for(milliseconds(1500));
    SetAnswer(answer);
  }
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT count(DISTINCT address) FROM variants") == 3; }, milliseconds(10000)))
      << agent.Log();
  std::this_thread::sleep_for(milliseconds(1500));
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(milliseconds(15000)), 0) << agent.Log();
  EXPECT_EQ(Count("SELECT count(*) FROM alert_events"), 0) << agent.Log();
  // Every address kept being probed after it dropped out of an answer.
  EXPECT_EQ(Count("SELECT count(DISTINCT v.address) FROM probes p JOIN variants v ON v.id = p.variant_id "
                  "WHERE p.ts >= (SELECT max(ts) FROM probes) - 3000"),
            3);
}

TEST_F(DnsAgentTest, TheOneAddressOfThreeWithAWrongCertificateIsTheOneNamed) {
  auto a = Serve("healthy", "127.0.0.1", 0);
  ASSERT_NE(a, nullptr);
  auto b = Serve("healthy", "127.0.0.2", a->port());
  auto c = Serve("wrong-host", "127.0.0.3", a->port());
  ASSERT_NE(b, nullptr);
  ASSERT_NE(c, nullptr);
  SetAnswer({"127.0.0.1", "127.0.0.2", "127.0.0.3"});
  WriteConfig(a->port());
  AgentProcess agent;
  ASSERT_TRUE(StartAgent(agent));
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT count(*) FROM alerts WHERE rule = 'name_not_covered'") >= 1; },
                      milliseconds(20000)))
      << agent.Log();
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(milliseconds(15000)), 0) << agent.Log();
  auto named = RunQuery(db_, "SELECT DISTINCT address FROM alerts WHERE resolved_ms IS NULL");
  ASSERT_TRUE(named.ok());
  ASSERT_EQ(named->rows.size(), 1u);
  // An alert names the ip:port it is about.
  EXPECT_TRUE(named->rows[0][0].value_or("").starts_with("127.0.0.3:")) << named->rows[0][0].value_or("");
  EXPECT_EQ(Count("SELECT count(*) FROM latest WHERE address IN ('127.0.0.1', '127.0.0.2') AND outcome = 'ok'"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM probes p JOIN variants v ON v.id = p.variant_id "
                  "WHERE v.address = '127.0.0.3' AND p.names_ok = 0"),
            Count("SELECT count(*) FROM probes p JOIN variants v ON v.id = p.variant_id WHERE v.address = '127.0.0.3'"));
}

}  // namespace
}  // namespace originwatch::testing
