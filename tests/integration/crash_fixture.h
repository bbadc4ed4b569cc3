// Shared by the crash harness and the port-move test: origins whose servers run
// in this process (healthy, refusing clients without SNI, or refusing every
// connection) at a chosen 127.0.0.x:port, the agent's config written from
// them, a real webhook receiver, and read-only checks of the agent's database.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "integration/agent_process.h"
#include "originwatch/store.h"
#include "probe/engine_fixture.h"
#include "support/scenarios.h"
#include "webhook/http_receiver.h"

namespace originwatch::testing {

// A port bound on `address` but never listened on (connect gets RST), at a
// chosen port; SO_REUSEADDR so it can take the port a server just closed.
class RefusingPort {
 public:
  static std::unique_ptr<RefusingPort> Bind(const std::string& address, uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return nullptr;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      ::close(fd);
      return nullptr;
    }
    socklen_t len = sizeof(sa);
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    return std::unique_ptr<RefusingPort>(new RefusingPort(fd, ntohs(sa.sin_port)));
  }
  uint16_t port() const { return port_; }
  ~RefusingPort() { ::close(fd_); }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

 private:
  RefusingPort(int fd, uint16_t port) : fd_(fd), port_(port) {}
  int fd_;
  uint16_t port_;
};

// What an origin serves. kSniRequired breaks only the variant without SNI
// (sni_changed); kRefused breaks both variants (handshake_failed).
enum class Health { kHealthy, kSniRequired, kRefused };

inline const char* HealthName(Health h) {
  switch (h) {
    case Health::kHealthy:
      return "healthy";
    case Health::kSniRequired:
      return "sni-required";
    case Health::kRefused:
      return "refused";
  }
  return "?";
}

// One origin of the config and whatever serves it right now.
struct CrashOrigin {
  std::string name;
  std::string address = "127.0.0.1";
  uint16_t port = 0;
  Health health = Health::kHealthy;
  std::unique_ptr<TlsTestServer> server;
  std::unique_ptr<RefusingPort> refusing;
};

class CrashFixture : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    scenarios_ = BuildScenarios(*pki_);
    db_ = (dir_ / "history.db").string();
    config_ = (dir_ / "agent.toml").string();
    ASSERT_TRUE(receiver_.Start(0).ok());
  }

  // Serves `h` at address:port (port 0 = a new ephemeral one); false when the
  // port cannot be bound. The previous server of the origin is stopped first.
  bool Place(CrashOrigin& o, const std::string& address, uint16_t port, Health h) {
    o.server.reset();
    o.refusing.reset();
    if (h == Health::kRefused) {
      o.refusing = RefusingPort::Bind(address, port);
      if (!o.refusing) return false;
      port = o.refusing->port();
    } else {
      Scenario sc = *FindScenario(scenarios_, "sni-required");
      if (h == Health::kHealthy) sc.options.no_sni = NoSniAction::kServeDefault;
      o.server = StartScenario(sc, address, port);
      if (!o.server) return false;
      port = o.server->port();
    }
    o.address = address;
    o.port = port;
    o.health = h;
    return true;
  }

  // Writes the agent's config for `origins` (host sni-required.fleet.test,
  // variants with and without SNI, one profile) and the receiver.
  void WriteConfig(const std::vector<CrashOrigin>& origins) {
    std::ofstream f(config_ + ".new");
    f << "[agent]\ndatabase = \"" << db_
      << "\"\ninterval = \"1s\"\ntimeout = \"2s\"\nconnect_timeout = \"1s\"\n"
      << "ca_file = \"" << ca_file_ << "\"\n"
      << (resolver_.empty() ? "" : "resolvers = [\"" + resolver_ + "\"]\ndns_min_ttl = \"1ms\"\n")
      << "\n"
      << "[alerts]\nfail_after = 2\nresolve_after = 2\n\n";
    for (const CrashOrigin& o : origins) {
      f << "[[origin]]\nname = \"" << o.name
        << "\"\nhost = \"sni-required.fleet.test\"\nport = " << o.port << "\n"
        << (resolver_.empty() ? "connect = [\"" + o.address + "\"]\n" : "")
        << "sni = [\"sni-required.fleet.test\", \"none\"]\nprofiles = [\"modern\"]\n\n";
    }
    f << "[[webhook]]\nname = \"ops\"\nurl = \"" << receiver_.Url() << "\"\ntimeout = \"1s\"\n";
    f.close();
    // A reload never reads a half-written file.
    std::filesystem::rename(config_ + ".new", config_);
  }

  std::optional<QueryResult> Query(const std::string& sql) {
    auto q = RunQuery(db_, sql);
    if (!q.ok()) return std::nullopt;
    return q.value();
  }

  int64_t Count(const std::string& sql) {
    auto q = RunQuery(db_, sql);
    if (!q.ok() || q->rows.empty() || !q->rows[0][0]) return -1;
    return std::stoll(*q->rows[0][0]);
  }

  // Origins with an open alert (view open_alerts).
  std::set<std::string> OpenAlertOrigins() {
    std::set<std::string> out;
    if (auto q = Query("SELECT DISTINCT origin FROM open_alerts"))
      for (const auto& r : q->rows)
        if (r[0]) out.insert(*r[0]);
    return out;
  }

  std::vector<nlohmann::json> Received() {
    std::vector<nlohmann::json> out;
    for (const HttpRequest& r : receiver_.requests()) {
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      if (!j.is_discarded()) out.push_back(j);
    }
    return out;
  }

  std::vector<Scenario> scenarios_;
  HttpReceiver receiver_;
  std::string db_, config_;
  // "ip:port" of a DNS server: origins are then resolved through it (no
  // `connect`); "" = every origin has `connect = [its address]`.
  std::string resolver_;
};

}  // namespace originwatch::testing
