// Proves `originwatch nginx check` against the real nginx: for each seed
// configuration a real nginx (Debian nginx-light, started here on loopback and
// stopped by PID) proxies to a real TLS origin, the test asserts what nginx
// really does (the HTTP status a client gets and nginx's error log), and that
// the check predicted exactly that, with the cause, the fix and its proof.
#include "nginx_fixture.h"

namespace originwatch::testing {
namespace {

// Seed 1: proxy_pass https://NAME (an upstream block) without
// proxy_ssl_server_name on, to an origin that requires SNI.
TEST_F(NginxSeedTest, UpstreamNameWithoutServerNameOnGets502AndCheckPredictsSniRequired) {
  const uint16_t origin = StartSniOnlyOrigin();
  const std::string upstream =
      "    upstream activity.example.com {\n        server 127.0.0.1:" + std::to_string(origin) + ";\n    }\n";
  StartFront(upstream, "            proxy_pass https://activity.example.com;\n");

  // What nginx really does.
  EXPECT_EQ(HttpGet("127.0.0.1", front_port_, "/promo", "www.example.com"), 502);
  const std::string log = front_.ErrorLog();
  EXPECT_NE(log.find("SSL_do_handshake() failed"), std::string::npos) << log;
  EXPECT_NE(log.find("unrecognized name"), std::string::npos) << log;

  // What the check predicted.
  json loc = CheckJson(1);
  EXPECT_EQ(loc["will_work"], false) << loc.dump(2);
  EXPECT_TRUE(loc["sni"].is_null()) << loc.dump(2);
  EXPECT_EQ(loc["line"], 19) << loc.dump(2);  // the proxy_pass line of the generated file
  EXPECT_EQ(loc["location"], "/promo");
  ASSERT_TRUE(HasFinding(loc, "sni_required")) << loc.dump(2);
  EXPECT_EQ(loc["findings"][0]["code"], "sni_required") << loc.dump(2);
  EXPECT_NE(loc["findings"][0]["fix"].get<std::string>().find("proxy_ssl_server_name on;"), std::string::npos);
  ASSERT_TRUE(loc["proof"].is_string()) << loc.dump(2);
  const std::string proof = loc["proof"];
  EXPECT_EQ(proof.rfind("with proxy_ssl_server_name on; proxy_ssl_name activity.example.com; the handshake succeeds", 0), 0u)
      << proof;

  // The proof is right: the same nginx with the proven directives answers 200.
  const std::string directives = proof.substr(5, proof.find(" the handshake") - 5);
  front_.Stop();
  StartFront(upstream, "            " + directives + "\n            proxy_pass https://activity.example.com;\n");
  std::string body;
  EXPECT_EQ(HttpGet("127.0.0.1", front_port_, "/promo", "www.example.com", &body), 200);
  EXPECT_EQ(body, "activity ok\n");
}

// Seed 1 against the scripted TLS test server (alert 112 without SNI) of
// tests/support: the same 502, the same prediction.
TEST_F(NginxSeedTest, UpstreamNameWithoutServerNameOnToScriptedSniOnlyOriginGets502AndCheckPredictsSniRequired) {
  const Issued leaf = pki_.Leaf(CertOptions{.dns_names = {"activity.example.com"}});
  ServerOptions so;
  so.certs.push_back(ServedCert::From(leaf, {"activity.example.com"}));
  so.no_sni = NoSniAction::kAlert;
  so.no_sni_alert = 112;
  auto origin = TlsTestServer::Start(std::move(so));
  ASSERT_NE(origin, nullptr);
  StartFront("    upstream activity.example.com {\n        server 127.0.0.1:" + std::to_string(origin->port()) + ";\n    }\n",
             "            proxy_pass https://activity.example.com;\n");

  EXPECT_EQ(HttpGet("127.0.0.1", front_port_, "/promo", "www.example.com"), 502);
  const std::string log = front_.ErrorLog();
  EXPECT_NE(log.find("SSL alert number 112"), std::string::npos) << log;
  EXPECT_GE(origin->client_hellos(), 1u);
  EXPECT_FALSE(origin->last_sni().has_value());

  json loc = CheckJson(1);
  EXPECT_EQ(loc["will_work"], false) << loc.dump(2);
  ASSERT_FALSE(loc["findings"].empty()) << loc.dump(2);
  EXPECT_EQ(loc["findings"][0]["code"], "sni_required") << loc.dump(2);
  ASSERT_TRUE(loc["proof"].is_string()) << loc.dump(2);
  EXPECT_NE(loc["proof"].get<std::string>().find("proxy_ssl_server_name on;"), std::string::npos);
}

// Seed 1 fixed: the same front with proxy_ssl_server_name on.
TEST_F(NginxSeedTest, UpstreamNameWithServerNameOnGets200AndCheckSaysItWorks) {
  const uint16_t origin = StartSniOnlyOrigin();
  StartFront("    upstream activity.example.com {\n        server 127.0.0.1:" + std::to_string(origin) + ";\n    }\n",
             "            proxy_ssl_server_name on;\n            proxy_pass https://activity.example.com;\n");
  std::string body;
  EXPECT_EQ(HttpGet("127.0.0.1", front_port_, "/promo", "www.example.com", &body), 200);
  EXPECT_EQ(body, "activity ok\n");

  json loc = CheckJson(0);
  EXPECT_EQ(loc["will_work"], true) << loc.dump(2);
  EXPECT_EQ(loc["sni"], "activity.example.com");
  EXPECT_TRUE(loc["findings"].empty()) << loc.dump(2);
  EXPECT_EQ(loc["upstream_addresses"], json::array({"127.0.0.1:" + std::to_string(origin)}));
}

// A front by IP:PORT to a CDN-like origin that answers plain HTTP without SNI.
TEST_F(NginxSeedTest, IpPortToPlaintextOriginGets502WrongVersionNumberAndCheckPredictsNotTls) {
  auto cdn = TlsTestServer::Start(ServerOptions{.behavior = Behavior::kPlainHttp});
  ASSERT_NE(cdn, nullptr);
  StartFront("", "            proxy_pass https://127.0.0.1:" + std::to_string(cdn->port()) + ";\n");

  EXPECT_EQ(HttpGet("127.0.0.1", front_port_, "/promo", "www.example.com"), 502);
  const std::string log = front_.ErrorLog();
  EXPECT_NE(log.find("wrong version number"), std::string::npos) << log;

  json loc = CheckJson(1);
  EXPECT_EQ(loc["will_work"], false) << loc.dump(2);
  EXPECT_TRUE(loc["sni"].is_null());
  ASSERT_FALSE(loc["findings"].empty()) << loc.dump(2);
  EXPECT_EQ(loc["findings"][0]["code"], "not_tls") << loc.dump(2);
  EXPECT_TRUE(loc["proof"].is_null()) << loc.dump(2);  // no nginx setting makes plain HTTP speak TLS
}

// The second outage: proxy_ssl_ciphers with only RSA suites, to an origin with
// only an ECDSA certificate (nginx 1.22 offers no TLS 1.3 by default).
TEST_F(NginxSeedTest, RsaOnlyCiphersToEcdsaOriginGets502HandshakeFailureAndCheckPredictsNoSharedCipher) {
  const Issued leaf = pki_.Leaf(CertOptions{.dns_names = {"activity.example.com"}, .key = KeyKind::kEcdsaP256});
  ServerOptions so;
  so.certs.push_back(ServedCert::From(leaf, {"activity.example.com"}));
  auto origin = TlsTestServer::Start(std::move(so));
  ASSERT_NE(origin, nullptr);
  StartFront("",
             "            proxy_ssl_server_name on;\n            proxy_ssl_name activity.example.com;\n"
             "            proxy_ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA;\n"
             "            proxy_pass https://127.0.0.1:" + std::to_string(origin->port()) + ";\n");

  EXPECT_EQ(HttpGet("127.0.0.1", front_port_, "/promo", "www.example.com"), 502);
  const std::string log = front_.ErrorLog();
  EXPECT_NE(log.find("handshake failure"), std::string::npos) << log;

  json loc = CheckJson(1);
  EXPECT_EQ(loc["will_work"], false) << loc.dump(2);
  EXPECT_EQ(loc["sni"], "activity.example.com");
  ASSERT_FALSE(loc["findings"].empty()) << loc.dump(2);
  EXPECT_EQ(loc["findings"][0]["code"], "no_shared_cipher") << loc.dump(2);
  ASSERT_TRUE(loc["proof"].is_string()) << loc.dump(2);
  EXPECT_NE(loc["proof"].get<std::string>().find("proxy_ssl_ciphers DEFAULT;"), std::string::npos) << loc.dump(2);
}

// proxy_pass https://NAME of an upstream block whose NAME is no name of the
// origin: with proxy_ssl_server_name on, nginx sends NAME; with
// proxy_ssl_verify on, the certificate must cover it, and does not.
TEST_F(NginxSeedTest, UpstreamBlockNameSentAsSniAndVerifiedGets502AndCheckPredictsUpstreamNameAsSni) {
  const Issued leaf = pki_.Leaf(CertOptions{.dns_names = {"activity.example.com"}});
  ServerOptions so;
  so.certs.push_back(ServedCert::From(leaf, {"activity.example.com"}));  // also for unknown names
  auto origin = TlsTestServer::Start(std::move(so));
  ASSERT_NE(origin, nullptr);
  fs::create_directories(dir_ / "front");
  ASSERT_TRUE(pki_.WriteRootPem((dir_ / "front" / "root.pem").string()));
  StartFront("    upstream backend {\n        server 127.0.0.1:" + std::to_string(origin->port()) + ";\n    }\n",
             "            proxy_ssl_server_name on;\n            proxy_ssl_verify on;\n"
             "            proxy_ssl_trusted_certificate root.pem;\n"
             "            proxy_pass https://backend;\n");

  EXPECT_EQ(HttpGet("127.0.0.1", front_port_, "/promo", "www.example.com"), 502);
  const std::string log = front_.ErrorLog();
  EXPECT_NE(log.find("upstream SSL certificate does not match \"backend\""), std::string::npos) << log;
  EXPECT_EQ(origin->last_sni().value_or("(none)"), "backend");

  json loc = CheckJson(1);
  EXPECT_EQ(loc["will_work"], false) << loc.dump(2);
  EXPECT_EQ(loc["sni"], "backend");
  ASSERT_FALSE(loc["findings"].empty()) << loc.dump(2);
  EXPECT_EQ(loc["findings"][0]["code"], "upstream_name_as_sni") << loc.dump(2);
  EXPECT_EQ(loc["findings"][0]["severity"], "critical") << loc.dump(2);
  EXPECT_TRUE(HasFinding(loc, "name_mismatch")) << loc.dump(2);
  ASSERT_TRUE(loc["proof"].is_string()) << loc.dump(2);
  EXPECT_EQ(loc["proof"].get<std::string>().rfind("with proxy_ssl_name activity.example.com; the handshake succeeds", 0), 0u)
      << loc.dump(2);
}

// `nginx -T` of the running seed-1 front, on stdin, gives the same prediction.
TEST_F(NginxSeedTest, NginxDashTOutputOnStdinGivesTheSamePrediction) {
  const uint16_t origin = StartSniOnlyOrigin();
  StartFront("    upstream activity.example.com {\n        server 127.0.0.1:" + std::to_string(origin) + ";\n    }\n",
             "            proxy_pass https://activity.example.com;\n");
  const fs::path dump = dir_ / "dump.txt";
  const std::string cmd = std::string(kNginx) + " -T -p " + (dir_ / "front").string() + "/ -c " + front_.conf().string() +
                          " -g 'pid " + (dir_ / "t.pid").string() + "; error_log " + (dir_ / "t.log").string() +
                          ";' > " + dump.string() + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  CliRun r = RunCheck(dir_, "--json - < " + dump.string());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  json doc = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.out << r.err;
  ASSERT_EQ(doc["locations"].size(), 1u);
  EXPECT_EQ(doc["locations"][0]["findings"][0]["code"], "sni_required") << r.out;
  EXPECT_EQ(doc["locations"][0]["file"], front_.conf().string());
}

// Usage errors exit 2 with file:line; locations not checked alone exit 0.
TEST(NginxCliTest, ExitCodesFollowTheContract) {
  std::string tmpl = (fs::temp_directory_path() / "ow-nginx-cli-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const fs::path dir = tmpl;
  WriteFile(dir / "broken.conf", "events {}\nhttp {\n    server {\n        listen 80\n    }\n}\n");
  WriteFile(dir / "variables.conf",
            "events {}\nhttp {\n    server {\n        location / {\n            proxy_pass https://$backend;\n"
            "        }\n    }\n}\n");

  CliRun r = RunCheck(dir, (dir / "missing.conf").string() + " --nginx-version 1.22.1");
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("missing.conf:0: cannot open"), std::string::npos) << r.err;

  r = RunCheck(dir, (dir / "broken.conf").string() + " --nginx-version 1.22.1");
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("broken.conf:5: unexpected \"}\": directive \"listen\" is missing its \";\""), std::string::npos)
      << r.err;

  r = RunCheck(dir, (dir / "variables.conf").string() + " --nginx-version 1.2");
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;

  r = RunCheck(dir, "--json --nginx-version 1.25.3 " + (dir / "variables.conf").string());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  json doc = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.out;
  EXPECT_EQ(doc["nginx_version"], "1.25.3");
  EXPECT_EQ(doc["nginx_version_source"], "--nginx-version");
  ASSERT_EQ(doc["locations"].size(), 1u);
  EXPECT_TRUE(doc["locations"][0]["will_work"].is_null());
  EXPECT_NE(doc["locations"][0]["reason"].get<std::string>().find("variables"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace originwatch::testing
