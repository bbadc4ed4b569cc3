// Proves every scenario of the catalogue shows a reference OpenSSL client the facts its
// expected finding rests on (with SNI, without SNI, and as an RSA-only TLS 1.2 client).
#include "support/scenarios.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <cerrno>
#include <map>
#include <set>
#include <string>

#include "originwatch/diagnose.h"
#include "support/test_client.h"

namespace originwatch::testing {
namespace {

constexpr char kLegacyRsaCiphers[] =
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:AES128-GCM-SHA256:AES256-GCM-SHA384:"
    "AES128-SHA:AES256-SHA";

class ScenariosTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new Pki(Pki::Create("scenarios test"));
    scenarios_ = new std::vector<Scenario>(BuildScenarios(*pki_));
  }
  static void TearDownTestSuite() {
    delete scenarios_;
    delete pki_;
  }
  ClientOptions Modern(const TlsTestServer& s, const Scenario& sc, bool sni = true) {
    ClientOptions c;
    c.address = s.address();
    c.port = s.port();
    if (sni) c.sni = sc.host;
    c.trust = pki_->root();
    c.timeout_ms = 400;
    return c;
  }
  ClientOptions Legacy(const TlsTestServer& s, const Scenario& sc) {
    ClientOptions c = Modern(s, sc);
    c.max_version = "TLSv1.2";
    c.ciphers = kLegacyRsaCiphers;
    return c;
  }
  std::unique_ptr<TlsTestServer> Start(const std::string& name) {
    const Scenario* sc = FindScenario(*scenarios_, name);
    if (sc == nullptr) return nullptr;
    return StartScenario(*sc);
  }
  const Scenario& Get(const std::string& name) { return *FindScenario(*scenarios_, name); }

  static Pki* pki_;
  static std::vector<Scenario>* scenarios_;
};
Pki* ScenariosTest::pki_ = nullptr;
std::vector<Scenario>* ScenariosTest::scenarios_ = nullptr;

TEST_F(ScenariosTest, CatalogueIsCompleteWithUniqueNamesAndKnownFindings) {
  const std::map<std::string, std::string_view> expected = {
      {"healthy", finding::kHealthy},
      {"healthy-rsa", finding::kHealthy},
      {"sni-required", finding::kSniRequired},
      {"sni-required-alert40", finding::kSniRequired},
      {"sni-required-close", finding::kSniRequired},
      {"wrong-cert-without-sni", finding::kWrongCertWithoutSni},
      {"plain-http", finding::kNotTls},
      {"ecdsa-only-tls12", finding::kNoSharedCipher},
      {"tls13-only", finding::kProtocolMismatch},
      {"expired", finding::kCertExpired},
      {"not-yet-valid", finding::kCertNotYetValid},
      {"self-signed", finding::kSelfSigned},
      {"wrong-host", finding::kNameMismatch},
      {"missing-intermediate", finding::kChainIncomplete},
      {"untrusted-root", finding::kChainUntrusted},
      {"blackhole", finding::kTimeout},
      {"slow", finding::kTimeout},
      {"reset", finding::kReset},
      {"refused", finding::kRefused},
      {"garbage", finding::kNotTls},
      {"endless", finding::kOversizedHandshake},
      {"oversized-chain", finding::kOversizedHandshake},
  };
  std::set<std::string> names;
  for (const auto& s : *scenarios_) {
    EXPECT_TRUE(names.insert(s.name).second) << "duplicate " << s.name;
    EXPECT_EQ(s.host, s.name + ".fleet.test");
    EXPECT_FALSE(s.description.empty()) << s.name;
    auto it = expected.find(s.name);
    ASSERT_NE(it, expected.end()) << "unexpected scenario " << s.name;
    EXPECT_EQ(s.expected_finding, it->second) << s.name;
  }
  EXPECT_EQ(names.size(), expected.size());
}

TEST_F(ScenariosTest, HealthyScenariosWorkForEveryClient) {
  for (const char* name : {"healthy", "healthy-rsa"}) {
    SCOPED_TRACE(name);
    const Scenario& sc = Get(name);
    auto s = Start(name);
    ASSERT_NE(s, nullptr);
    ClientOptions modern = Modern(*s, sc);
    modern.alpn = {"h2", "http/1.1"};
    modern.request_ocsp = true;
    ClientOutcome m = TlsConnect(modern);
    ASSERT_TRUE(m.handshake_ok) << m.error_text;
    EXPECT_EQ(m.verify_result, X509_V_OK);
    EXPECT_EQ(m.alpn, "h2");
    EXPECT_EQ(m.ocsp_der.empty(), sc.name != "healthy");
    EXPECT_TRUE(TlsConnect(Modern(*s, sc, /*sni=*/false)).handshake_ok);
    ClientOutcome l = TlsConnect(Legacy(*s, sc));
    EXPECT_TRUE(l.handshake_ok) << l.error_text;
    EXPECT_EQ(l.verify_result, X509_V_OK);
  }
}

TEST_F(ScenariosTest, SniRequiredScenariosFailOnlyWithoutSni) {
  const std::map<std::string, int> alerts = {
      {"sni-required", 112}, {"sni-required-alert40", 40}, {"sni-required-close", -1}};
  for (const auto& [name, alert] : alerts) {
    SCOPED_TRACE(name);
    const Scenario& sc = Get(name);
    auto s = Start(name);
    ASSERT_NE(s, nullptr);
    ClientOutcome with = TlsConnect(Modern(*s, sc));
    EXPECT_TRUE(with.handshake_ok) << with.error_text;
    EXPECT_EQ(with.verify_result, X509_V_OK);
    EXPECT_TRUE(TlsConnect(Legacy(*s, sc)).handshake_ok);
    ClientOutcome without = TlsConnect(Modern(*s, sc, false));
    EXPECT_FALSE(without.handshake_ok);
    EXPECT_EQ(without.alert_received, alert);
    EXPECT_EQ(without.chain_len, 0);
  }
}

TEST_F(ScenariosTest, WrongCertWithoutSniServesTheDefaultCertificate) {
  const Scenario& sc = Get("wrong-cert-without-sni");
  auto s = Start(sc.name);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(TlsConnect(Modern(*s, sc)).leaf_cn, sc.host);
  ClientOutcome without = TlsConnect(Modern(*s, sc, false));
  EXPECT_TRUE(without.handshake_ok);
  EXPECT_EQ(without.leaf_cn, "default.fleet.test");
}

TEST_F(ScenariosTest, CipherAndVersionScenariosRefuseOnlyTheLegacyRsaClient) {
  for (const auto& [name, alert] :
       std::map<std::string, int>{{"ecdsa-only-tls12", SSL_AD_HANDSHAKE_FAILURE},
                                  {"tls13-only", SSL_AD_PROTOCOL_VERSION}}) {
    SCOPED_TRACE(name);
    const Scenario& sc = Get(name);
    auto s = Start(name);
    ASSERT_NE(s, nullptr);
    ClientOutcome m = TlsConnect(Modern(*s, sc));
    EXPECT_TRUE(m.handshake_ok) << m.error_text;
    EXPECT_EQ(m.verify_result, X509_V_OK);
    ClientOutcome l = TlsConnect(Legacy(*s, sc));
    EXPECT_FALSE(l.handshake_ok);
    EXPECT_EQ(l.alert_received, alert);
  }
}

TEST_F(ScenariosTest, CertificateScenariosHandshakeButFailVerification) {
  const std::map<std::string, long> verify = {
      {"expired", X509_V_ERR_CERT_HAS_EXPIRED},
      {"not-yet-valid", X509_V_ERR_CERT_NOT_YET_VALID},
      {"self-signed", X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT},
      {"wrong-host", X509_V_ERR_HOSTNAME_MISMATCH},
      {"missing-intermediate", X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY},
      {"untrusted-root", X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN},
  };
  for (const auto& [name, code] : verify) {
    SCOPED_TRACE(name);
    const Scenario& sc = Get(name);
    auto s = Start(name);
    ASSERT_NE(s, nullptr);
    for (const ClientOptions& c : {Modern(*s, sc), Legacy(*s, sc)}) {
      ClientOutcome out = TlsConnect(c);
      EXPECT_TRUE(out.handshake_ok) << out.error_text;
      EXPECT_EQ(out.verify_result, code) << X509_verify_cert_error_string(out.verify_result);
    }
  }
}

TEST_F(ScenariosTest, TransportScenariosFailAsScripted) {
  {
    const Scenario& sc = Get("refused");
    auto s = Start(sc.name);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(TlsConnect(Modern(*s, sc)).connect_errno, ECONNREFUSED);
  }
  {
    const Scenario& sc = Get("reset");
    auto s = Start(sc.name);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(TlsConnect(Modern(*s, sc)).sys_errno, ECONNRESET);
  }
  {
    const Scenario& sc = Get("endless");
    auto s = Start(sc.name);
    ASSERT_NE(s, nullptr);
    RawOutcome raw =
        RawExchange(s->address(), s->port(), SampleClientHello(sc.host), 1 << 20, 2000);
    ASSERT_EQ(raw.bytes.size(), 1u << 20);
    EXPECT_EQ(raw.bytes.substr(0, 3), std::string("\x16\x03\x03", 3));
  }
  for (const char* name : {"blackhole", "slow"}) {
    SCOPED_TRACE(name);
    const Scenario& sc = Get(name);
    auto s = Start(name);
    ASSERT_NE(s, nullptr);
    ClientOutcome out = TlsConnect(Modern(*s, sc));  // 400 ms timeout
    EXPECT_EQ(out.connect_errno, 0);
    EXPECT_FALSE(out.handshake_ok);
    EXPECT_EQ(out.sys_errno, EAGAIN) << out.error_text;
  }
  for (const char* name : {"plain-http", "garbage"}) {
    SCOPED_TRACE(name);
    const Scenario& sc = Get(name);
    auto s = Start(name);
    ASSERT_NE(s, nullptr);
    ClientOutcome out = TlsConnect(Modern(*s, sc));
    EXPECT_FALSE(out.handshake_ok);
    EXPECT_EQ(out.ssl_error, SSL_ERROR_SSL) << out.error_text;
  }
}

TEST_F(ScenariosTest, OversizedChainIsOver100KiB) {
  const Scenario& sc = Get("oversized-chain");
  size_t bytes = 0;
  for (const auto& c : sc.options.certs[0].chain) bytes += i2d_X509(c.get(), nullptr);
  EXPECT_GT(bytes, 100u * 1024);
  EXPECT_GE(sc.options.certs[0].chain.size(), 300u);
  auto s = Start(sc.name);
  ASSERT_NE(s, nullptr);
  ClientOutcome out = TlsConnect(Modern(*s, sc));
  EXPECT_FALSE(out.handshake_ok);
  EXPECT_NE(out.error_text.find("excessive message size"), std::string::npos) << out.error_text;
}

}  // namespace
}  // namespace originwatch::testing
