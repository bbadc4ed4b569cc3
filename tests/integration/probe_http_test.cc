// HTTP checks against a real nginx (Debian's nginx-light) started by the test
// on loopback: a plain-HTTP front, an HTTPS front offering http/1.1 and one
// offering h2 (so the request goes on a second connection). First through the
// engine, then through `originwatch probe URL` as a user runs it.
//
// Without nginx the tests skip, unless ORIGINWATCH_REQUIRE_PEERS=1 (CI), where
// a missing nginx fails them.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <string>

#include "integration/agent_process.h"
#include "probe/engine_fixture.h"
#include "support/nginx_process.h"
#include "support/server_process.h"

namespace originwatch::testing {
namespace {

CliRun RunCli(const std::string& args) { return RunBinary(OW_BINARY, args); }

// The locations every front serves.
std::string Locations() {
  return R"(
    location = / { return 200 "front ok\n"; }
    location = /bad { return 502; }
    location = /moved { return 301 https://front.test/new; }
    location = /cached { add_header Via "1.1 edge-7"; add_header X-Cache "HIT"; return 200 "x"; }
    location = /host { add_header X-Cache "host=$host"; return 200 "ok\n"; }
)";
}

class NginxHttpTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    if (NginxProcess::Binary().empty()) {
      if (std::getenv("ORIGINWATCH_REQUIRE_PEERS") != nullptr &&
          std::string(std::getenv("ORIGINWATCH_REQUIRE_PEERS")) == "1") {
        FAIL() << "nginx is required (ORIGINWATCH_REQUIRE_PEERS=1) but not installed (Debian: nginx-light)";
      }
      GTEST_SKIP() << "nginx not installed (Debian: nginx-light); set ORIGINWATCH_REQUIRE_PEERS=1 to fail";
    }
    Issued leaf = pki_->Leaf({.dns_names = {"front.test"}});
    const std::string cert = (dir_ / "front.pem").string(), key = (dir_ / "front.key").string();
    std::ofstream(cert) << leaf.ChainPem();
    std::ofstream(key) << leaf.KeyPem();
    plain_ = FreeLoopbackPort();
    tls_ = FreeLoopbackPort();
    h2_ = FreeLoopbackPort();
    ASSERT_TRUE(plain_ != 0 && tls_ != 0 && h2_ != 0);
    const std::string ssl = "    ssl_certificate " + cert + ";\n    ssl_certificate_key " + key + ";\n";
    const std::string body =
        "  server { listen 127.0.0.1:" + std::to_string(plain_) + "; server_name front.test;" + Locations() + "  }\n" +
        "  server { listen 127.0.0.1:" + std::to_string(tls_) + " ssl; server_name front.test;\n" + ssl + Locations() + "  }\n" +
        "  server { listen 127.0.0.1:" + std::to_string(h2_) + " ssl http2; server_name front.test;\n" + ssl + Locations() + "  }\n";
    std::string error;
    nginx_ = NginxProcess::Start(dir_ / "nginx", body, {plain_, tls_, h2_}, &error);
    ASSERT_NE(nginx_, nullptr) << error;
  }

  ProbeSpec Front(uint16_t port, bool plain, const std::string& path) {
    ProbeSpec s = Spec("127.0.0.1", port, std::string("front.test"), "modern", 5000);
    s.http = HttpCheck{};
    s.http->plain = plain;
    s.http->path = path;
    return s;
  }

  std::string Url(const std::string& scheme, uint16_t port, const std::string& path) {
    return scheme + "://front.test:" + std::to_string(port) + path + " --connect 127.0.0.1 --ca " + ca_file_;
  }

  uint16_t plain_ = 0, tls_ = 0, h2_ = 0;
  std::unique_ptr<NginxProcess> nginx_;
};

TEST_F(NginxHttpTest, PlainFrontAnswers200And502) {
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  auto rs = engine->RunAll({Front(plain_, true, "/"), Front(plain_, true, "/bad")});
  ASSERT_EQ(rs[0].outcome, Outcome::kOk) << rs[0].error_text;
  EXPECT_TRUE(rs[0].version.empty());
  EXPECT_EQ(rs[0].http.outcome, HttpOutcome::kOk) << rs[0].http.error_text;
  EXPECT_EQ(rs[0].http.status, 200);
  EXPECT_EQ(rs[0].http.server, "nginx/1.22.1") << "the Debian 12 nginx-light";
  EXPECT_GE(rs[0].http.ttfb_ms, 0);
  EXPECT_EQ(rs[0].http.body_bytes, 9u);  // "front ok\n"
  EXPECT_EQ(rs[1].http.status, 502);
  EXPECT_EQ(rs[1].http.reason, "Bad Gateway");
  EXPECT_GT(rs[1].http.body_bytes, 0u);  // nginx's error page
}

TEST_F(NginxHttpTest, HttpsFrontOnTheSameConnection) {
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeResult r = engine->RunAll({Front(tls_, false, "/cached")})[0];
  ASSERT_EQ(r.outcome, Outcome::kOk) << r.error_text;
  EXPECT_TRUE(r.chain_verified) << r.verify_error;
  EXPECT_TRUE(r.alpn.empty() || r.alpn == "http/1.1") << r.alpn;
  EXPECT_FALSE(r.http.second_connection);
  EXPECT_EQ(r.http.status, 200);
  EXPECT_EQ(r.http.via, "1.1 edge-7");
  EXPECT_EQ(r.http.x_cache, "HIT");
  EXPECT_GE(r.http.ttfb_ms, 0);
  EXPECT_GE(r.http.total_ms, r.http.ttfb_ms);
}

TEST_F(NginxHttpTest, H2FrontGetsTheRequestOnASecondConnection) {
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  auto rs = engine->RunAll({Front(h2_, false, "/"), Front(h2_, false, "/moved")});
  ASSERT_EQ(rs[0].outcome, Outcome::kOk) << rs[0].error_text;
  EXPECT_EQ(rs[0].alpn, "h2");
  EXPECT_TRUE(rs[0].http.second_connection);
  EXPECT_EQ(rs[0].http.outcome, HttpOutcome::kOk) << rs[0].http.error_text;
  EXPECT_EQ(rs[0].http.status, 200);
  EXPECT_EQ(rs[1].http.status, 301);
  EXPECT_EQ(rs[1].http.location, "https://front.test/new");
}

TEST_F(NginxHttpTest, HeadReadsNoBody) {
  OW_ENGINE_OR_SKIP(engine, ca_file_);
  ProbeSpec s = Front(tls_, false, "/");
  s.http->method = "HEAD";
  ProbeResult r = engine->RunAll({s})[0];
  EXPECT_EQ(r.http.status, 200);
  EXPECT_EQ(r.http.body_bytes, 0u);
}

TEST_F(NginxHttpTest, CliPlainUrlPrintsTheStatus) {
  CliRun r = RunCli("probe http://127.0.0.1:" + std::to_string(plain_) + "/bad");
  EXPECT_NE(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("plain-http"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("HTTP 502 Bad Gateway"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("server=nginx/1.22.1"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("profile="), std::string::npos) << "no TLS matrix for http://\n" << r.out;
}

TEST_F(NginxHttpTest, CliHttpsJsonHasAnHttpObjectPerVariant) {
  CliRun r = RunCli("probe --json " + Url("https", h2_, "/"));
  EXPECT_NE(r.exit_code, 2) << r.out;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["url"], "https://front.test:" + std::to_string(h2_) + "/");
  ASSERT_EQ(j["variants"].size(), 4u);  // SNI and no SNI, two profiles
  int requests = 0;
  for (const auto& v : j["variants"]) {
    const auto& h = v["http"];
    ASSERT_TRUE(h.is_object()) << v.dump();
    for (const char* key : {"outcome", "status", "reason", "server", "via", "x_cache", "location", "ttfb_ms",
                            "total_ms", "body_bytes", "second_connection", "error"}) {
      EXPECT_TRUE(h.contains(key)) << key << " in " << h.dump();
    }
    if (v["outcome"] != "ok") {
      EXPECT_EQ(h["outcome"], "not_run") << v.dump();  // legacy-rsa cannot talk to an ECDSA-only nginx
      continue;
    }
    ++requests;
    EXPECT_EQ(h["outcome"], "ok") << h.dump();
    EXPECT_EQ(h["status"], 200);
    EXPECT_EQ(h["second_connection"], true);
    EXPECT_GE(h["ttfb_ms"].get<int>(), 0);
  }
  EXPECT_EQ(requests, 2);
}

TEST_F(NginxHttpTest, CliMethodAndHostFlags) {
  CliRun r = RunCli("probe --json --method HEAD --host other.test http://127.0.0.1:" + std::to_string(plain_) + "/host");
  EXPECT_NE(r.exit_code, 2) << r.out;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  ASSERT_EQ(j["variants"].size(), 1u);
  const auto& h = j["variants"][0]["http"];
  EXPECT_EQ(h["method"], "HEAD");
  EXPECT_EQ(h["x_cache"], "host=other.test");
  EXPECT_EQ(h["body_bytes"], 0);
  CliRun text = RunCli("probe " + Url("https", tls_, "/moved"));
  EXPECT_NE(text.out.find("HTTP 301 Moved Permanently"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("location=https://front.test/new"), std::string::npos) << text.out;
}

TEST(ProbeHttpUsageTest, BadFlagsAreUsageErrors) {
  EXPECT_EQ(RunCli("probe --method POST http://127.0.0.1:9/").exit_code, 2);
  EXPECT_EQ(RunCli("probe --method HEAD 127.0.0.1:9").exit_code, 2);
  EXPECT_EQ(RunCli("probe --host x.test 127.0.0.1:9").exit_code, 2);
  EXPECT_EQ(RunCli("probe --sni x.test http://127.0.0.1:9/").exit_code, 2);
  CliRun bad = RunCli("probe ftp://127.0.0.1/");
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  CliRun port = RunCli("probe https://127.0.0.1:99999/");
  EXPECT_EQ(port.exit_code, 2) << port.out;
  EXPECT_NE(port.out.find("99999"), std::string::npos) << port.out;
}

}  // namespace
}  // namespace originwatch::testing
