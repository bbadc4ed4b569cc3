// Proves, end to end, that the agent turns a real origin's regression into
// exactly one signed webhook event (and its recovery into exactly one resolved
// event), and that events committed but not delivered survive a SIGKILL and a
// receiver that is down: every event arrives, in order, once.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "integration/agent_process.h"
#include "originwatch/store.h"
#include "probe/engine_fixture.h"
#include "support/scenarios.h"
#include "webhook/http_receiver.h"

namespace originwatch::testing {
namespace {

using std::chrono::milliseconds;

std::string HexHmac(const std::string& key, const std::string& msg) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), md, &len);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

class AlertsTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    scenarios_ = BuildScenarios(*pki_);
    db_ = (dir_ / "history.db").string();
    config_ = (dir_ / "agent.toml").string();
    ASSERT_TRUE(receiver_.Start(0).ok());
  }

  // Serves scenario `name` on `port` (0 = a new one); returns the port.
  uint16_t Serve(const std::string& name, uint16_t port = 0) {
    const Scenario* sc = FindScenario(scenarios_, name);
    EXPECT_NE(sc, nullptr);
    server_.reset();
    server_ = StartScenario(*sc, "127.0.0.1", port);
    EXPECT_NE(server_, nullptr);
    return server_ ? server_->port() : 0;
  }

  void WriteConfig(uint16_t port, const std::string& secret_file = "") {
    std::ofstream f(config_);
    f << "[agent]\ndatabase = \"" << db_ << "\"\ninterval = \"1s\"\ntimeout = \"2s\"\nconnect_timeout = \"1s\"\n"
      << "ca_file = \"" << ca_file_ << "\"\n\n"
      << "[alerts]\nfail_after = 2\nresolve_after = 2\n\n"
      << "[[origin]]\nname = \"promo\"\nhost = \"sni-required.fleet.test\"\nport = " << port
      << "\nconnect = [\"127.0.0.1\"]\nsni = [\"sni-required.fleet.test\", \"none\"]\nprofiles = [\"modern\"]\n"
      << "tags = [\"cdn\"]\n\n"
      << "[[webhook]]\nname = \"ops\"\nurl = \"" << receiver_.Url() << "\"\ntimeout = \"1s\"\n"
      << (secret_file.empty() ? "" : "secret_file = \"" + secret_file + "\"\n");
  }

  std::vector<nlohmann::json> Events() {
    std::vector<nlohmann::json> out;
    for (const HttpRequest& r : receiver_.requests()) {
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      if (!j.is_discarded()) out.push_back(j);
    }
    return out;
  }

  int64_t Count(const std::string& sql) {
    auto q = RunQuery(db_, sql);
    if (!q.ok() || q->rows.empty() || !q->rows[0][0]) return -1;
    return std::stoll(*q->rows[0][0]);
  }

  std::vector<Scenario> scenarios_;
  std::unique_ptr<TlsTestServer> server_;
  HttpReceiver receiver_;
  std::string db_, config_;
};

TEST_F(AlertsTest, SwitchToSniRequiredFiresOnceSignedAndSwitchingBackResolvesOnce) {
  // The same origin first serves everyone (healthy: SNI optional, same names),
  // then starts refusing clients without SNI, then recovers.
  const std::string secret_file = (dir_ / "secret").string();
  { std::ofstream(secret_file) << "correct horse battery staple\n"; }
  const Scenario* healthy = FindScenario(scenarios_, "healthy");
  ASSERT_NE(healthy, nullptr);
  Scenario good = *FindScenario(scenarios_, "sni-required");
  good.options.no_sni = NoSniAction::kServeDefault;
  server_ = StartScenario(good, "127.0.0.1", 0);
  ASSERT_NE(server_, nullptr);
  const uint16_t port = server_->port();
  WriteConfig(port, secret_file);

  AgentProcess agent;
  ASSERT_TRUE(agent.Start({OW_BINARY, "run", "-c", config_}, (dir_ / "agent.log").string()));
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT count(*) FROM probes") >= 6; }, milliseconds(15000)))
      << agent.Log();
  EXPECT_EQ(receiver_.request_count(), 0u) << "a healthy origin raised an event";

  server_.reset();
  server_ = StartScenario(*FindScenario(scenarios_, "sni-required"), "127.0.0.1", port);
  ASSERT_NE(server_, nullptr);
  ASSERT_TRUE(receiver_.WaitForRequests(1, milliseconds(15000))) << agent.Log();
  std::this_thread::sleep_for(milliseconds(2500));  // more failing rounds: still one event
  auto events = Events();
  ASSERT_EQ(events.size(), 1u) << receiver_.requests().back().body;
  EXPECT_EQ(events[0]["kind"], "firing");
  EXPECT_EQ(events[0]["rule"], "sni_changed");
  EXPECT_EQ(events[0]["finding"]["code"], "sni_required");
  EXPECT_EQ(events[0]["origin"]["name"], "promo");
  EXPECT_NE(events[0]["finding"]["fix"].get<std::string>().find("proxy_ssl_server_name on"), std::string::npos);

  // The signature verifies with the documented recipe, and not with another secret.
  HttpRequest req = receiver_.requests()[0];
  const std::string ts = req.Header("X-Originwatch-Timestamp");
  ASSERT_FALSE(ts.empty());
  EXPECT_EQ(req.Header("X-Originwatch-Signature"),
            "sha256=" + HexHmac("correct horse battery staple", ts + "." + req.body));
  EXPECT_NE(req.Header("X-Originwatch-Signature"), "sha256=" + HexHmac("wrong secret", ts + "." + req.body));
  EXPECT_EQ(req.Header("X-Originwatch-Event"), events[0]["event_id"]);

  server_.reset();
  server_ = StartScenario(good, "127.0.0.1", port);
  ASSERT_NE(server_, nullptr);
  ASSERT_TRUE(receiver_.WaitForRequests(2, milliseconds(15000))) << agent.Log();
  std::this_thread::sleep_for(milliseconds(2500));
  events = Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1]["kind"], "resolved");
  EXPECT_EQ(events[1]["rule"], "sni_changed");
  EXPECT_EQ(Count("SELECT count(*) FROM open_alerts"), 0);
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(milliseconds(15000)), 0) << agent.Log();
}

TEST_F(AlertsTest, EventsCommittedBeforeSigkillAreDeliveredAfterRestartInOrderOnce) {
  // The receiver is down while the agent raises events; the agent is killed
  // with SIGKILL; a new agent delivers everything once the receiver is up.
  const uint16_t port = Serve("sni-required");
  WriteConfig(port);
  receiver_.Stop();
  AgentProcess first;
  ASSERT_TRUE(first.Start({OW_BINARY, "run", "-c", config_}, (dir_ / "first.log").string()));
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT count(*) FROM outbox WHERE state = 'pending'") >= 1; },
                      milliseconds(15000)))
      << first.Log();
  first.Signal(SIGKILL);
  first.Wait(milliseconds(5000));
  const int64_t pending = Count("SELECT count(*) FROM outbox WHERE state = 'pending'");
  ASSERT_GE(pending, 1);

  ASSERT_TRUE(receiver_.Start(receiver_.port()).ok());
  AgentProcess second;
  ASSERT_TRUE(second.Start({OW_BINARY, "run", "-c", config_}, (dir_ / "second.log").string()));
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT count(*) FROM outbox WHERE state = 'pending'") == 0 &&
                                   receiver_.request_count() >= static_cast<size_t>(pending); },
                      milliseconds(20000)))
      << second.Log();
  second.Signal(SIGTERM);
  EXPECT_EQ(second.Wait(milliseconds(15000)), 0) << second.Log();

  // Every committed event arrived once, in commit order.
  auto rows = RunQuery(db_, "SELECT e.event_id FROM outbox o JOIN alert_events e ON e.id = o.event_row "
                            "WHERE o.webhook = 'ops' ORDER BY o.id");
  ASSERT_TRUE(rows.ok());
  std::vector<std::string> committed;
  for (const auto& r : rows->rows) committed.push_back(*r[0]);
  std::vector<std::string> received;
  for (const auto& e : Events()) received.push_back(e["event_id"]);
  EXPECT_EQ(received, committed);
  EXPECT_EQ(std::set<std::string>(received.begin(), received.end()).size(), received.size());
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE state = 'delivered'"), static_cast<int64_t>(committed.size()));
}

TEST_F(AlertsTest, RemovingAnOriginWithAnOpenAlertResolvesItOnReload) {
  const uint16_t port = Serve("sni-required");
  WriteConfig(port);
  AgentProcess agent;
  ASSERT_TRUE(agent.Start({OW_BINARY, "run", "-c", config_}, (dir_ / "agent.log").string()));
  ASSERT_TRUE(receiver_.WaitForRequests(1, milliseconds(15000))) << agent.Log();
  EXPECT_EQ(Events()[0]["kind"], "firing");

  // The same file without the origin (an IP-only origin on a closed port keeps
  // the config valid; it has its own alerts, which the test ignores).
  auto closed = ClosedPort::Reserve();
  ASSERT_NE(closed, nullptr);
  {
    std::ofstream f(config_);
    f << "[agent]\ndatabase = \"" << db_ << "\"\ninterval = \"1s\"\ntimeout = \"2s\"\n"
      << "ca_file = \"" << ca_file_ << "\"\n\n[[origin]]\nname = \"other\"\nhost = \"127.0.0.1\"\nport = "
      << closed->port() << "\n\n[[webhook]]\nname = \"ops\"\nurl = \"" << receiver_.Url()
      << "\"\nrules = [\"sni_changed\"]\n";
  }
  agent.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& e : Events())
      if (e["kind"] == "resolved" && e["origin"]["name"] == "promo") return true;
    return false;
  }, milliseconds(10000))) << agent.Log();
  EXPECT_EQ(Count("SELECT count(*) FROM open_alerts WHERE origin = 'promo'"), 0);
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(milliseconds(15000)), 0) << agent.Log();
}

TEST_F(AlertsTest, DroppingTheFailingVariantFromAnOriginResolvesItsAlertOnReload) {
  const uint16_t port = Serve("sni-required");
  WriteConfig(port);
  AgentProcess agent;
  ASSERT_TRUE(agent.Start({OW_BINARY, "run", "-c", config_}, (dir_ / "agent.log").string()));
  ASSERT_TRUE(receiver_.WaitForRequests(1, milliseconds(15000))) << agent.Log();
  ASSERT_EQ(Events()[0]["kind"], "firing");
  ASSERT_EQ(Events()[0]["variant"], "no-sni profile=modern");

  // The operator decides clients without SNI are not supported: "none" goes.
  std::string text;
  {
    std::ifstream in(config_);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string from = "sni = [\"sni-required.fleet.test\", \"none\"]";
  ASSERT_NE(text.find(from), std::string::npos);
  text.replace(text.find(from), from.size(), "sni = [\"sni-required.fleet.test\"]");
  { std::ofstream(config_) << text; }
  agent.Signal(SIGHUP);
  ASSERT_TRUE(receiver_.WaitForRequests(2, milliseconds(10000))) << agent.Log();
  auto events = Events();
  EXPECT_EQ(events[1]["kind"], "resolved");
  EXPECT_EQ(events[1]["variant"], "no-sni profile=modern");
  EXPECT_EQ(Count("SELECT count(*) FROM open_alerts"), 0);
  std::this_thread::sleep_for(milliseconds(2500));
  EXPECT_EQ(receiver_.request_count(), 2u) << "the remaining variant works: nothing more";
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(milliseconds(15000)), 0) << agent.Log();
}

TEST_F(AlertsTest, WebhookTestCommandReportsTheReceiversAnswer) {
  WriteConfig(Serve("healthy"));
  AgentProcess p;
  ASSERT_TRUE(p.Start({OW_BINARY, "webhook", "test", "ops", "-c", config_}, (dir_ / "wt.log").string()));
  EXPECT_EQ(p.Wait(milliseconds(10000)), 0) << p.Log();
  ASSERT_EQ(receiver_.request_count(), 1u);
  auto j = nlohmann::json::parse(receiver_.requests()[0].body, nullptr, false);
  EXPECT_EQ(j["kind"], "test");
  HttpReply fail;
  fail.status = 500;
  receiver_.SetDefault(fail);
  AgentProcess q;
  ASSERT_TRUE(q.Start({OW_BINARY, "webhook", "test", "ops", "-c", config_}, (dir_ / "wt2.log").string()));
  EXPECT_EQ(q.Wait(milliseconds(10000)), 1);
  EXPECT_NE(q.Log().find("HTTP 500"), std::string::npos) << q.Log();
  AgentProcess r;
  ASSERT_TRUE(r.Start({OW_BINARY, "webhook", "test", "nope", "-c", config_}, (dir_ / "wt3.log").string()));
  EXPECT_EQ(r.Wait(milliseconds(10000)), 2);
  EXPECT_NE(r.Log().find("no [[webhook]] named \"nope\""), std::string::npos) << r.Log();
}

}  // namespace
}  // namespace originwatch::testing
