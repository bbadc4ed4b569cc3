// Proves, end to end, that `originwatch run` against real TLS servers on loopback
// keeps a queryable history, loses no completed result on SIGTERM, applies a
// SIGHUP reload (and survives a bad one), and refuses a bad database or config
// with a clear message.
#include <grp.h>
#include <sys/stat.h>

#include <openssl/x509_vfy.h>

#include <filesystem>
#include <fstream>

#include "integration/agent_process.h"
#include "originwatch/store.h"
#include "probe/engine_fixture.h"
#include "support/scenarios.h"

namespace originwatch::testing {
namespace {

using std::chrono::milliseconds;

class AgentTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    std::filesystem::permissions(dir_, std::filesystem::perms::all);  // readable by nobody too
    scenarios_ = BuildScenarios(*pki_);
    db_ = (dir_ / "history.db").string();
    config_ = (dir_ / "agent.toml").string();
    log_ = (dir_ / "agent.log").string();
  }

  // Starts the named scenario's server and returns the TOML of an origin for it.
  std::string Origin(const std::string& scenario, const std::string& name = "") {
    const Scenario* sc = FindScenario(scenarios_, scenario);
    EXPECT_NE(sc, nullptr) << scenario;
    servers_.push_back(StartScenario(*sc));
    EXPECT_NE(servers_.back(), nullptr);
    std::ostringstream o;
    o << "[[origin]]\nname = \"" << (name.empty() ? scenario : name) << "\"\nhost = \"" << sc->host
      << "\"\nport = " << servers_.back()->port() << "\nconnect = [\"" << servers_.back()->address()
      << "\"]\nsni = [\"" << sc->host << "\", \"none\"]\nprofiles = [\"modern\"]\n\n";
    return o.str();
  }

  std::string Agent(const std::string& interval = "1s", const std::string& timeout = "2s") {
    return "[agent]\ndatabase = \"" + db_ + "\"\ninterval = \"" + interval + "\"\ntimeout = \"" + timeout +
           "\"\nconnect_timeout = \"1s\"\nmax_per_address = 100\nca_file = \"" + ca_file_ + "\"\n\n";
  }

  void WriteConfig(const std::string& text) {
    std::ofstream f(config_);
    f << text;
  }

  bool StartAgent(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {OW_BINARY, "run", "-c", config_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return agent_.Start(argv, log_);
  }

  int64_t Count(const std::string& sql) {
    auto q = RunQuery(db_, sql);
    if (!q.ok() || q->rows.empty() || !q->rows[0][0]) return -1;
    return std::stoll(*q->rows[0][0]);
  }

  std::vector<Scenario> scenarios_;
  std::vector<std::unique_ptr<TlsTestServer>> servers_;
  std::string db_, config_, log_;
  AgentProcess agent_;
};

TEST_F(AgentTest, RunKeepsAHistoryThatQueriesAndReportsShow) {
  WriteConfig(Agent() + Origin("healthy") + Origin("sni-required") + Origin("plain-http") +
              Origin("expired") + Origin("refused"));
  ASSERT_TRUE(StartAgent({"--duration", "3s"}));
  ASSERT_EQ(agent_.Wait(milliseconds(20000)), 0) << agent_.Log();

  auto latest = RunQuery(db_, "SELECT origin, sni, outcome, alert FROM latest ORDER BY origin, sni");
  ASSERT_TRUE(latest.ok()) << latest.status().message();
  std::map<std::string, std::string> got;
  for (const auto& row : latest->rows)
    got[*row[0] + " " + *row[1]] = *row[2] + (row[3] ? " " + *row[3] : "");
  EXPECT_EQ(got["healthy healthy.fleet.test"], "ok");
  EXPECT_EQ(got["healthy (none)"], "ok");
  EXPECT_EQ(got["sni-required sni-required.fleet.test"], "ok");
  EXPECT_EQ(got["sni-required (none)"], "tls_alert 112");
  EXPECT_EQ(got["plain-http plain-http.fleet.test"], "not_tls");
  EXPECT_EQ(got["expired expired.fleet.test"], "ok");
  EXPECT_EQ(got["refused refused.fleet.test"], "refused");
  // Several rounds in 3 s at a 1 s interval, every variant each round.
  EXPECT_GE(Count("SELECT count(*) FROM probes"), 10 * 2);

  auto failing = Report(db_, "failing", "", 0);
  ASSERT_TRUE(failing.ok()) << failing.status().message();
  bool saw_sni_required = false;
  for (const auto& row : failing->rows)
    for (const auto& cell : row) saw_sni_required |= cell && *cell == "sni_required";
  EXPECT_TRUE(saw_sni_required) << FormatTable(*failing);

  EXPECT_GE(Count("SELECT count(*) FROM expiring WHERE days_left < 0"), 1);
  EXPECT_NE(agent_.Log().find("stopped:"), std::string::npos) << agent_.Log();
}

TEST_F(AgentTest, TwoEngineThreadsShareTheOriginsAndStoreEveryOne) {
  std::string agent = Agent();
  agent.insert(agent.find("ca_file"), "engine_threads = 2\n");
  std::string origins;
  for (const char* name : {"healthy", "sni-required", "expired", "plain-http"}) {
    for (int i = 0; i < 2; ++i) origins += Origin(name, std::string(name) + "-" + std::to_string(i));
  }
  WriteConfig(agent + origins);
  ASSERT_TRUE(StartAgent({"--duration", "3s"}));
  ASSERT_EQ(agent_.Wait(milliseconds(20000)), 0) << agent_.Log();
  EXPECT_NE(agent_.Log().find("2 engine thread(s)"), std::string::npos) << agent_.Log();
  // Every origin x variant has a latest row, whichever engine probed it.
  EXPECT_EQ(Count("SELECT count(*) FROM latest"), 8 * 2);
  EXPECT_EQ(Count("SELECT count(DISTINCT origin) FROM latest"), 8);
  EXPECT_EQ(Count("SELECT count(*) FROM latest WHERE origin LIKE 'sni-required-%' AND sni = '(none)' "
                  "AND outcome = 'tls_alert'"),
            2);
}

TEST_F(AgentTest, SigtermWhileProbesAreInFlightLosesNoCompletedResult) {
  // The blackhole's probes take the whole 2 s timeout: SIGTERM lands while one
  // is in flight, and the drain must wait for it and store it.
  WriteConfig(Agent("1s", "2s") + Origin("healthy") + Origin("blackhole"));
  ASSERT_TRUE(StartAgent());
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT count(*) FROM probes") >= 2; }, milliseconds(10000)))
      << agent_.Log();
  std::this_thread::sleep_for(milliseconds(800));
  agent_.Signal(SIGTERM);
  ASSERT_EQ(agent_.Wait(milliseconds(15000)), 0) << agent_.Log();

  // The agent's last line: "stopped: N probe results stored, 0 dropped".
  std::string log = agent_.Log();
  const size_t at = log.find("stopped: ");
  ASSERT_NE(at, std::string::npos) << log;
  const size_t tail = log.find(" probe results stored, 0 dropped", at);
  ASSERT_NE(tail, std::string::npos) << log;
  const std::string stored = log.substr(at + 9, tail - at - 9);
  ASSERT_FALSE(stored.empty());
  ASSERT_EQ(stored.find_first_not_of("0123456789"), std::string::npos) << stored;
  EXPECT_EQ(Count("SELECT count(*) FROM probes"), std::stoll(stored));
  EXPECT_GE(Count("SELECT count(*) FROM probes p JOIN outcome_codes oc ON oc.code = p.outcome "
                  "WHERE oc.name = 'handshake_timeout'"),
            1)
      << log;
  EXPECT_NE(log.find("received SIGTERM"), std::string::npos);
}

TEST_F(AgentTest, SighupAddsAndRemovesOriginsAndKeepsHistory) {
  std::string keep = Origin("healthy", "keep");
  std::string gone = Origin("sni-required", "gone");
  std::string added = Origin("plain-http", "added");
  WriteConfig(Agent() + keep + gone);
  ASSERT_TRUE(StartAgent());
  ASSERT_TRUE(WaitFor([&] {
    return Count("SELECT count(*) FROM latest WHERE origin = 'gone'") == 2 &&
           Count("SELECT count(*) FROM latest WHERE origin = 'keep'") == 2;
  }, milliseconds(10000))) << agent_.Log();

  WriteConfig(Agent() + keep + added);
  agent_.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT count(*) FROM latest WHERE origin = 'added'") == 2; },
                      milliseconds(10000)))
      << agent_.Log();
  // In-flight probes of the removed origin may still land; after that, none.
  std::this_thread::sleep_for(milliseconds(2500));
  const std::string gone_probes =
      "SELECT count(*) FROM probes p JOIN variants v ON v.id = p.variant_id JOIN origins o ON o.id = "
      "v.origin_id WHERE o.name = 'gone'";
  int64_t before = Count(gone_probes);
  std::this_thread::sleep_for(milliseconds(2500));
  EXPECT_EQ(Count(gone_probes), before);
  EXPECT_GT(before, 0);  // its history is kept
  EXPECT_EQ(Count("SELECT count(*) FROM origins WHERE name = 'gone' AND removed_at IS NOT NULL"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM origins WHERE name = 'keep' AND removed_at IS NULL"), 1);
  EXPECT_TRUE(agent_.running());
  agent_.Signal(SIGTERM);
  EXPECT_EQ(agent_.Wait(milliseconds(15000)), 0);
  EXPECT_NE(agent_.Log().find("reloaded: 2 origins"), std::string::npos) << agent_.Log();
}

TEST_F(AgentTest, BadConfigOnSighupIsRejectedAndTheOldOneKeepsRunning) {
  WriteConfig(Agent() + Origin("healthy"));
  ASSERT_TRUE(StartAgent());
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT count(*) FROM probes") >= 2; }, milliseconds(10000)))
      << agent_.Log();
  WriteConfig(Agent() + "[[origin]]\nname = \"x\"\nhots = \"typo.example\"\n");
  agent_.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return agent_.Log().find("reload rejected") != std::string::npos; },
                      milliseconds(5000)))
      << agent_.Log();
  int64_t n = Count("SELECT count(*) FROM probes");
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT count(*) FROM probes") > n + 2; }, milliseconds(10000)))
      << agent_.Log();
  EXPECT_TRUE(agent_.running());
  std::string log = agent_.Log();
  // The error names the file, line and column, with a did-you-mean.
  EXPECT_NE(log.find(config_ + ":"), std::string::npos) << log;
  EXPECT_NE(log.find("did you mean \"host\""), std::string::npos) << log;
  agent_.Signal(SIGTERM);
  EXPECT_EQ(agent_.Wait(milliseconds(15000)), 0);
}

TEST_F(AgentTest, ReloadWithACaFileOpenSslCannotLoadIsRejectedAndProbingGoesOn) {
  const std::string origin = Origin("healthy");
  WriteConfig(Agent() + origin);
  ASSERT_TRUE(StartAgent());
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT count(*) FROM probes") >= 2; }, milliseconds(10000)))
      << agent_.Log();
  // Valid TOML, valid keys: only OpenSSL can tell the CA file is no bundle.
  const std::string bogus = (dir_ / "not-a-bundle.pem").string();
  { std::ofstream(bogus) << "this is not PEM\n"; }
  std::string agent = Agent();
  agent.replace(agent.find(ca_file_), ca_file_.size(), bogus);
  WriteConfig(agent + origin);
  agent_.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return agent_.Log().find("reload rejected") != std::string::npos; },
                      milliseconds(5000)))
      << agent_.Log();
  EXPECT_NE(agent_.Log().find(bogus), std::string::npos) << agent_.Log();
  int64_t n = Count("SELECT count(*) FROM probes WHERE outcome = 0");
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT count(*) FROM probes WHERE outcome = 0") >= n + 2; },
                      milliseconds(10000)))
      << agent_.Log();
  agent_.Signal(SIGTERM);
  EXPECT_EQ(agent_.Wait(milliseconds(15000)), 0);
}

TEST_F(AgentTest, CaBundleReplacedInPlaceIsTrustedAnewOnSighup) {
  // The same path with other contents is another trust store: the chain the
  // old bundle verified (and the engines cached) must be verified again.
  WriteConfig(Agent() + Origin("healthy"));
  ASSERT_TRUE(StartAgent());
  const std::string verified = "SELECT count(*) FROM probes WHERE outcome = 0 AND verify_code = 0";
  ASSERT_TRUE(WaitFor([&] { return Count(verified) >= 4; }, milliseconds(10000))) << agent_.Log();
  Pki other = Pki::Create("another");
  ASSERT_TRUE(other.WriteRootPem(ca_file_));
  agent_.Signal(SIGHUP);
  const std::string untrusted = "SELECT count(*) FROM probes WHERE outcome = 0 AND verify_code = " +
                                std::to_string(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  ASSERT_TRUE(WaitFor([&] { return Count(untrusted) >= 2; }, milliseconds(10000))) << agent_.Log();
  // And from then on, nothing verifies against the old root.
  std::this_thread::sleep_for(milliseconds(2500));
  int64_t ok_before = Count(verified);
  std::this_thread::sleep_for(milliseconds(2500));
  EXPECT_EQ(Count(verified), ok_before);
  agent_.Signal(SIGTERM);
  EXPECT_EQ(agent_.Wait(milliseconds(15000)), 0);
}

TEST_F(AgentTest, BadConfigAtStartIsRefusedWithEveryError) {
  WriteConfig(Agent("soon") + "[[origin]]\nname = \"x\"\nhost = \"a.example\"\nport = 70000\n");
  ASSERT_TRUE(StartAgent());
  EXPECT_EQ(agent_.Wait(milliseconds(10000)), 2);
  std::string log = agent_.Log();
  EXPECT_NE(log.find(config_ + ":3:"), std::string::npos) << log;   // interval
  EXPECT_NE(log.find(config_ + ":12:"), std::string::npos) << log;  // port
  EXPECT_NE(log.find("not starting"), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(db_));
}

TEST_F(AgentTest, DatabaseThatIsNotSqliteGivesAClearError) {
  { std::ofstream(db_) << "this is not a database, it is a text file\n"; }
  WriteConfig(Agent() + Origin("healthy"));
  ASSERT_TRUE(StartAgent());
  EXPECT_EQ(agent_.Wait(milliseconds(10000)), 2);
  std::string log = agent_.Log();
  EXPECT_NE(log.find(db_), std::string::npos) << log;
  EXPECT_NE(log.find("not a database"), std::string::npos) << log;
  std::ifstream f(db_);
  std::string first;
  std::getline(f, first);
  EXPECT_EQ(first, "this is not a database, it is a text file");  // untouched
}

TEST_F(AgentTest, DatabaseInAMissingDirectoryGivesAClearError) {
  db_ = (dir_ / "no-such-dir" / "history.db").string();
  WriteConfig(Agent() + Origin("healthy"));
  ASSERT_TRUE(StartAgent());
  EXPECT_EQ(agent_.Wait(milliseconds(10000)), 2);
  std::string log = agent_.Log();
  EXPECT_NE(log.find(db_), std::string::npos) << log;
  EXPECT_NE(log.find("directory"), std::string::npos) << log;
}

TEST_F(AgentTest, ReadOnlyDatabaseGivesAClearError) {
  // Create a valid database, then make it read-only. Root ignores file modes,
  // so the agent runs as nobody when the test runs as root.
  WriteConfig(Agent() + Origin("healthy"));
  ASSERT_TRUE(StartAgent({"--duration", "1s"}));
  ASSERT_EQ(agent_.Wait(milliseconds(15000)), 0) << agent_.Log();
  std::filesystem::permissions(db_, std::filesystem::perms::owner_read | std::filesystem::perms::group_read |
                                        std::filesystem::perms::others_read);
  for (const char* ext : {"-wal", "-shm"}) std::filesystem::remove(db_ + ext);
  if (geteuid() == 0) {
    // The directory must not be writable by nobody either (SQLite creates -wal/-shm there).
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                           std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                           std::filesystem::perms::others_exec);
    std::vector<std::string> argv = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                     OW_BINARY, "run", "-c", config_};
    ASSERT_TRUE(agent_.Start(argv, (std::filesystem::temp_directory_path() / ("ow-ro-" + std::to_string(getpid()) + ".log")).string()));
  } else {
    ASSERT_TRUE(StartAgent());
  }
  EXPECT_EQ(agent_.Wait(milliseconds(10000)), 2);
  std::string log = agent_.Log();
  EXPECT_NE(log.find(db_), std::string::npos) << log;
  EXPECT_TRUE(log.find("read-only") != std::string::npos || log.find("readonly") != std::string::npos ||
              log.find("not writable") != std::string::npos || log.find("ermission") != std::string::npos)
      << log;
}

TEST_F(AgentTest, CheckConfigListsEveryErrorWithFileLineColumnAndExits2) {
  WriteConfig("[agent]\nintervall = \"5s\"\n\n[[origin]]\nname = \"a\"\nhost = \"a.example\"\nprofiles = [\"legacy\"]\n");
  AgentProcess p;
  ASSERT_TRUE(p.Start({OW_BINARY, "check-config", "-c", config_}, log_));
  EXPECT_EQ(p.Wait(milliseconds(10000)), 2);
  std::string log = p.Log();
  EXPECT_NE(log.find(config_ + ":2:1: unknown key \"intervall\" in [agent] (did you mean \"interval\"?)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find(config_ + ":7:"), std::string::npos) << log;
  EXPECT_NE(log.find("unknown profile \"legacy\""), std::string::npos) << log;

  WriteConfig("[[origin]]\nname = \"a\"\nhost = \"a.example\"\n");
  AgentProcess ok;
  ASSERT_TRUE(ok.Start({OW_BINARY, "check-config", "-c", config_}, log_));
  EXPECT_EQ(ok.Wait(milliseconds(10000)), 0) << ok.Log();
}

}  // namespace
}  // namespace originwatch::testing
