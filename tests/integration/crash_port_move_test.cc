// Proves that an origin moved to another port does not leave its alert open
// for good (issue 12 item 4): the alert of the old port resolves on the reload
// with its alert id (docs/alerts.md: a variant no longer probed resolves its
// open alerts), nothing stays open, and a later failure on the new port opens
// a new alert with a new event id and a new opened time. Both for an origin
// with `connect` addresses and for one resolved through DNS (dnsmasq).
#include <chrono>
#include <thread>

#include "integration/crash_fixture.h"
#ifdef OW_HAVE_DNS_TESTSERVERS
#include "dns/dns_servers.h"
#endif

namespace originwatch::testing {
namespace {

using std::chrono::milliseconds;

class PortMoveTest : public CrashFixture {
 protected:
  // The received events of `kind` about 127.0.0.1:`port`.
  std::vector<nlohmann::json> ReceivedFor(const std::string& kind, uint16_t port) {
    std::vector<nlohmann::json> out;
    for (const auto& e : Received())
      if (e.value("kind", "") == kind &&
          e.value("address", "") == "127.0.0.1:" + std::to_string(port))
        out.push_back(e);
    return out;
  }
  // What names an alert in a payload: rule, variant, address:port.
  static std::string KeyOf(const nlohmann::json& e) {
    return e.value("rule", "") + "|" + e.value("variant", "") + "|" + e.value("address", "");
  }

  void MoveAcrossPorts();
};

void PortMoveTest::MoveAcrossPorts() {
  std::vector<CrashOrigin> origins(1);
  origins[0].name = "promo";
  ASSERT_TRUE(Place(origins[0], "127.0.0.1", 0, Health::kSniRequired));
  const uint16_t port_a = origins[0].port;
  WriteConfig(origins);

  AgentProcess agent;
  ASSERT_TRUE(agent.Start({OW_BINARY, "run", "-c", config_}, (dir_ / "agent.log").string()));
  ASSERT_TRUE(WaitFor([&] { return !ReceivedFor("firing", port_a).empty(); }, milliseconds(15000)))
      << agent.Log();
  const nlohmann::json first = ReceivedFor("firing", port_a)[0];
  EXPECT_EQ(first["rule"], "sni_changed");
  const int64_t first_alert = Count("SELECT alert_id FROM alert_events WHERE event_id = '" +
                                    first["event_id"].get<std::string>() + "'");
  ASSERT_GT(first_alert, 0);
  const int64_t first_opened =
      Count("SELECT opened_ms FROM alerts WHERE id = " + std::to_string(first_alert));
  ASSERT_GT(first_opened, 0);

  // The origin moves to port B, where it is healthy; the old port goes away.
  CrashOrigin moved;
  moved.name = "promo";
  ASSERT_TRUE(Place(moved, "127.0.0.1", 0, Health::kHealthy));
  const uint16_t port_b = moved.port;
  ASSERT_NE(port_b, port_a);
  origins[0] = std::move(moved);
  WriteConfig(origins);
  agent.Signal(SIGHUP);

  ASSERT_TRUE(
      WaitFor([&] { return !ReceivedFor("resolved", port_a).empty(); }, milliseconds(10000)))
      << agent.Log();
  const nlohmann::json resolved = ReceivedFor("resolved", port_a)[0];
  EXPECT_EQ(KeyOf(resolved), KeyOf(first));
  EXPECT_NE(resolved.value("message", "").find("no longer probed"), std::string::npos)
      << resolved.dump();
  // The store links the resolved event to the alert it closes, and closes it.
  EXPECT_EQ(Count("SELECT alert_id FROM alert_events WHERE event_id = '" +
                  resolved["event_id"].get<std::string>() + "'"),
            first_alert);
  EXPECT_EQ(Count("SELECT count(*) FROM alerts WHERE id = " + std::to_string(first_alert) +
                  " AND resolved_ms IS NOT NULL"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM open_alerts"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM alert_events WHERE kind = 'resolved' AND alert_id IS NULL"),
            0);

  // Healthy on B for a few rounds: nothing more.
  std::this_thread::sleep_for(milliseconds(2500));
  EXPECT_EQ(receiver_.request_count(), 2u);
  EXPECT_EQ(Count("SELECT count(*) FROM open_alerts"), 0);

  // `report alerts` no longer lists it as open.
  const CliRun report = RunBinary(OW_BINARY, "report alerts -c " + config_);
  EXPECT_EQ(report.exit_code, 0) << report.out;
  EXPECT_NE(report.out.find("Open alerts\n(none)"), std::string::npos) << report.out;

  // Broken again on B: a new alert, a new event id, a new opened time.
  ASSERT_TRUE(Place(origins[0], "127.0.0.1", port_b, Health::kSniRequired));
  ASSERT_TRUE(WaitFor([&] { return !ReceivedFor("firing", port_b).empty(); }, milliseconds(15000)))
      << agent.Log();
  const nlohmann::json second = ReceivedFor("firing", port_b)[0];
  EXPECT_NE(second["event_id"], first["event_id"]);
  EXPECT_NE(KeyOf(second), KeyOf(first));
  const int64_t second_alert = Count("SELECT alert_id FROM alert_events WHERE event_id = '" +
                                     second["event_id"].get<std::string>() + "'");
  EXPECT_GT(second_alert, first_alert);
  EXPECT_GT(Count("SELECT opened_ms FROM alerts WHERE id = " + std::to_string(second_alert)),
            first_opened);
  auto open = Query("SELECT id FROM open_alerts");
  ASSERT_TRUE(open.has_value());
  ASSERT_EQ(open->rows.size(), 1u);
  EXPECT_EQ(*open->rows[0][0], std::to_string(second_alert));
  // Every alert row carries exactly one firing.
  EXPECT_EQ(Count("SELECT count(*) FROM (SELECT alert_id FROM alert_events WHERE kind = 'firing' "
                  "GROUP BY alert_id HAVING count(*) > 1)"),
            0);

  // Back to port A, broken: the old key's new episode is a new alert too.
  CrashOrigin back;
  back.name = "promo";
  ASSERT_TRUE(Place(back, "127.0.0.1", port_a, Health::kSniRequired));
  origins[0] = std::move(back);
  WriteConfig(origins);
  agent.Signal(SIGHUP);
  ASSERT_TRUE(
      WaitFor([&] { return ReceivedFor("firing", port_a).size() >= 2; }, milliseconds(15000)))
      << agent.Log();
  const nlohmann::json again = ReceivedFor("firing", port_a)[1];
  EXPECT_EQ(KeyOf(again), KeyOf(first));
  EXPECT_NE(again["event_id"], first["event_id"]);
  const int64_t third_alert = Count("SELECT alert_id FROM alert_events WHERE event_id = '" +
                                    again["event_id"].get<std::string>() + "'");
  EXPECT_NE(third_alert, first_alert);
  EXPECT_GT(Count("SELECT opened_ms FROM alerts WHERE id = " + std::to_string(third_alert)),
            first_opened);
  EXPECT_EQ(Count("SELECT count(*) FROM open_alerts"), 1) << "B's alert resolved on the move back";
  EXPECT_FALSE(ReceivedFor("resolved", port_b).empty());

  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(milliseconds(15000)), 0) << agent.Log();
}

TEST_F(PortMoveTest, AlertOnTheOldPortResolvesOnReloadAndANewFailureOpensANewAlert) {
  MoveAcrossPorts();
}

#ifdef OW_HAVE_DNS_TESTSERVERS
// The same with the origin's name resolved through DNS: the port changes, the
// address stays, so the address book has nothing to retire and the reload
// must do it.
TEST_F(PortMoveTest, ResolvedOriginMovedToAnotherPortResolvesItsOldAlertOnReload) {
  const std::string hosts = (dir_ / "dns.hosts").string();
  { std::ofstream(hosts) << "127.0.0.1 sni-required.fleet.test\n"; }
  std::string error;
  auto dns = Dnsmasq::Start({"--addn-hosts=" + hosts}, &error);
  ASSERT_NE(dns, nullptr) << error;
  resolver_ = dns->server();
  MoveAcrossPorts();
}
#endif

}  // namespace
}  // namespace originwatch::testing
