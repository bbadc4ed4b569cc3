// Proves, against a real Alertmanager (Debian prometheus-alertmanager) on
// loopback, that an origin's alert reaches Alertmanager's v2 API with the
// documented labels and annotations and no label naming the agent, is re-sent
// while open (its endsAt moves forward), is muted by a silence on its origin,
// and ends when the origin recovers; and that two agents reporting the same
// failure make one alert in Alertmanager.
#include <curl/curl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "integration/agent_process.h"
#include "originwatch/store.h"
#include "probe/engine_fixture.h"
#include "support/scenarios.h"
#include "support/server_process.h"

namespace originwatch::testing {
namespace {

using std::chrono::milliseconds;
using Json = nlohmann::json;

constexpr char kAlertmanagerBinary[] = "/usr/bin/prometheus-alertmanager";

size_t Collect(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// One HTTP request with libcurl; the status (0 = no answer) and the body.
std::pair<long, std::string> Http(const std::string& method, const std::string& url,
                                  const std::string& body = "") {
  CURL* h = curl_easy_init();
  if (h == nullptr) return {0, ""};
  std::string out;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST") curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
  long code = 0;
  if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  return {code, out};
}

std::string Rfc3339(std::chrono::system_clock::time_point t) {
  const time_t s = std::chrono::system_clock::to_time_t(t);
  struct tm tm {};
  gmtime_r(&s, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

class AlertmanagerTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    if (IsSkipped()) return;
    if (::access(kAlertmanagerBinary, X_OK) != 0) {
      if (const char* r = std::getenv("ORIGINWATCH_REQUIRE_PEERS"); r && std::string(r) == "1") {
        GTEST_FAIL() << kAlertmanagerBinary << " is missing (apt-get install prometheus-alertmanager)";
      }
      GTEST_SKIP() << kAlertmanagerBinary << " is missing (set ORIGINWATCH_REQUIRE_PEERS=1 to fail)";
    }
    scenarios_ = BuildScenarios(*pki_);
    db_ = (dir_ / "history.db").string();
    config_ = (dir_ / "agent.toml").string();
    StartAlertmanager();
  }

  void TearDown() override {
    if (am_pid_ > 0) {
      kill(am_pid_, SIGTERM);
      int status = 0;
      for (int i = 0; i < 100 && waitpid(am_pid_, &status, WNOHANG) == 0; ++i) {
        std::this_thread::sleep_for(milliseconds(50));
      }
      if (waitpid(am_pid_, &status, WNOHANG) == 0) {
        kill(am_pid_, SIGKILL);
        waitpid(am_pid_, &status, 0);
      }
    }
    EngineTest::TearDown();
  }

  void StartAlertmanager() {
    const std::string yml = (dir_ / "alertmanager.yml").string();
    {
      std::ofstream f(yml);
      f << "route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n";
    }
    std::filesystem::create_directories(dir_ / "am-data");
    am_port_ = FreeLoopbackPort();
    ASSERT_NE(am_port_, 0);
    const std::string log = (dir_ / "alertmanager.log").string();
    std::vector<std::string> argv = {kAlertmanagerBinary,
                                     "--config.file=" + yml,
                                     "--storage.path=" + (dir_ / "am-data").string(),
                                     "--web.listen-address=127.0.0.1:" + std::to_string(am_port_),
                                     "--cluster.listen-address="};
    am_pid_ = fork();
    ASSERT_GE(am_pid_, 0);
    if (am_pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, STDERR_FILENO);
        dup2(fd, STDOUT_FILENO);
      }
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    ASSERT_TRUE(WaitFor([&] { return Http("GET", AmUrl("/-/ready")).first == 200; },
                        milliseconds(20000)))
        << "Alertmanager did not become ready";
  }

  std::string AmUrl(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(am_port_) + path;
  }

  void WriteConfig(uint16_t port) { WriteConfigTo(config_, db_, port); }

  void WriteConfigTo(const std::string& path, const std::string& db, uint16_t port) {
    std::ofstream f(path);
    f << "[agent]\ndatabase = \"" << db
      << "\"\ninterval = \"1s\"\ntimeout = \"2s\"\nconnect_timeout = \"1s\"\n"
      << "ca_file = \"" << ca_file_ << "\"\n\n"
      << "[alerts]\nfail_after = 2\nresolve_after = 2\n\n"
      << "[[origin]]\nname = \"promo\"\nhost = \"sni-required.fleet.test\"\nport = " << port
      << "\nconnect = [\"127.0.0.1\"]\nsni = [\"sni-required.fleet.test\", \"none\"]\n"
      << "profiles = [\"modern\"]\ntags = [\"cdn\"]\n\n"
      << "[[alertmanager]]\nname = \"am\"\nurl = \"" << AmUrl("") << "\"\n"
      << "resend_interval = \"2s\"\ntimeout = \"2s\"\n";
  }

  // The alerts Alertmanager lists for origin "promo" and rule `rule`.
  std::vector<Json> PromoAlerts(const std::string& rule) {
    auto [code, body] = Http("GET", AmUrl("/api/v2/alerts"));
    std::vector<Json> out;
    if (code != 200) return out;
    Json all = Json::parse(body, nullptr, false);
    if (!all.is_array()) return out;
    for (const Json& a : all) {
      if (a["labels"].value("origin", "") == "promo" && a["labels"].value("alertname", "") == rule)
        out.push_back(a);
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
  std::string db_, config_;
  pid_t am_pid_ = -1;
  uint16_t am_port_ = 0;
};

TEST_F(AlertmanagerTest, AlertAppearsWithLabelsIsResentSilencedAndEndsWhenTheOriginRecovers) {
  // An origin that refuses clients without SNI: the no-SNI variant fails.
  server_ = StartScenario(*FindScenario(scenarios_, "sni-required"), "127.0.0.1", 0);
  ASSERT_NE(server_, nullptr);
  const uint16_t port = server_->port();
  WriteConfig(port);
  AgentProcess agent;
  ASSERT_TRUE(agent.Start({OW_BINARY, "run", "-c", config_}, (dir_ / "agent.log").string()));

  std::vector<Json> alerts;
  ASSERT_TRUE(WaitFor([&] { return !(alerts = PromoAlerts("sni_changed")).empty(); },
                      milliseconds(30000)))
      << agent.Log();
  ASSERT_EQ(alerts.size(), 1u);
  Json a = alerts[0];
  std::printf("alert in Alertmanager (GET /api/v2/alerts):\n%s\n", a.dump(2).c_str());
  const Json labels = {{"alertname", "sni_changed"},
                       {"origin", "promo"},
                       {"address", "127.0.0.1:" + std::to_string(port)},
                       {"sni", "none"},
                       {"profile", "modern"},
                       {"severity", "critical"},
                       {"tags", ",cdn,"}};
  EXPECT_EQ(a["labels"], labels) << "exactly these labels: none names the agent";
  EXPECT_EQ(a["annotations"]["finding"], "sni_required");
  EXPECT_NE(a["annotations"]["fix"].get<std::string>().find("proxy_ssl_server_name on"),
            std::string::npos);
  EXPECT_FALSE(a["annotations"]["summary"].get<std::string>().empty());
  EXPECT_EQ(a["status"]["state"], "active");

  // Re-sent every resend_interval (2s) with endsAt = now + 4 x 2s: it moves on.
  const std::string ends0 = a["endsAt"];
  ASSERT_TRUE(WaitFor(
      [&] {
        auto now = PromoAlerts("sni_changed");
        return !now.empty() && now[0]["endsAt"].get<std::string>() > ends0;
      },
      milliseconds(15000)))
      << "endsAt stayed " << ends0 << "\n" << agent.Log();
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE webhook = 'alertmanager:am' AND "
                  "state = 'delivered'"),
            1)
      << "the transition went through the outbox once; re-sends do not";

  // A silence on the origin (a maintenance window) mutes it.
  const auto now = std::chrono::system_clock::now();
  const Json silence = {
      {"matchers", {{{"name", "origin"}, {"value", "promo"}, {"isRegex", false}, {"isEqual", true}}}},
      {"startsAt", Rfc3339(now - std::chrono::seconds(1))},
      {"endsAt", Rfc3339(now + std::chrono::hours(1))},
      {"createdBy", "alertmanager_test"},
      {"comment", "maintenance window"}};
  auto [scode, sbody] = Http("POST", AmUrl("/api/v2/silences"), silence.dump());
  ASSERT_EQ(scode, 200) << sbody;
  const std::string silence_id = Json::parse(sbody)["silenceID"];
  ASSERT_TRUE(WaitFor(
      [&] {
        alerts = PromoAlerts("sni_changed");
        return !alerts.empty() && alerts[0]["status"]["state"] == "suppressed";
      },
      milliseconds(15000)))
      << (alerts.empty() ? "no alert" : alerts[0].dump());
  std::printf("silenced:\n%s\n", alerts[0]["status"].dump(2).c_str());
  EXPECT_EQ(alerts[0]["status"]["silencedBy"], Json::array({silence_id}));

  // The origin recovers: the alert resolves and leaves Alertmanager's list of
  // alerts (GET /api/v2/alerts lists no alert whose endsAt has passed).
  server_.reset();
  Scenario good = *FindScenario(scenarios_, "sni-required");
  good.options.no_sni = NoSniAction::kServeDefault;
  server_ = StartScenario(good, "127.0.0.1", port);
  ASSERT_NE(server_, nullptr);
  ASSERT_TRUE(WaitFor([&] { return PromoAlerts("sni_changed").empty(); }, milliseconds(30000)))
      << PromoAlerts("sni_changed")[0].dump() << "\n" << agent.Log();
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE webhook = 'alertmanager:am' AND "
                  "state = 'delivered'"),
            2);
  auto events = RunQuery(db_,
                         "SELECT e.kind FROM outbox o JOIN alert_events e ON e.id = o.event_row "
                         "WHERE o.webhook = 'alertmanager:am' ORDER BY o.id");
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->rows.size(), 2u);
  EXPECT_EQ(*events->rows[0][0], "firing");
  EXPECT_EQ(*events->rows[1][0], "resolved");
  std::printf("resolved: GET /api/v2/alerts lists no sni_changed alert for promo\n");
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(milliseconds(15000)), 0) << agent.Log();
}

TEST_F(AlertmanagerTest, TwoAgentsOnTheSameOriginMakeOneAlertThatOutlivesEitherAgent) {
  // Two agents (own databases, same origins) report the same failure: the
  // labels name no agent, so Alertmanager holds one alert, and it stays
  // active after one agent stops because the other keeps re-sending it.
  server_ = StartScenario(*FindScenario(scenarios_, "sni-required"), "127.0.0.1", 0);
  ASSERT_NE(server_, nullptr);
  const uint16_t port = server_->port();
  WriteConfig(port);
  const std::string config_b = (dir_ / "agent-b.toml").string();
  WriteConfigTo(config_b, (dir_ / "history-b.db").string(), port);
  AgentProcess a, b;
  ASSERT_TRUE(a.Start({OW_BINARY, "run", "-c", config_}, (dir_ / "agent-a.log").string()));
  ASSERT_TRUE(b.Start({OW_BINARY, "run", "-c", config_b}, (dir_ / "agent-b.log").string()));
  auto delivered = [](const std::string& db) {
    auto q = RunQuery(db, "SELECT count(*) FROM outbox WHERE webhook = 'alertmanager:am' AND "
                          "state = 'delivered'");
    return q.ok() && !q->rows.empty() && q->rows[0][0] && *q->rows[0][0] == "1";
  };
  ASSERT_TRUE(WaitFor([&] { return delivered(db_) && delivered((dir_ / "history-b.db").string()); },
                      milliseconds(30000)))
      << a.Log() << b.Log();
  auto alerts = PromoAlerts("sni_changed");
  ASSERT_EQ(alerts.size(), 1u) << "both agents posted it; Alertmanager keeps one";
  std::printf("two agents, one alert: fingerprint %s\n",
              alerts[0]["fingerprint"].get<std::string>().c_str());

  a.Signal(SIGTERM);
  EXPECT_EQ(a.Wait(milliseconds(15000)), 0) << a.Log();
  const std::string ends = PromoAlerts("sni_changed").at(0)["endsAt"];
  // Agent b alone moves endsAt on (re-sends every 2 s, endsAt = now + 8 s).
  ASSERT_TRUE(WaitFor(
      [&] {
        auto now = PromoAlerts("sni_changed");
        return now.size() == 1 && now[0]["endsAt"].get<std::string>() > ends &&
               now[0]["status"]["state"] == "active";
      },
      milliseconds(15000)))
      << b.Log();
  b.Signal(SIGTERM);
  EXPECT_EQ(b.Wait(milliseconds(15000)), 0) << b.Log();
}

}  // namespace
}  // namespace originwatch::testing
