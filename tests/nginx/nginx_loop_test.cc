// Closes the loop on the four seed reproductions of nginx_e2e_test.cc: for
// each front (real nginx-light on loopback, real origins), the real binary's
// `probe http://front/` sees the status nginx answers, and the agent, run on
// the output of `nginx import` of the same nginx.conf, alerts for the front
// with a summary that names the upstream's cause (or does not alert at all
// for the fixed seed).
#include "nginx_fixture.h"

namespace originwatch::testing {
namespace {

// Runs `originwatch ARGS` bounded by timeout(1), output into dir/NAME.out/.err.
CliRun RunOw(const fs::path& dir, const std::string& name, const std::string& args, int limit_s = 30) {
  const fs::path out = dir / (name + ".out"), err = dir / (name + ".err");
  const std::string cmd = "timeout -k 5 " + std::to_string(limit_s) + " " + std::string(OW_BINARY) + " " + args +
                          " > " + out.string() + " 2> " + err.string();
  const int rc = std::system(cmd.c_str());
  CliRun r;
  r.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

class NginxLoopTest : public NginxSeedTest {
 protected:
  // `probe http://127.0.0.1:FRONT/promo`: its status line and exit code.
  void ExpectProbe(const std::string& status_line, int exit_code) {
    const CliRun r = RunOw(dir_, "probe", "probe --timeout 5s http://127.0.0.1:" + std::to_string(front_port_) + "/promo");
    EXPECT_EQ(r.exit_code, exit_code) << r.out << r.err;
    EXPECT_NE(r.out.find(status_line), std::string::npos) << r.out << r.err;
  }

  // `nginx import` of the running front, after an [agent] table (1 s
  // interval, the test PKI's CA), accepted by check-config, run for 8 s.
  // Returns the agent's log; alerts_ gets `report alerts` of its database.
  std::string RunAgentOnImport() {
    const CliRun imported = RunOw(dir_, "import", "nginx import " + front_.conf().string());
    EXPECT_EQ(imported.exit_code, 0) << imported.out << imported.err;
    EXPECT_NE(imported.out.find("name = \"" + std::string(kFront) + "\""), std::string::npos) << imported.out;
    const fs::path ca = dir_ / "ca.pem", db = dir_ / "agent.db", toml = dir_ / "agent.toml";
    EXPECT_TRUE(pki_.WriteRootPem(ca.string()));
    WriteFile(toml, "[agent]\ndatabase = \"" + db.string() + "\"\ninterval = \"1s\"\nca_file = \"" + ca.string() +
                        "\"\n\n" + imported.out);
    const CliRun checked = RunOw(dir_, "check", "check-config " + toml.string());
    EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err << ReadFile(toml);
    const CliRun ran = RunOw(dir_, "run", "run -c " + toml.string() + " --duration 8s", 30);
    EXPECT_EQ(ran.exit_code, 0) << ran.out << ran.err;
    const CliRun alerts = RunOw(dir_, "alerts", "report alerts --db " + db.string());
    EXPECT_EQ(alerts.exit_code, 0) << alerts.out << alerts.err;
    alerts_ = alerts.out;
    return ran.out + ran.err;
  }

  // The log line of the front's http_failed alert, or "".
  static std::string FrontAlert(const std::string& log) {
    const std::string key = "origin=" + std::string(kFront) + " firing http_failed";
    const size_t at = log.find(key);
    if (at == std::string::npos) return "";
    return log.substr(at, log.find('\n', at) - at);
  }

  // The front's http_failed alert fired, its summary names the upstream's
  // cause (`because` after "because its upstream NAME "), in the log and in
  // the database's alerts.
  void ExpectFrontAlertNames(const std::string& because) {
    const std::string log = RunAgentOnImport();
    const std::string line = FrontAlert(log);
    ASSERT_FALSE(line.empty()) << log;
    EXPECT_NE(line.find("/promo answers 502 because its upstream "), std::string::npos) << line;
    EXPECT_NE(line.find(because), std::string::npos) << line;
    EXPECT_NE(alerts_.find(because), std::string::npos) << alerts_;
  }

  static constexpr const char* kFront = "www.example.com-promo";  // `nginx import`'s name for the front
  std::string alerts_;
};

// Seed 1: proxy_pass https://NAME to an SNI-only origin.
TEST_F(NginxLoopTest, UpstreamNameWithoutServerNameOnProbeSees502AndAgentSaysSniRequired) {
  const uint16_t origin = StartSniOnlyOrigin();
  StartFront("    upstream activity.example.com {\n        server 127.0.0.1:" + std::to_string(origin) + ";\n    }\n",
             "            proxy_pass https://activity.example.com;\n");
  ExpectProbe("HTTP 502 Bad Gateway", 1);
  ExpectFrontAlertNames("requires SNI and this proxy sends none");
}

// Seed 1 fixed: proxy_ssl_server_name on.
TEST_F(NginxLoopTest, UpstreamNameWithServerNameOnProbeSees200AndAgentDoesNotAlert) {
  const uint16_t origin = StartSniOnlyOrigin();
  StartFront("    upstream activity.example.com {\n        server 127.0.0.1:" + std::to_string(origin) + ";\n    }\n",
             "            proxy_ssl_server_name on;\n            proxy_pass https://activity.example.com;\n");
  ExpectProbe("HTTP 200", 0);
  const std::string log = RunAgentOnImport();
  EXPECT_EQ(FrontAlert(log), "") << log;
  EXPECT_EQ(log.find("origin=" + std::string(kFront) + " firing"), std::string::npos) << log;
  EXPECT_EQ(alerts_.find(kFront), std::string::npos) << alerts_;
  // The agent did probe the front, and its latest answer is a healthy 200.
  const CliRun report =
      RunOw(dir_, "report", "report origin " + std::string(kFront) + " --db " + (dir_ / "agent.db").string());
  EXPECT_EQ(report.exit_code, 0) << report.out << report.err;
  const size_t latest = report.out.find("\nlatest ");
  ASSERT_NE(latest, std::string::npos) << report.out;
  const std::string row = report.out.substr(latest + 1, report.out.find('\n', latest + 1) - latest - 1);
  EXPECT_NE(row.find(" 200 "), std::string::npos) << row;
  EXPECT_NE(row.find("healthy"), std::string::npos) << row;
}

// A front by IP:PORT to an origin that answers plaintext.
TEST_F(NginxLoopTest, IpPortToPlaintextOriginProbeSees502AndAgentSaysNotTls) {
  auto cdn = TlsTestServer::Start(ServerOptions{.behavior = Behavior::kPlainHttp});
  ASSERT_NE(cdn, nullptr);
  StartFront("", "            proxy_pass https://127.0.0.1:" + std::to_string(cdn->port()) + ";\n");
  ExpectProbe("HTTP 502 Bad Gateway", 1);
  ExpectFrontAlertNames("does not speak TLS");
}

// The second outage: RSA-only proxy_ssl_ciphers to an ECDSA-only origin.
TEST_F(NginxLoopTest, RsaOnlyCiphersToEcdsaOriginProbeSees502AndAgentSaysNoSharedCipher) {
  const Issued leaf = pki_.Leaf(CertOptions{.dns_names = {"activity.example.com"}, .key = KeyKind::kEcdsaP256});
  ServerOptions so;
  so.certs.push_back(ServedCert::From(leaf, {"activity.example.com"}));
  auto origin = TlsTestServer::Start(std::move(so));
  ASSERT_NE(origin, nullptr);
  StartFront("",
             "            proxy_ssl_server_name on;\n            proxy_ssl_name activity.example.com;\n"
             "            proxy_ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA;\n"
             "            proxy_pass https://127.0.0.1:" + std::to_string(origin->port()) + ";\n");
  ExpectProbe("HTTP 502 Bad Gateway", 1);
  ExpectFrontAlertNames("shares no cipher suite");
}

}  // namespace
}  // namespace originwatch::testing
