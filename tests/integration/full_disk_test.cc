// Proves, end to end, what the agent does when the filesystem under its
// database fills up (a real tmpfs the test mounts and fills): it keeps
// probing, says so in its log (with time and level) and directly to the
// webhooks (store_unwritable), keeps the results it can hold and the alert
// transitions of the outage, and when space returns it resumes writing by
// itself, delivers the alert raised during the outage, and says
// store_unwritable resolved. /metrics says it too (originwatch_store_writable).
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "integration/agent_process.h"
#include "integration/endpoint_fixture.h"
#include "originwatch/clock.h"
#include "originwatch/store.h"
#include "probe/engine_fixture.h"
#include "support/scenarios.h"
#include "support/tmpfs.h"
#include "webhook/http_receiver.h"

namespace originwatch::testing {
namespace {

using std::chrono::milliseconds;

// A log line "2026-11-22T14:03:05Z <level> ... <text> ...": time, then level.
bool HasTimedLine(const std::string& log, const std::string& level, const std::string& text) {
  size_t start = 0;
  while (start < log.size()) {
    size_t end = log.find('\n', start);
    if (end == std::string::npos) end = log.size();
    const std::string line = log.substr(start, end - start);
    start = end + 1;
    if (line.find(text) == std::string::npos || line.size() < 21) continue;
    const bool timed = line[4] == '-' && line[7] == '-' && line[10] == 'T' && line[13] == ':' &&
                       line[16] == ':' && line[19] == 'Z' && line[20] == ' ';
    if (timed && line.compare(21, level.size(), level) == 0) return true;
  }
  return false;
}

class FullDiskTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    if (!fs_.Mount(16u << 20)) {
      if (Tmpfs::Required()) FAIL() << fs_.reason();
      GTEST_SKIP() << fs_.reason();
    }
    scenarios_ = BuildScenarios(*pki_);
    db_ = fs_.Path("history.db");
    config_ = (dir_ / "agent.toml").string();
    ASSERT_TRUE(receiver_.Start(0).ok());
  }

  std::vector<nlohmann::json> Events(const std::string& rule) {
    std::vector<nlohmann::json> out;
    for (const HttpRequest& r : receiver_.requests()) {
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      if (!j.is_discarded() && j["rule"] == rule) out.push_back(j);
    }
    return out;
  }

  int64_t Count(const std::string& sql) {
    auto q = RunQuery(db_, sql);
    if (!q.ok() || q->rows.empty() || !q->rows[0][0]) return -1;
    return std::stoll(*q->rows[0][0]);
  }

  Tmpfs fs_;
  std::vector<Scenario> scenarios_;
  std::unique_ptr<TlsTestServer> server_;
  HttpReceiver receiver_;
  std::string db_, config_;
};

TEST_F(FullDiskTest, KeepsProbingSaysSoKeepsTheAlertAndResumesWhenSpaceReturns) {
  server_ = StartScenario(*FindScenario(scenarios_, "healthy"), "127.0.0.1", 0);
  ASSERT_NE(server_, nullptr);
  const uint16_t port = server_->port();
  const std::string metrics = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort()) + "/metrics";
  auto writable = [&](const char* value) {
    return HttpCall("GET", metrics).body.find(std::string("\noriginwatch_store_writable ") + value + "\n") !=
           std::string::npos;
  };
  {
    std::ofstream f(config_);
    f << "[agent]\ndatabase = \"" << db_ << "\"\ninterval = \"1s\"\ntimeout = \"2s\"\n"
      << "connect_timeout = \"1s\"\nca_file = \"" << ca_file_ << "\"\n"
      << "listen = \"" << metrics.substr(7, metrics.size() - 7 - 8) << "\"\n\n"
      << "[alerts]\nfail_after = 2\nresolve_after = 2\n\n"
      << "[[origin]]\nname = \"promo\"\nhost = \"healthy.fleet.test\"\nport = " << port
      << "\nconnect = [\"127.0.0.1\"]\nsni = [\"healthy.fleet.test\"]\nprofiles = [\"modern\"]\n\n"
      << "[[webhook]]\nname = \"ops\"\nurl = \"" << receiver_.Url() << "\"\ntimeout = \"1s\"\n";
  }
  AgentProcess agent;
  ASSERT_TRUE(agent.Start({OW_BINARY, "run", "-c", config_}, (dir_ / "agent.log").string()));
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT count(*) FROM probes") >= 3; }, milliseconds(15000)))
      << agent.Log();
  EXPECT_TRUE(writable("1")) << HttpCall("GET", metrics).body;

  // The disk fills, then the origin breaks: its alert fires during the outage.
  ASSERT_GT(fs_.Fill(), 0u);
  const int64_t full_at = UnixNowMs();
  server_.reset();  // connections are refused from now on
  ASSERT_TRUE(WaitFor([&] { return !Events("store_unwritable").empty(); }, milliseconds(20000)))
      << agent.Log();
  nlohmann::json down = Events("store_unwritable")[0];
  EXPECT_EQ(down["kind"], "firing");
  EXPECT_EQ(down["severity"], "critical");
  EXPECT_EQ(down["finding"]["code"], "store_unwritable");
  EXPECT_NE(down["finding"]["summary"].get<std::string>().find("full"), std::string::npos) << down;
  EXPECT_NE(down["finding"]["fix"].get<std::string>().find("Free space"), std::string::npos) << down;
  EXPECT_TRUE(writable("0")) << HttpCall("GET", metrics).body;
  // Two failing rounds and more pass while nothing can be written: the
  // firing event exists only in memory, so no webhook has it yet.
  std::this_thread::sleep_for(milliseconds(4000));
  EXPECT_TRUE(Events("handshake_failed").empty()) << agent.Log();
  const std::string log_during = agent.Log();
  EXPECT_TRUE(HasTimedLine(log_during, "error", "cannot be written: database or disk is full"))
      << log_during;

  fs_.Free();
  const int64_t freed_at = UnixNowMs();
  ASSERT_TRUE(WaitFor([&] { return Events("store_unwritable").size() >= 2 && !Events("handshake_failed").empty(); },
                      milliseconds(30000)))
      << agent.Log();
  nlohmann::json up = Events("store_unwritable")[1];
  EXPECT_EQ(up["kind"], "resolved");
  EXPECT_NE(up["finding"]["summary"].get<std::string>().find("0 probe results were dropped"), std::string::npos) << up;
  EXPECT_TRUE(WaitFor([&] { return writable("1"); }, milliseconds(5000))) << HttpCall("GET", metrics).body;
  nlohmann::json fired = Events("handshake_failed")[0];
  EXPECT_EQ(fired["kind"], "firing");
  EXPECT_EQ(fired["origin"]["name"], "promo");

  agent.Signal(SIGTERM);
  ASSERT_EQ(agent.Wait(milliseconds(20000)), 0) << agent.Log();
  const std::string log = agent.Log();
  EXPECT_NE(log.find("is written again after"), std::string::npos) << log;
  EXPECT_NE(log.find("0 dropped (database unwritable)"), std::string::npos) << log;
  // The results of the outage were held and written once space returned,
  // and the alert opened during the outage carries its time of then.
  EXPECT_GE(Count("SELECT count(*) FROM probes WHERE ts >= " + std::to_string(full_at + 1000) +
                  " AND ts < " + std::to_string(freed_at)),
            3)
      << log;
  const int64_t opened = Count("SELECT opened_ms FROM alerts WHERE rule = 'handshake_failed' AND resolved_ms IS NULL");
  EXPECT_GT(opened, full_at);
  EXPECT_LT(opened, freed_at);
  EXPECT_EQ(Count("SELECT count(*) FROM alert_events WHERE rule = 'handshake_failed'"), 1);
}

}  // namespace
}  // namespace originwatch::testing
