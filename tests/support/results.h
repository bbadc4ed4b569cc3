// Hand-made ProbeSpec, ProbeResult and CertInfo values for tests of the code that
// reads probe results (diagnose, alert rules and lifecycle, store).
//
// Header-only, pure values: no OpenSSL, no I/O, no clock. Every time is a
// parameter (`now_s`, `started_at_ms`, `not_after_s`), so a test states the
// moment it is about. The certificates are facts as src/tls would copy them out
// of OpenSSL, not real certificates: their fingerprints are fakes
// (FakeSha256, UniformSha256) and their DER bytes a placeholder unique per
// fingerprint. Fields a helper leaves at the ProbeResult default (error_text,
// names, verify_error, ...) are for the call site to set when a test needs them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "originwatch/probe.h"

namespace originwatch::testing {

inline constexpr int64_t kTestDayS = 86'400;
// Subject of TestIntermediate(), the issuer of every TestLeaf().
inline constexpr char kTestIntermediateSubject[] = "CN=Test Intermediate CA,O=Test";
inline constexpr char kTestRootSubject[] = "CN=Test Root CA,O=Test";

// A 64-character stand-in for a sha256 fingerprint: `seed` padded with '0'
// ("good" -> "good0000...") and cut at 64 characters.
inline std::string FakeSha256(std::string_view seed) {
  std::string out(seed.substr(0, 64));
  out.resize(64, '0');
  return out;
}

// A 64-character fingerprint of one repeated hex digit ('c' -> "cccc...").
inline std::string UniformSha256(char digit) { return std::string(64, digit); }

namespace results_internal {
// Placeholder DER bytes: a SEQUENCE header and the fingerprint, so that two
// certificates with different fingerprints never share their DER.
inline std::string FakeDer(const std::string& sha256_hex) {
  return std::string("\x30\x82\x01\x00", 4) + sha256_hex;
}
}  // namespace results_internal

// The intermediate CA (RSA 2048) that issues every TestLeaf, valid from a year
// before `now_s` to a year after it. Its fingerprint is FakeSha256("inter").
inline CertInfo TestIntermediate(int64_t now_s) {
  CertInfo c;
  c.subject = kTestIntermediateSubject;
  c.issuer = kTestRootSubject;
  c.common_name = "Test Intermediate CA";
  c.not_before = now_s - 365 * kTestDayS;
  c.not_after = now_s + 365 * kTestDayS;
  c.key_type = KeyType::kRsa;
  c.key_bits = 2048;
  c.signature_algorithm = "sha256WithRSAEncryption";
  c.is_ca = true;
  c.sha256_hex = FakeSha256("inter");
  c.der = results_internal::FakeDer(c.sha256_hex);
  return c;
}

// The self-issued root CA above TestIntermediate, same validity. Its
// fingerprint is FakeSha256("root").
inline CertInfo TestRoot(int64_t now_s) {
  CertInfo c = TestIntermediate(now_s);
  c.subject = kTestRootSubject;
  c.common_name = "Test Root CA";
  c.self_issued = true;
  c.sha256_hex = FakeSha256("root");
  c.der = results_internal::FakeDer(c.sha256_hex);
  return c;
}

// A 90-day leaf certificate for `cn` with the SAN dNSNames `names`, issued by
// TestIntermediate and expiring at `not_after_s`. `key` is kEc (P-256) or kRsa
// (2048 bits). `sha256_hex` is its fingerprint; empty picks
// FakeSha256(cn + "ec") or FakeSha256(cn + "rsa"), so leaves differing in name
// or key type differ in fingerprint.
inline CertInfo TestLeafExpiringAt(std::string cn, std::vector<std::string> names,
                                   int64_t not_after_s, KeyType key = KeyType::kEc,
                                   std::string sha256_hex = {}) {
  const bool ec = key == KeyType::kEc;
  CertInfo c;
  c.subject = "CN=" + cn;
  c.issuer = kTestIntermediateSubject;
  c.serial_hex = "01";
  c.dns_names = std::move(names);
  c.not_before = not_after_s - 90 * kTestDayS;
  c.not_after = not_after_s;
  c.key_type = key;
  c.key_bits = ec ? 256 : 2048;
  c.key_curve = ec ? "prime256v1" : "";
  c.signature_algorithm = "sha256WithRSAEncryption";  // signed by the RSA intermediate
  c.sha256_hex = sha256_hex.empty() ? FakeSha256(cn + (ec ? "ec" : "rsa")) : std::move(sha256_hex);
  c.der = results_internal::FakeDer(c.sha256_hex);
  c.common_name = std::move(cn);
  return c;
}

// The same leaf, seen at `now_s` with `days_left` days before it expires
// (60 days left: issued 30 days before now_s).
inline CertInfo TestLeaf(std::string cn, std::vector<std::string> names, int64_t now_s,
                         int64_t days_left, KeyType key = KeyType::kEc,
                         std::string sha256_hex = {}) {
  return TestLeafExpiringAt(std::move(cn), std::move(names), now_s + days_left * kTestDayS, key,
                            std::move(sha256_hex));
}

// A probe of `host` at `address`:443 for `origin`, sending `sni` (nullopt: no
// SNI) with client profile `profile`, expecting the certificate to cover `host`.
inline ProbeSpec TestSpec(std::string origin, std::string host, std::string address,
                          std::optional<std::string> sni, std::string profile = "modern") {
  ProbeSpec s;
  s.origin = std::move(origin);
  s.expect_names = {host};
  s.host = std::move(host);
  s.address = std::move(address);
  s.sni = std::move(sni);
  s.profile = std::move(profile);
  return s;
}

// A successful TLS 1.3 handshake (TLS_AES_128_GCM_SHA256, X25519) started at
// `started_at_ms` that served `chain` (leaf first) and verified it. Connect took
// 1 ms and the handshake 5 ms (6 ms in all). The name check is left unrecorded
// (names empty: readers check the leaf against spec.expect_names themselves);
// WithNamesCovered records one.
inline ProbeResult OkResult(const ProbeSpec& spec, int64_t started_at_ms,
                            std::vector<CertInfo> chain) {
  ProbeResult r;
  r.spec = spec;
  r.started_at_ms = started_at_ms;
  r.connect_ms = 1;
  r.handshake_ms = 5;
  r.total_ms = 6;
  r.outcome = Outcome::kOk;
  r.version = "TLSv1.3";
  r.cipher = "TLS_AES_128_GCM_SHA256";
  r.group = "X25519";
  r.chain = std::move(chain);
  r.chain_verified = true;
  r.verify_code = 0;
  return r;
}

// `r` with the name check src/tls records when the certificate covers every
// name of spec.expect_names: one covered entry per name.
inline ProbeResult WithNamesCovered(ProbeResult r) {
  r.names.clear();
  for (const std::string& n : r.spec.expect_names) r.names.push_back({n, true});
  return r;
}

// A probe started at `started_at_ms` that failed with `outcome` after 2 ms,
// having received TLS alert `alert` (-1: none) and the error text `error_text`.
// connect_ms is -1 for the outcomes that never connect (DNS error, refused,
// connect timeout) and 1 otherwise; no chain, handshake_ms -1.
inline ProbeResult FailedResult(const ProbeSpec& spec, int64_t started_at_ms, Outcome outcome,
                                int alert = -1, std::string error_text = {}) {
  const bool connected = outcome != Outcome::kDnsError && outcome != Outcome::kRefused &&
                         outcome != Outcome::kConnectTimeout;
  ProbeResult r;
  r.spec = spec;
  r.started_at_ms = started_at_ms;
  r.connect_ms = connected ? 1 : -1;
  r.total_ms = 2;
  r.outcome = outcome;
  r.alert = alert;
  r.error_text = std::move(error_text);
  return r;
}

}  // namespace originwatch::testing
