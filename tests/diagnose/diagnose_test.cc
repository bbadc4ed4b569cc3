// Proves that Diagnose() names the cause of each failure pattern an on-call
// person meets (missing SNI, wrong certificate, expiry, chain, cipher and
// version mismatches, network failures) with the evidence and the fix, orders
// the findings by what they explain and reports a working origin as healthy.
#include "originwatch/diagnose.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "support/results.h"

namespace originwatch::testing {
namespace {

constexpr int64_t kNow = 1'700'000'000;  // 2023-11-14 22:13 UTC
constexpr int64_t kDay = 86400;
constexpr char kHost[] = "activity.example.com";
constexpr char kAddr1[] = "127.0.0.1";
constexpr char kAddr2[] = "127.0.0.2";

// Every leaf here is a 90-day certificate issued 30 days before kNow.
CertInfo Leaf(const std::string& cn, std::vector<std::string> dns, KeyType key = KeyType::kEc) {
  return TestLeaf(cn, std::move(dns), kNow, 60, key);
}

CertInfo GoodLeaf(KeyType key = KeyType::kEc) { return Leaf(kHost, {kHost}, key); }

const std::optional<std::string> kSni = std::string(kHost);
const std::optional<std::string> kNoSni = std::nullopt;

// A successful handshake serving `leaf` followed by the intermediate; the
// legacy-rsa profile negotiates TLS 1.2 with a suite matching the leaf's key.
ProbeResult Ok(std::optional<std::string> sni, const std::string& profile = "modern",
               CertInfo leaf = GoodLeaf(), const std::string& addr = kAddr1) {
  const bool ec = leaf.key_type == KeyType::kEc;
  ProbeResult r = OkResult(TestSpec("promo", kHost, addr, std::move(sni), profile), 0,
                           {std::move(leaf), TestIntermediate(kNow)});
  if (profile == "legacy-rsa") {
    r.version = "TLSv1.2";
    r.cipher = ec ? "ECDHE-ECDSA-AES128-GCM-SHA256" : "ECDHE-RSA-AES128-GCM-SHA256";
  }
  return r;
}

ProbeResult Fail(std::optional<std::string> sni, Outcome outcome, int alert = -1,
                 const std::string& profile = "modern", const std::string& addr = kAddr1) {
  return FailedResult(TestSpec("promo", kHost, addr, std::move(sni), profile), 0, outcome, alert);
}

DiagnoseOptions Options() {
  DiagnoseOptions o;
  o.now_s = kNow;
  return o;
}

std::vector<std::string> Codes(const Diagnosis& d) {
  std::vector<std::string> out;
  for (const auto& f : d.findings) out.push_back(f.code);
  return out;
}

const Finding* Find(const Diagnosis& d, std::string_view code) {
  for (const auto& f : d.findings) {
    if (f.code == code) return &f;
  }
  return nullptr;
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

#define EXPECT_HAS(text, part) \
  EXPECT_TRUE(Has(text, part)) << "missing \"" << (part) << "\" in: " << (text)

// --- sni_required: the many faces of a missing SNI ---------------------------

struct SniCase {
  std::string name;
  ProbeResult no_sni;
  std::string evidence;  // must appear in the summary
};

class SniRequiredTest : public ::testing::TestWithParam<SniCase> {};

TEST_P(SniRequiredTest, NoSniFailureWhileSniWorksIsSniRequiredAndNothingElse) {
  const SniCase& c = GetParam();
  const Diagnosis d = Diagnose({Ok(kSni), c.no_sni}, Options());
  ASSERT_EQ(Codes(d), std::vector<std::string>{"sni_required"});
  const Finding& f = d.lead();
  EXPECT_EQ(f.severity, Severity::kCritical);
  EXPECT_EQ(f.variants, std::vector<std::string>{"no-sni profile=modern"});
  EXPECT_HAS(f.summary, "Works with SNI \"activity.example.com\", fails without SNI (");
  EXPECT_HAS(f.summary, c.evidence);
  EXPECT_HAS(f.summary, "clients and proxies that connect by IP or without SNI get no certificate");
  EXPECT_HAS(f.fix, "proxy_ssl_server_name on");
  EXPECT_HAS(f.fix, "sni req.hdr(host)");
  EXPECT_HAS(f.fix, "-servername");
  EXPECT_FALSE(d.healthy());
}

ProbeResult WithText(ProbeResult r, std::string error_text, std::string first_bytes = "") {
  r.error_text = std::move(error_text);
  r.first_bytes = std::move(first_bytes);
  return r;
}

INSTANTIATE_TEST_SUITE_P(
    DiagnoseTest, SniRequiredTest,
    ::testing::Values(
        SniCase{"Alert112", Fail(kNoSni, Outcome::kTlsAlert, 112), "alert 112 unrecognized_name"},
        SniCase{"Alert40", Fail(kNoSni, Outcome::kTlsAlert, 40), "alert 40 handshake_failure"},
        SniCase{"Alert80", Fail(kNoSni, Outcome::kTlsAlert, 80), "alert 80 internal_error"},
        SniCase{"CloseWithoutAlert", Fail(kNoSni, Outcome::kUnexpectedEof),
                "closed the connection without an alert"},
        SniCase{"Reset", Fail(kNoSni, Outcome::kReset), "reset"},
        SniCase{"GarbledRecord", WithText(Fail(kNoSni, Outcome::kNotTls), "", "\x15garbage"),
                "wrong version number"},
        SniCase{"WrongVersionNumber",
                WithText(Fail(kNoSni, Outcome::kTlsError),
                         "error:0A00010B:SSL routines::wrong version number"),
                "wrong version number"}),
    [](const ::testing::TestParamInfo<SniCase>& info) { return info.param.name; });

TEST(DiagnoseTest, NoSniAlert112WhileSniWorksIsSniRequired) {
  const Diagnosis d = Diagnose({Ok(kSni), Fail(kNoSni, Outcome::kTlsAlert, 112)}, Options());
  ASSERT_EQ(d.findings.size(), 1u);
  EXPECT_EQ(d.lead().summary,
            "Works with SNI \"activity.example.com\", fails without SNI (alert 112 "
            "unrecognized_name): clients and proxies that connect by IP or without SNI get no "
            "certificate.");
}

TEST(DiagnoseTest, NoSniFailureOnEveryProfileIsOneSniRequiredWithoutHandshakeFailed) {
  // legacy-rsa fails with SNI for a cipher reason and without SNI for the SNI
  // reason; each variant is explained once.
  const Diagnosis d = Diagnose({Ok(kSni, "modern"), Fail(kNoSni, Outcome::kTlsAlert, 112, "modern"),
                                Fail(kSni, Outcome::kTlsAlert, 40, "legacy-rsa"),
                                Fail(kNoSni, Outcome::kTlsAlert, 112, "legacy-rsa")},
                               Options());
  EXPECT_EQ(Codes(d), (std::vector<std::string>{"sni_required", "no_shared_cipher"}));
  EXPECT_EQ(d.lead().variants,
            (std::vector<std::string>{"no-sni profile=modern", "no-sni profile=legacy-rsa"}));
  EXPECT_EQ(Find(d, finding::kHandshakeFailed), nullptr);
}

TEST(DiagnoseTest, NoSniFailureWhenSniAlsoFailsIsNotBlamedOnSni) {
  const Diagnosis d = Diagnose(
      {Fail(kSni, Outcome::kTlsAlert, 40), Fail(kNoSni, Outcome::kTlsAlert, 40)}, Options());
  EXPECT_EQ(Codes(d), std::vector<std::string>{"handshake_failed"});
  EXPECT_HAS(d.lead().summary,
             "Every variant fails the TLS handshake (alert 40 handshake_failure)");
}

// --- certificates -----------------------------------------------------------

TEST(DiagnoseTest, NoSniServesDefaultCertificateIsWrongCertWithoutSni) {
  CertInfo fallback = Leaf("default.invalid", {"default.invalid", "www.default.invalid"});
  fallback.self_issued = true;  // typical snakeoil default; explained, not reported again
  const Diagnosis d = Diagnose({Ok(kSni), Ok(kNoSni, "modern", fallback)}, Options());
  ASSERT_EQ(Codes(d), std::vector<std::string>{"wrong_cert_without_sni"});
  const Finding& f = d.lead();
  EXPECT_EQ(f.severity, Severity::kWarning);
  EXPECT_EQ(f.variants, std::vector<std::string>{"no-sni profile=modern"});
  EXPECT_HAS(f.summary, "CN default.invalid; names: default.invalid, www.default.invalid");
  EXPECT_HAS(f.summary, "does not cover activity.example.com");
  EXPECT_HAS(f.fix, "default_server");
  EXPECT_FALSE(d.healthy());
}

TEST(DiagnoseTest, NoSniServesOtherCertificateThatStillCoversTheNameIsHealthy) {
  const CertInfo other_key = Leaf(kHost, {kHost}, KeyType::kRsa);
  const Diagnosis d = Diagnose({Ok(kSni), Ok(kNoSni, "modern", other_key)}, Options());
  EXPECT_EQ(Codes(d), std::vector<std::string>{"healthy"});
}

TEST(DiagnoseTest, CertificateForAnotherNameIsNameMismatchListingItsNames) {
  const Diagnosis d =
      Diagnose({Ok(kSni, "modern", Leaf("shop.example.net", {"shop.example.net", "example.net"}))},
               Options());
  ASSERT_EQ(Codes(d), std::vector<std::string>{"name_mismatch"});
  EXPECT_EQ(d.lead().severity, Severity::kCritical);
  EXPECT_HAS(d.lead().summary, "for SNI \"activity.example.com\"");
  EXPECT_HAS(d.lead().summary, "names: shop.example.net, example.net");
  EXPECT_HAS(d.lead().summary, "does not cover activity.example.com");
  EXPECT_HAS(d.lead().fix, "subjectAltName includes activity.example.com");
}

TEST(DiagnoseTest, EngineNameCheckIsTrustedOverOurOwnMatching) {
  ProbeResult r = Ok(kSni);
  r.names = {{kHost, false}};
  EXPECT_EQ(Codes(Diagnose({r}, Options())), std::vector<std::string>{"name_mismatch"});
}

TEST(DiagnoseTest, WildcardCertificateCoversOneLabelOnly) {
  EXPECT_EQ(
      Codes(Diagnose({Ok(kSni, "modern", Leaf("*.example.com", {"*.example.com"}))}, Options())),
      std::vector<std::string>{"healthy"});
  ProbeResult deep = Ok(kSni, "modern", Leaf("*.com", {"*.com", "*.other.example.com"}));
  EXPECT_EQ(Codes(Diagnose({deep}, Options())), std::vector<std::string>{"name_mismatch"});
}

struct ValidityCase {
  std::string name;
  int64_t not_before_offset;  // relative to now
  int64_t not_after_offset;
  std::string code;
  Severity severity;
  std::string evidence;
};

class ValidityTest : public ::testing::TestWithParam<ValidityCase> {};

TEST_P(ValidityTest, LeafDatesAreJudgedAgainstNowWithDateAndDayCount) {
  const ValidityCase& c = GetParam();
  CertInfo leaf = GoodLeaf();
  leaf.not_before = kNow + c.not_before_offset;
  leaf.not_after = kNow + c.not_after_offset;
  const Diagnosis d = Diagnose({Ok(kSni, "modern", leaf)}, Options());
  ASSERT_EQ(Codes(d), std::vector<std::string>{c.code});
  EXPECT_EQ(d.lead().severity, c.severity);
  EXPECT_HAS(d.lead().summary, c.evidence);
  EXPECT_HAS(d.lead().summary, "CN activity.example.com");
  EXPECT_FALSE(d.lead().fix.empty());
}

INSTANTIATE_TEST_SUITE_P(
    DiagnoseTest, ValidityTest,
    ::testing::Values(ValidityCase{"Expired12DaysAgo", -400 * kDay, -12 * kDay, "cert_expired",
                                   Severity::kCritical,
                                   "expired on 2023-11-02 22:13 UTC, 12 days ago"},
                      ValidityCase{"NotValidFor3Days", 3 * kDay, 90 * kDay, "cert_not_yet_valid",
                                   Severity::kCritical,
                                   "is not valid before 2023-11-17 22:13 UTC, 3 days from now"},
                      ValidityCase{"ExpiresIn10Days", -80 * kDay, 10 * kDay, "cert_expiring_soon",
                                   Severity::kWarning,
                                   "expires on 2023-11-24 22:13 UTC, in 10 days"}),
    [](const ::testing::TestParamInfo<ValidityCase>& info) { return info.param.name; });

TEST(DiagnoseTest, ExpiredIntermediateIsReportedEvenWhenOpenSslReportedAnotherError) {
  ProbeResult r = Ok(kSni);
  r.chain[1].not_after = kNow - 2 * kDay;
  r.verify_code = 20;  // OpenSSL reports only its first error
  r.verify_depth = 1;
  const Diagnosis d = Diagnose({r}, Options());
  const Finding* f = Find(d, finding::kCertExpired);
  ASSERT_NE(f, nullptr);
  EXPECT_HAS(f->summary, "intermediate certificate \"CN=Test Intermediate CA,O=Test\" (depth 1)");
  EXPECT_HAS(f->summary, "2 days ago");
  EXPECT_NE(Find(d, finding::kChainUntrusted), nullptr);  // depth 1: not chain_incomplete
}

TEST(DiagnoseTest, ExpiringSoonAloneIsAWarningWithoutHealthy) {
  CertInfo leaf = GoodLeaf();
  leaf.not_after = kNow + 5 * kDay;
  const Diagnosis d = Diagnose({Ok(kSni), Ok(kSni, "modern", leaf, kAddr2)}, Options());
  EXPECT_EQ(Codes(d), std::vector<std::string>{"cert_expiring_soon"});
  EXPECT_EQ(d.lead().variants,
            std::vector<std::string>{"127.0.0.2 sni=activity.example.com profile=modern"});
  EXPECT_FALSE(d.healthy());
}

TEST(DiagnoseTest, SelfSignedLeafIsSelfSignedNotChainUntrusted) {
  ProbeResult r = Ok(kSni);
  r.chain = {GoodLeaf()};
  r.chain[0].issuer = r.chain[0].subject;
  r.chain[0].self_issued = true;
  r.verify_code = 18;  // DEPTH_ZERO_SELF_SIGNED_CERT
  r.verify_depth = 0;
  r.chain_verified = false;
  const Diagnosis d = Diagnose({r}, Options());
  ASSERT_EQ(Codes(d), std::vector<std::string>{"self_signed"});
  EXPECT_HAS(d.lead().summary, "self-signed certificate (CN activity.example.com");
  EXPECT_HAS(d.lead().fix, "--ca");
}

TEST(DiagnoseTest, SelfSignedLeafInTheTrustStoreIsHealthy) {
  ProbeResult r = Ok(kSni);
  r.chain = {GoodLeaf()};
  r.chain[0].issuer = r.chain[0].subject;
  r.chain[0].self_issued = true;
  r.verify_code = 0;
  r.chain_verified = true;
  const Diagnosis d = Diagnose({r}, Options());
  EXPECT_EQ(Codes(d), std::vector<std::string>{"healthy"});
}

TEST(DiagnoseTest, LeafOnlyChainWithIssuerErrorIsChainIncomplete) {
  for (int code : {20, 21, 2}) {
    SCOPED_TRACE(code);
    ProbeResult r = Ok(kSni);
    r.chain = {GoodLeaf()};
    r.verify_code = code;
    r.verify_error = "unable to get local issuer certificate";
    r.verify_depth = 0;
    const Diagnosis d = Diagnose({r}, Options());
    ASSERT_EQ(Codes(d), std::vector<std::string>{"chain_incomplete"});
    EXPECT_HAS(d.lead().summary,
               "The server sends only its leaf certificate; the intermediate \"CN=Test "
               "Intermediate CA,O=Test\" is missing: browsers may fill it in, but curl, Java, Go "
               "and most proxies fail");
    EXPECT_HAS(d.lead().fix, "fullchain");
  }
}

struct UntrustedCase {
  std::string name;
  int code;
  int depth;
  bool send_root;
};

class ChainUntrustedTest : public ::testing::TestWithParam<UntrustedCase> {};

TEST_P(ChainUntrustedTest, ChainNotLeadingToTrustedRootIsChainUntrustedWithCaHint) {
  const UntrustedCase& c = GetParam();
  ProbeResult r = Ok(kSni);
  if (c.send_root) r.chain.push_back(TestRoot(kNow));
  r.verify_code = c.code;
  r.verify_error = "verify failed";
  r.verify_depth = c.depth;
  const Diagnosis d = Diagnose({r}, Options());
  ASSERT_EQ(Codes(d), std::vector<std::string>{"chain_untrusted"});
  EXPECT_HAS(d.lead().summary, "does not lead to a trusted root");
  EXPECT_HAS(d.lead().summary, "code " + std::to_string(c.code));
  EXPECT_HAS(d.lead().fix, "--ca");
}

INSTANTIATE_TEST_SUITE_P(
    DiagnoseTest, ChainUntrustedTest,
    ::testing::Values(UntrustedCase{"PrivateRootInChain19", 19, 2, true},
                      UntrustedCase{"IssuerOfIntermediateUnknown20", 20, 1, false},
                      UntrustedCase{"IssuerServedButNotTrusted20", 20, 0, false}),
    [](const ::testing::TestParamInfo<UntrustedCase>& info) { return info.param.name; });

// --- profiles: cipher and version mismatches --------------------------------

TEST(DiagnoseTest, EcdsaOnlyOriginFailsRsaOnlyProfileIsNoSharedCipher) {
  const Diagnosis d =
      Diagnose({Ok(kSni, "modern"), Fail(kSni, Outcome::kTlsAlert, 40, "legacy-rsa")}, Options());
  ASSERT_EQ(Codes(d), std::vector<std::string>{"no_shared_cipher"});
  const Finding& f = d.lead();
  EXPECT_EQ(f.variants, std::vector<std::string>{"sni=activity.example.com profile=legacy-rsa"});
  EXPECT_HAS(f.summary, "Profile legacy-rsa (an older proxy or fetcher");
  EXPECT_HAS(f.summary,
             "fails (alert 40 handshake_failure): the origin serves only an ECDSA "
             "certificate and the profile offers only RSA-authenticated suites");
  EXPECT_HAS(f.summary, "profile modern works (TLSv1.3");
  EXPECT_HAS(f.fix, "RSA certificate alongside the ECDSA one");
  EXPECT_HAS(f.fix, "ECDHE-ECDSA suites in the client");
}

TEST(DiagnoseTest, RsaOriginFailingEcdsaOnlyClientProfileIsNoSharedCipher) {
  DiagnoseOptions o = Options();
  ClientProfile ecdsa_only;
  ecdsa_only.name = "ecdsa-only";
  ecdsa_only.min_version = "TLSv1.2";
  ecdsa_only.max_version = "TLSv1.2";
  ecdsa_only.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:!aRSA";
  o.profiles.push_back(ecdsa_only);
  const Diagnosis d = Diagnose({Ok(kSni, "modern", GoodLeaf(KeyType::kRsa)),
                                Fail(kSni, Outcome::kNoSharedCipher, -1, "ecdsa-only")},
                               o);
  ASSERT_EQ(Codes(d), std::vector<std::string>{"no_shared_cipher"});
  EXPECT_HAS(d.lead().summary,
             "only an RSA certificate and the profile offers only "
             "ECDSA-authenticated suites");
}

TEST(DiagnoseTest, Alert40OnLegacyProfileAgainstRsaOriginIsNotBlamedOnKeyType) {
  // An RSA certificate suits legacy-rsa, so alert 40 has another cause.
  const Diagnosis d = Diagnose({Ok(kSni, "modern", GoodLeaf(KeyType::kRsa)),
                                Fail(kSni, Outcome::kTlsAlert, 40, "legacy-rsa")},
                               Options());
  ASSERT_EQ(Codes(d), std::vector<std::string>{"handshake_failed"});
  EXPECT_HAS(d.lead().summary,
             "for sni=activity.example.com profile=legacy-rsa, while "
             "sni=activity.example.com profile=modern works");
}

TEST(DiagnoseTest, Tls13OnlyOriginFailingTls12ProfileIsProtocolMismatch) {
  for (const ProbeResult& failing : {Fail(kSni, Outcome::kProtocolMismatch, -1, "legacy-rsa"),
                                     Fail(kSni, Outcome::kTlsAlert, 70, "legacy-rsa")}) {
    const Diagnosis d = Diagnose({Ok(kSni, "modern"), failing}, Options());
    ASSERT_EQ(Codes(d), std::vector<std::string>{"protocol_mismatch"});
    const Finding& f = d.lead();
    EXPECT_EQ(f.severity, Severity::kCritical);
    EXPECT_HAS(f.summary, "Profile legacy-rsa");
    EXPECT_HAS(f.summary, "it allows only TLSv1.2");
    EXPECT_HAS(f.summary, "profile modern works and negotiated TLSv1.3");
    EXPECT_HAS(f.summary, "the origin accepts only TLSv1.3");
    EXPECT_HAS(f.fix, "ssl_protocols TLSv1.2 TLSv1.3");
  }
}

TEST(DiagnoseTest, NoVersionInCommonOnAnyVariantIsProtocolMismatch) {
  const Diagnosis d = Diagnose({Fail(kSni, Outcome::kTlsAlert, 70, "modern"),
                                Fail(kSni, Outcome::kTlsAlert, 70, "legacy-rsa")},
                               Options());
  ASSERT_EQ(Codes(d), std::vector<std::string>{"protocol_mismatch"});
  EXPECT_HAS(d.lead().summary, "No variant shares a TLS version with the origin");
}

// --- transport and generic failures ------------------------------------------

struct GenericCase {
  std::string name;
  ProbeResult failing;
  std::string code;
  std::string evidence;
};

class GenericFailureTest : public ::testing::TestWithParam<GenericCase> {};

TEST_P(GenericFailureTest, EveryVariantFailingTheSameWayIsOneCriticalFinding) {
  const GenericCase& c = GetParam();
  ProbeResult no_sni = c.failing;
  no_sni.spec.sni.reset();
  const Diagnosis d = Diagnose({c.failing, no_sni}, Options());
  ASSERT_EQ(Codes(d), std::vector<std::string>{c.code});
  EXPECT_EQ(d.lead().severity, Severity::kCritical);
  EXPECT_EQ(d.lead().variants.size(), 2u);
  EXPECT_HAS(d.lead().summary, c.evidence);
  EXPECT_FALSE(d.lead().fix.empty());
}

INSTANTIATE_TEST_SUITE_P(
    DiagnoseTest, GenericFailureTest,
    ::testing::Values(
        GenericCase{"Refused", Fail(kSni, Outcome::kRefused), "refused",
                    "Connections to 127.0.0.1:443 are refused"},
        GenericCase{"ConnectTimeout", Fail(kSni, Outcome::kConnectTimeout), "timeout",
                    "TCP connect to 127.0.0.1:443 timed out"},
        GenericCase{"HandshakeTimeout", Fail(kSni, Outcome::kHandshakeTimeout), "timeout",
                    "accepted the TCP connection but never answered the TLS ClientHello"},
        GenericCase{"Reset", Fail(kSni, Outcome::kReset), "reset", "is reset (TCP RST)"},
        GenericCase{
            "DnsError", WithText(Fail(kSni, Outcome::kDnsError), "NXDOMAIN"), "dns_error",
            "\"activity.example.com\" does not resolve (the name did not resolve: NXDOMAIN)"},
        GenericCase{"TooLarge", Fail(kSni, Outcome::kTooLarge), "oversized_handshake",
                    "more than the handshake byte cap"},
        GenericCase{"PlainHttp",
                    WithText(Fail(kSni, Outcome::kNotTls), "", "HTTP/1.1 400 Bad Request"),
                    "not_tls",
                    "plain HTTP, not TLS (it sent \"HTTP/1.1 400 Bad Request\"): the port speaks "
                    "plain HTTP: is this the TLS port, or is TLS terminated elsewhere?"},
        GenericCase{"WrongVersionNumber",
                    WithText(Fail(kSni, Outcome::kTlsError),
                             "error:0A00010B:SSL routines::wrong version number"),
                    "not_tls", "wrong version number"},
        GenericCase{"Alert40Everywhere", Fail(kSni, Outcome::kTlsAlert, 40), "handshake_failed",
                    "Every variant fails the TLS handshake (alert 40 handshake_failure)"}),
    [](const ::testing::TestParamInfo<GenericCase>& info) { return info.param.name; });

TEST(DiagnoseTest, TimeoutSaysWhichPhaseTimedOut) {
  const Diagnosis d = Diagnose({Fail(kSni, Outcome::kConnectTimeout, -1, "modern", kAddr1),
                                Fail(kSni, Outcome::kHandshakeTimeout, -1, "modern", kAddr2)},
                               Options());
  ASSERT_EQ(Codes(d), std::vector<std::string>{"timeout"});
  EXPECT_HAS(d.lead().summary, "TCP connect to 127.0.0.1:443 timed out (no answer to SYN)");
  EXPECT_HAS(d.lead().summary, "The server at 127.0.0.2:443 accepted the TCP connection");
}

TEST(DiagnoseTest, SlowHandshakeIsAWarningWithTheDuration) {
  ProbeResult slow = Ok(kSni);
  slow.handshake_ms = 3500;
  const Diagnosis d = Diagnose({Ok(kNoSni, "modern"), slow}, Options());
  ASSERT_EQ(Codes(d), std::vector<std::string>{"slow_handshake"});
  EXPECT_EQ(d.lead().severity, Severity::kWarning);
  EXPECT_HAS(d.lead().summary, "took 3500 ms");
  EXPECT_HAS(d.lead().summary, "above the 2000 ms threshold");
}

// --- healthy, labels, ordering -----------------------------------------------

TEST(DiagnoseTest, WorkingOriginIsOneHealthyFindingSayingWhatWorks) {
  const Diagnosis d =
      Diagnose({Ok(kSni, "modern", GoodLeaf(), kAddr1), Ok(kNoSni, "modern", GoodLeaf(), kAddr1),
                Ok(kSni, "modern", GoodLeaf(), kAddr2), Ok(kNoSni, "modern", GoodLeaf(), kAddr2)},
               Options());
  ASSERT_EQ(d.findings.size(), 1u);
  EXPECT_TRUE(d.healthy());
  const Finding& f = d.lead();
  EXPECT_EQ(f.code, "healthy");
  EXPECT_EQ(f.severity, Severity::kInfo);
  EXPECT_EQ(f.fix, "");
  EXPECT_EQ(f.variants.size(), 4u);
  EXPECT_EQ(f.summary,
            "All 4 variants complete the TLS handshake on 2 addresses with a verified chain: "
            "TLSv1.3 with TLS_AES_128_GCM_SHA256; certificate activity.example.com (EC 256-bit "
            "prime256v1) expires in 60 days (2024-01-13 22:13 UTC).");
}

TEST(DiagnoseTest, VariantsAreLabelledWithTheirAddressWhenSeveralAddresses) {
  const Diagnosis d =
      Diagnose({Ok(kSni, "modern", GoodLeaf(), kAddr1), Ok(kNoSni, "modern", GoodLeaf(), kAddr1),
                Ok(kSni, "modern", GoodLeaf(), kAddr2),
                Fail(kNoSni, Outcome::kTlsAlert, 112, "modern", kAddr2)},
               Options());
  ASSERT_EQ(Codes(d), std::vector<std::string>{"sni_required"});
  EXPECT_EQ(d.lead().variants, std::vector<std::string>{"127.0.0.2 no-sni profile=modern"});
  EXPECT_HAS(d.lead().summary, "on 1 of 2 addresses (127.0.0.2)");
}

TEST(DiagnoseTest, FailureOnOneAddressIsNotExplainedBySuccessOnAnother) {
  const Diagnosis d =
      Diagnose({Ok(kSni, "modern", GoodLeaf(), kAddr1), Ok(kNoSni, "modern", GoodLeaf(), kAddr1),
                Fail(kSni, Outcome::kTlsAlert, 40, "modern", kAddr2),
                Fail(kNoSni, Outcome::kTlsAlert, 40, "modern", kAddr2)},
               Options());
  ASSERT_EQ(Codes(d), std::vector<std::string>{"handshake_failed"});
  EXPECT_EQ(d.lead().variants,
            (std::vector<std::string>{"127.0.0.2 sni=activity.example.com profile=modern",
                                      "127.0.0.2 no-sni profile=modern"}));
}

TEST(DiagnoseTest, RefusedNoSniIsRefusedNotSniRequired) {
  const Diagnosis d = Diagnose({Ok(kSni), Fail(kNoSni, Outcome::kRefused)}, Options());
  EXPECT_EQ(Codes(d), std::vector<std::string>{"refused"});
}

TEST(DiagnoseTest, FindingExplainingMoreVariantsComesFirst) {
  // 2 refused variants on 127.0.0.2 outrank 1 sni_required variant on 127.0.0.1.
  const Diagnosis d = Diagnose({Ok(kSni, "modern", GoodLeaf(), kAddr1),
                                Fail(kNoSni, Outcome::kTlsAlert, 112, "modern", kAddr1),
                                Fail(kSni, Outcome::kRefused, -1, "modern", kAddr2),
                                Fail(kNoSni, Outcome::kRefused, -1, "modern", kAddr2)},
                               Options());
  EXPECT_EQ(Codes(d), (std::vector<std::string>{"refused", "sni_required"}));
}

TEST(DiagnoseTest, CriticalComesBeforeWarningWhateverItExplains) {
  CertInfo leaf = GoodLeaf();
  leaf.not_after = kNow + 3 * kDay;
  ProbeResult no_sni_ok = Ok(kNoSni, "legacy-rsa", leaf);
  const Diagnosis d = Diagnose({Ok(kSni, "modern", leaf), Ok(kSni, "legacy-rsa", leaf), no_sni_ok,
                                Fail(kNoSni, Outcome::kTlsAlert, 112, "modern")},
                               Options());
  EXPECT_EQ(Codes(d), (std::vector<std::string>{"sni_required", "cert_expiring_soon"}));
  EXPECT_EQ(d.findings[1].variants.size(), 3u);
}

TEST(DiagnoseTest, ComparativeFindingComesBeforeGenericOneOfEqualReach) {
  CertInfo expired = GoodLeaf();
  expired.not_after = kNow - kDay;
  const Diagnosis d =
      Diagnose({Ok(kSni, "modern", expired), Fail(kNoSni, Outcome::kTlsAlert, 112)}, Options());
  EXPECT_EQ(Codes(d), (std::vector<std::string>{"sni_required", "cert_expired"}));
}

TEST(DiagnoseTest, EachCodeAppearsOnceListingAllItsVariants) {
  CertInfo expired = GoodLeaf();
  expired.not_after = kNow - kDay;
  const Diagnosis d =
      Diagnose({Ok(kSni, "modern", expired, kAddr1), Ok(kSni, "legacy-rsa", expired, kAddr1),
                Ok(kSni, "modern", expired, kAddr2)},
               Options());
  ASSERT_EQ(Codes(d), std::vector<std::string>{"cert_expired"});
  EXPECT_EQ(d.lead().variants.size(), 3u);
  EXPECT_HAS(d.lead().summary, "on all 2 addresses");
}

TEST(DiagnoseTest, NoResultsIsNeverHealthy) {
  const Diagnosis d = Diagnose({}, Options());
  ASSERT_FALSE(d.findings.empty());
  EXPECT_FALSE(d.healthy());
}

TEST(DiagnoseTest, SeverityNamesAreTheStableSpellings) {
  EXPECT_EQ(SeverityName(Severity::kInfo), "info");
  EXPECT_EQ(SeverityName(Severity::kWarning), "warning");
  EXPECT_EQ(SeverityName(Severity::kCritical), "critical");
}

}  // namespace
}  // namespace originwatch::testing
