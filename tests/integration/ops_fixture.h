// The fixture of the operations tests (systemd notify, log format, shards,
// fleet queries): real TLS servers of the scenario catalogue on loopback and a
// config for the real binary.
#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "integration/agent_process.h"
#include "probe/engine_fixture.h"
#include "support/scenarios.h"

namespace originwatch::testing {

class OpsTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    scenarios_ = BuildScenarios(*pki_);
    db_ = (dir_ / "history.db").string();
    config_ = (dir_ / "agent.toml").string();
    log_ = (dir_ / "agent.log").string();
  }

  // Starts the named scenario's server and returns the TOML of an origin for
  // it, named `name` (default: the scenario).
  std::string Origin(const std::string& scenario, const std::string& name = "", const std::string& extra = "") {
    const Scenario* sc = FindScenario(scenarios_, scenario);
    EXPECT_NE(sc, nullptr) << scenario;
    if (sc == nullptr) return "";
    servers_.push_back(StartScenario(*sc));
    EXPECT_NE(servers_.back(), nullptr);
    if (servers_.back() == nullptr) return "";
    std::ostringstream o;
    o << "[[origin]]\nname = \"" << (name.empty() ? scenario : name) << "\"\nhost = \"" << sc->host
      << "\"\nport = " << servers_.back()->port() << "\nconnect = [\"" << servers_.back()->address()
      << "\"]\nsni = [\"" << sc->host << "\"]\nprofiles = [\"modern\"]\n" << extra << "\n";
    return o.str();
  }

  std::string Agent(const std::string& database, const std::string& interval = "1s") {
    return "[agent]\ndatabase = \"" + database + "\"\ninterval = \"" + interval +
           "\"\ntimeout = \"2s\"\nconnect_timeout = \"1s\"\nmax_per_address = 100\nca_file = \"" + ca_file_ +
           "\"\n\n";
  }

  void WriteConfig(const std::string& text) {
    std::ofstream f(config_);
    f << text;
  }

  std::vector<Scenario> scenarios_;
  std::vector<std::unique_ptr<TlsTestServer>> servers_;
  std::string db_, config_, log_;
};

}  // namespace originwatch::testing
