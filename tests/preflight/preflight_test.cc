// Proves that PreflightChecks finds every problem `originwatch run` would stop
// on (CA file, each bad profile, webhook secrets, alert thresholds, database
// path) at once, each at the file:line:column of its key, and that its verdicts
// agree with the engine's and the webhook sender's own checks.
#include "originwatch/preflight.h"

#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "originwatch/engine.h"
#include "originwatch/webhook.h"
#include "support/pki.h"

namespace originwatch::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kUnset[] = "OW_PREFLIGHT_TEST_UNSET";
constexpr char kEmpty[] = "OW_PREFLIGHT_TEST_EMPTY";
constexpr char kSet[] = "OW_PREFLIGHT_TEST_SET";

class PreflightTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ow-preflight-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(dir_);
    ASSERT_TRUE(Pki::Create().WriteRootPem((dir_ / "ca.pem").string()));
    ::unsetenv(kUnset);
    ::setenv(kEmpty, "", 1);
    ::setenv(kSet, "s3cret", 1);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void WriteFile(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }

  // Parses text as dir/conf.toml; the test fails when it does not parse.
  AgentConfig Parse(const std::string& text) {
    WriteFile("conf.toml", text);
    LoadResult r = LoadConfigFile((dir_ / "conf.toml").string());
    for (const ConfigError& e : r.errors) ADD_FAILURE() << e.ToString();
    return r.config.value_or(AgentConfig{});
  }

  // PreflightChecks' messages with the directory left out of paths.
  std::vector<std::string> Problems(const AgentConfig& c) {
    std::vector<std::string> out;
    for (const ConfigError& e : PreflightChecks(c)) {
      std::string s = e.ToString();
      for (size_t at; (at = s.find(dir_.string() + "/")) != std::string::npos;) {
        s.erase(at, dir_.string().size() + 1);
      }
      out.push_back(s);
    }
    return out;
  }

  fs::path dir_;
  static inline int counter_ = 0;
};

constexpr char kOrigin[] = "[[origin]]\nname = \"a\"\nhost = \"a.example\"\n";

TEST_F(PreflightTest, ConfigRunWouldAcceptHasNoProblem) {
  WriteFile("hook.secret", "abc\n");
  AgentConfig c = Parse(std::string("[agent]\nca_file = \"ca.pem\"\ndatabase = \"ow.db\"\n"
                                    "[profiles.strict]\nmin_version = \"TLSv1.3\"\n"
                                    "groups = \"X25519:P-256\"\nalpn = [\"h2\"]\n"
                                    "[alerts]\nexpiry_warning_days = 30\n") +
                        kOrigin +
                        "[[webhook]]\nname = \"ops\"\nurl = \"https://h.example/x\"\n"
                        "secret_env = \"OW_PREFLIGHT_TEST_SET\"\n"
                        "[[webhook]]\nname = \"chat\"\nurl = \"https://h.example/y\"\n"
                        "secret_file = \"hook.secret\"\n");
  EXPECT_EQ(Problems(c), std::vector<std::string>{});
}

TEST_F(PreflightTest, MissingCaBadCipherAndUnsetSecretAreAllReportedInFileOrder) {
  AgentConfig c = Parse(std::string("[agent]\nca_file = \"missing-ca.pem\"\n\n"
                                    "[profiles.bad]\nciphers = \"NOT-A-CIPHER\"\n\n") +
                        kOrigin +
                        "\n[[webhook]]\nname = \"ops\"\nurl = \"https://h.example/x\"\n"
                        "secret_env = \"OW_PREFLIGHT_TEST_UNSET\"\n");
  std::vector<std::string> p = Problems(c);
  ASSERT_EQ(p.size(), 3u) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0], "conf.toml:2:1: ca_file \"missing-ca.pem\": cannot read the CA bundle: No such file or directory");
  EXPECT_TRUE(p[1].starts_with(
      "conf.toml:5:1: profile \"bad\": OpenSSL rejects ciphers \"NOT-A-CIPHER\": "))
      << p[1];
  EXPECT_NE(p[1].find("no cipher match"), std::string::npos) << p[1];
  EXPECT_EQ(p[2],
            "conf.toml:14:1: webhook \"ops\": environment variable OW_PREFLIGHT_TEST_UNSET "
            "(secret_env) is not set in this environment");
}

TEST_F(PreflightTest, EveryBadProfileIsNamedAtTheKeyOpenSslRejects) {
  AgentConfig c =
      Parse(std::string("[agent]\nca_file = \"ca.pem\"\n"
                        "[profiles.one]\ndescription = \"x\"\n"
                        "  ciphers = \"NOT-A-CIPHER\"\n"
                        "[profiles.two]\ngroups = \"P-256:NOT-A-GROUP\"\n"
                        "[profiles.fine]\nciphers = \"ECDHE-RSA-AES128-GCM-SHA256\"\n") +
            kOrigin);
  std::vector<std::string> p = Problems(c);
  ASSERT_EQ(p.size(), 2u) << ::testing::PrintToString(p);
  EXPECT_TRUE(p[0].starts_with("conf.toml:5:3: profile \"one\": OpenSSL rejects ciphers")) << p[0];
  EXPECT_TRUE(p[1].starts_with(
      "conf.toml:7:1: profile \"two\": OpenSSL rejects groups \"P-256:NOT-A-GROUP\""))
      << p[1];
}

TEST_F(PreflightTest, ProfileVerdictsAgreeWithTheEngine) {
  AgentConfig c = Parse(std::string("[agent]\nca_file = \"ca.pem\"\n"
                                    "[profiles.a]\nciphers = \"NOT-A-CIPHER\"\n"
                                    "[profiles.b]\ngroups = \"NOPE\"\n"
                                    "[profiles.c]\nciphersuites = \"TLS_AES_128_GCM_SHA256\"\n"
                                    "[profiles.d]\nmax_version = \"TLSv1.2\"\nciphers = \"aNULL\"\n"
                                    "[profiles.e]\nciphers = \"RC4-MD5:AES128-SHA\"\n") +
                        kOrigin);
  const std::vector<ConfigError> all = PreflightChecks(c);
  for (const ClientProfile& p : c.profiles) {
    AgentConfig one = c;
    one.profiles = {p};
    EngineOptions o;
    o.profiles = {p};
    o.ca_file = c.ca_file;
    const bool engine_ok = Engine::CheckOptions(o).ok();
    EXPECT_EQ(PreflightChecks(one).empty(), engine_ok) << "profile " << p.name;
  }
  EXPECT_FALSE(all.empty());
}

TEST_F(PreflightTest, CaFileMustLoadAndHoldACertificate) {
  WriteFile("garbage.pem", "not a certificate\n");
  fs::create_directories(dir_ / "certs");
  for (const auto& [ca, expected] : std::vector<std::pair<std::string, std::string>>{
           {"certs", "conf.toml:2:1: ca_file \"certs\" is not a regular file"},
           {"garbage.pem",
            "conf.toml:2:1: ca_file \"garbage.pem\": no certificate could be loaded"},
       }) {
    AgentConfig c = Parse("[agent]\nca_file = \"" + ca + "\"\n" + kOrigin);
    std::vector<std::string> p = Problems(c);
    ASSERT_EQ(p.size(), 1u) << ::testing::PrintToString(p);
    EXPECT_TRUE(p[0].starts_with(expected)) << p[0];
  }
}

TEST_F(PreflightTest, DefaultCaFileIsNamedAsTheDefaultWithoutPosition) {
  AgentConfig c = Parse(kOrigin);
  c.ca_file = (dir_ / "no-bundle.crt").string();  // as if the system had no bundle
  std::vector<std::string> p = Problems(c);
  ASSERT_EQ(p.size(), 1u) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0], "conf.toml: ca_file (default \"no-bundle.crt\"): cannot read the CA bundle: No such file or directory");
}

TEST_F(PreflightTest, WebhookSecretsFollowTheSendersRule) {
  WriteFile("blank.secret", "\n\r\n");
  WriteFile("good.secret", "k\n");
  AgentConfig c = Parse(std::string("[agent]\nca_file = \"ca.pem\"\n") + kOrigin +
                        "[[webhook]]\nname = \"unset\"\nurl = \"https://h.example/1\"\n"
                        "secret_env = \"OW_PREFLIGHT_TEST_UNSET\"\n"
                        "[[webhook]]\nname = \"empty\"\nurl = \"https://h.example/2\"\n"
                        "secret_env = \"OW_PREFLIGHT_TEST_EMPTY\"\n"
                        "[[webhook]]\nname = \"set\"\nurl = \"https://h.example/3\"\n"
                        "secret_env = \"OW_PREFLIGHT_TEST_SET\"\n"
                        "[[webhook]]\nname = \"nofile\"\nurl = \"https://h.example/4\"\n"
                        "secret_file = \"missing.secret\"\n"
                        "[[webhook]]\nname = \"blank\"\nurl = \"https://h.example/5\"\n"
                        "secret_file = \"blank.secret\"\n"
                        "[[webhook]]\nname = \"file\"\nurl = \"https://h.example/6\"\n"
                        "secret_file = \"good.secret\"\n"
                        "[[webhook]]\nname = \"none\"\nurl = \"https://h.example/7\"\n");
  EXPECT_EQ(Problems(c),
            (std::vector<std::string>{
                "conf.toml:9:1: webhook \"unset\": environment variable OW_PREFLIGHT_TEST_UNSET "
                "(secret_env) is not set in this environment",
                "conf.toml:13:1: webhook \"empty\": environment variable OW_PREFLIGHT_TEST_EMPTY "
                "(secret_env) is empty",
                "conf.toml:21:1: webhook \"nofile\": cannot read secret_file \"missing.secret\": "
                "No such file or directory",
                "conf.toml:25:1: webhook \"blank\": secret_file \"blank.secret\" is empty"}));
  // The sender reads the same secrets: it must fail exactly where preflight does.
  for (const WebhookConfig& w : c.webhooks) {
    AgentConfig one = c;
    one.webhooks = {w};
    EXPECT_EQ(PreflightChecks(one).empty(), ReadWebhookSecret(w).ok()) << "webhook " << w.name;
  }
}

TEST_F(PreflightTest, ThresholdsAreCheckedGlobalOverDefaultsAndOriginOverGlobal) {
  // [alerts] alone is inconsistent with the built-in critical days (7); origin
  // "a" repairs it for itself, "b" inherits it (reported once, at [alerts]).
  AgentConfig c = Parse(
      "[agent]\nca_file = \"ca.pem\"\n"
      "[alerts]\nexpiry_warning_days = 5\n"
      "[[origin]]\nname = \"a\"\nhost = \"a.example\"\n"
      "[origin.alerts]\nexpiry_critical_days = 2\n"
      "[[origin]]\nname = \"b\"\nhost = \"b.example\"\n"
      "[origin.alerts]\nfail_after = 3\n");
  EXPECT_EQ(Problems(c), (std::vector<std::string>{
                             "conf.toml:3:1: [alerts]: expiry_warning_days must be at least "
                             "expiry_critical_days (7)"}));

  // Each table is consistent on its own; together they are not.
  c = Parse(
      "[agent]\nca_file = \"ca.pem\"\n"
      "[alerts]\nexpiry_critical_days = 10\n"
      "[[origin]]\nname = \"c\"\nhost = \"c.example\"\n"
      "[origin.alerts]\nexpiry_warning_days = 8\n"
      "[[origin]]\nname = \"d\"\nhost = \"d.example\"\n"
      "[origin.alerts]\nlifetime_critical_fraction = 0.5\n");
  EXPECT_EQ(Problems(c),
            (std::vector<std::string>{
                "conf.toml:8:1: origin \"c\" [alerts] (over [alerts]): expiry_warning_days must "
                "be at least expiry_critical_days (10)",
                "conf.toml:13:1: origin \"d\" [alerts] (over [alerts]): lifetime_warning_fraction "
                "must be at least lifetime_critical_fraction and below 1"}));
}

TEST_F(PreflightTest, DatabaseDirectoryMustExist) {
  AgentConfig c = Parse(std::string("[agent]\nca_file = \"ca.pem\"\n"
                                    "database = \"nodir/ow.db\"\n") +
                        kOrigin);
  std::vector<std::string> p = Problems(c);
  ASSERT_EQ(p.size(), 1u) << ::testing::PrintToString(p);
  EXPECT_TRUE(
      p[0].starts_with("conf.toml:3:1: database \"nodir/ow.db\": directory \"nodir\" "
                       "does not exist"))
      << p[0];
}

}  // namespace
}  // namespace originwatch::testing
