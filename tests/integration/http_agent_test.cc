// Proves, end to end, that the agent watching a real nginx front raises an
// http_failed alert for the front's 502 that names the upstream's cause: a
// front proxying without SNI to an SNI-only origin is told to set
// proxy_ssl_server_name on;, a front answering 502 by itself while its
// upstream works is told to look at the proxy.
//
// NEEDS THE HTTP ENGINE: this test passes only once the engine fills
// ProbeResult::http (the HTTP request of the probe, built in parallel with the
// configuration, diagnosis, store and alert parts tested here). Until then it
// FAILS with a message saying so; it is never skipped for that reason.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "integration/agent_process.h"
#include "originwatch/store.h"
#include "probe/engine_fixture.h"
#include "support/scenarios.h"

namespace originwatch::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kNginx[] = "/usr/sbin/nginx";

// A loopback port free at the time of the call (bound to 0, then released).
uint16_t FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

bool Accepts(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

// The status line nginx answers to "GET path" on 127.0.0.1:port ("" on failure).
std::string StatusLine(uint16_t port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  std::string got;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: www.example.test\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[512];
      for (int i = 0; i < 16 && got.find("\r\n") == std::string::npos; ++i) {
        const ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
      }
    }
  }
  close(fd);
  return got.substr(0, got.find("\r\n"));
}

// The lines of text that contain needle (to keep failure messages short).
std::string LinesWith(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.find(needle) != std::string::npos) out += line + "\n";
  }
  return out;
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class HttpAgentTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    if (!std::filesystem::exists(kNginx)) {
      if (std::getenv("ORIGINWATCH_REQUIRE_PEERS") != nullptr) {
        FAIL() << kNginx
               << " is missing (Debian package nginx-light) and ORIGINWATCH_REQUIRE_PEERS is set";
      }
      GTEST_SKIP() << kNginx
                   << " is missing: install nginx-light (set ORIGINWATCH_REQUIRE_PEERS=1 to fail)";
    }
    scenarios_ = BuildScenarios(*pki_);
    db_ = (dir_ / "history.db").string();
  }
  void TearDown() override {
    nginx_.Signal(SIGQUIT);
    nginx_.Wait(milliseconds(5000));
    agent_.Signal(SIGTERM);
    agent_.Wait(milliseconds(10000));
    EngineTest::TearDown();
  }

  // Starts the scenario's server; returns the [[origin]] watching it by name.
  std::string Upstream(const std::string& scenario, const std::string& name) {
    const Scenario* sc = FindScenario(scenarios_, scenario);
    EXPECT_NE(sc, nullptr) << scenario;
    servers_.push_back(StartScenario(*sc));
    EXPECT_NE(servers_.back(), nullptr);
    ports_[name] = servers_.back()->port();
    hosts_[name] = sc->host;
    return "[[origin]]\nname = \"" + name + "\"\nhost = \"" + sc->host +
           "\"\nport = " + std::to_string(servers_.back()->port()) +
           "\nconnect = [\"127.0.0.1\"]\nsni = [\"" + sc->host +
           "\", \"none\"]\nprofiles = [\"modern\"]\n\n";
  }

  // nginx in the foreground, one process (its PID is our child's), with every
  // path inside the test's directory.
  bool StartNginx(const std::string& locations) {
    front_port_ = FreePort();
    const std::string d = dir_.string();
    for (const char* sub : {"cb", "pt", "ft", "ut", "st"})
      std::filesystem::create_directories(dir_ / sub);
    std::ofstream conf(dir_ / "nginx.conf");
    conf << "daemon off;\nmaster_process off;\nworker_processes 1;\npid " << d
         << "/nginx.pid;\nerror_log " << d << "/nginx-error.log info;\n"
         << "events { worker_connections 64; }\nhttp {\n  access_log off;\n"
         << "  client_body_temp_path " << d << "/cb;\n  proxy_temp_path " << d << "/pt;\n"
         << "  fastcgi_temp_path " << d << "/ft;\n  uwsgi_temp_path " << d << "/ut;\n"
         << "  scgi_temp_path " << d << "/st;\n  server {\n    listen 127.0.0.1:" << front_port_
         << ";\n"
         << locations << "  }\n}\n";
    conf.close();
    if (!nginx_.Start(
            {kNginx, "-p", d + "/", "-c", d + "/nginx.conf", "-e", d + "/nginx-error.log"},
            d + "/nginx.out")) {
      return false;
    }
    return WaitFor([&] { return Accepts(front_port_); }, milliseconds(5000));
  }

  std::string Agent() const {
    return "[agent]\ndatabase = \"" + db_ +
           "\"\ninterval = \"1s\"\ntimeout = \"2s\"\nconnect_timeout = \"1s\"\nmax_per_address = "
           "100\n"
           "ca_file = \"" +
           ca_file_ + "\"\n\n[alerts]\nfail_after = 2\nresolve_after = 2\n\n";
  }

  bool StartAgent(const std::string& config) {
    const std::string path = (dir_ / "agent.toml").string();
    std::ofstream(path) << config;
    return agent_.Start({OW_BINARY, "run", "-c", path}, (dir_ / "agent.log").string());
  }

  // The summary of the front's first http_failed firing, "" when none yet.
  std::string FiringSummary(const std::string& origin) {
    auto q = RunQuery(db_,
                      "SELECT summary FROM alert_events WHERE rule = 'http_failed' AND kind = "
                      "'firing' AND origin = '" +
                          origin + "' ORDER BY id LIMIT 1");
    if (!q.ok() || q->rows.empty() || !q->rows[0][0]) return "";
    return *q->rows[0][0];
  }

  std::string Diagnostics() {
    auto q =
        RunQuery(db_,
                 "SELECT group_concat(origin || ' ' || sni || ' ' || outcome || ' http=' || "
                 "coalesce(http_status, '-') || '/' || coalesce(http, '-'), '; ') FROM latest");
    const std::string latest = q.ok() && !q->rows.empty() && q->rows[0][0] ? *q->rows[0][0] : "?";
    return "\nlatest: " + latest + "\nagent log:\n" + agent_.Log() +
           "\nno http_failed alert: the engine must fill ProbeResult::http (the HTTP request of "
           "the probe); this test needs that engine part merged.";
  }

  std::vector<Scenario> scenarios_;
  std::vector<std::unique_ptr<TlsTestServer>> servers_;
  std::map<std::string, uint16_t> ports_;
  std::map<std::string, std::string> hosts_;
  std::string db_;
  uint16_t front_port_ = 0;
  AgentProcess nginx_, agent_;
};

TEST_F(HttpAgentTest, FrontAnswering502NamesTheUpstreamsCause) {
  std::string config = Agent() + Upstream("sni-required", "activity") + Upstream("healthy", "shop");
  // /promo proxies like the first outage: https by address, nginx's default of
  // no SNI to the upstream. /broken answers 502 by itself: its upstream works.
  ASSERT_TRUE(StartNginx(
      "    location /promo { proxy_pass https://127.0.0.1:" + std::to_string(ports_["activity"]) +
      "; }\n    location /broken { return 502; }\n"))
      << ReadFile(dir_ / "nginx.out") << ReadFile(dir_ / "nginx-error.log");
  // The fixture itself, independent of the agent: nginx answers 502 on both
  // paths, and for /promo because the upstream refused its handshake without SNI.
  EXPECT_EQ(StatusLine(front_port_, "/promo"), "HTTP/1.1 502 Bad Gateway");
  EXPECT_EQ(StatusLine(front_port_, "/broken"), "HTTP/1.1 502 Bad Gateway");
  EXPECT_NE(ReadFile(dir_ / "nginx-error.log").find("SSL_do_handshake() failed"), std::string::npos)
      << LinesWith(ReadFile(dir_ / "nginx-error.log"), "[error]");

  const std::string front = "http://127.0.0.1:" + std::to_string(front_port_);
  config +=
      "[[origin]]\nname = \"promo\"\nurl = \"" + front + "/promo\"\nupstream = \"activity\"\n\n";
  config +=
      "[[origin]]\nname = \"broken\"\nurl = \"" + front + "/broken\"\nupstream = \"shop\"\n\n";
  ASSERT_TRUE(StartAgent(config));

  std::string promo, broken;
  WaitFor(
      [&] {
        if (promo.empty()) promo = FiringSummary("promo");
        if (broken.empty()) broken = FiringSummary("broken");
        return !promo.empty() && !broken.empty();
      },
      milliseconds(30000));
  ASSERT_TRUE(agent_.running()) << agent_.Log();

  ASSERT_FALSE(promo.empty()) << Diagnostics();
  EXPECT_NE(promo.find("answers 502 because its upstream " + hosts_["activity"] +
                       " (origin activity) requires SNI and this proxy sends none — nginx: "
                       "proxy_ssl_server_name on;"),
            std::string::npos)
      << promo;
  ASSERT_FALSE(broken.empty()) << Diagnostics();
  EXPECT_NE(
      broken.find("answers 502 although its upstream " + hosts_["shop"] + " (origin shop) answers"),
      std::string::npos)
      << broken;
  auto status = RunQuery(db_, "SELECT http_status FROM latest WHERE origin = 'promo'");
  ASSERT_TRUE(status.ok() && !status->rows.empty() && status->rows[0][0]);
  EXPECT_EQ(*status->rows[0][0], "502");
}

}  // namespace
}  // namespace originwatch::testing
