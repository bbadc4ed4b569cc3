// Spellings of the stable codes in probe.h and the built-in client profiles.
#include <array>
#include <utility>

#include "originwatch/probe.h"

namespace originwatch {
namespace {

constexpr std::array<std::pair<Outcome, std::string_view>, 20> kOutcomes = {{
    {Outcome::kOk, "ok"},
    {Outcome::kDnsError, "dns_error"},
    {Outcome::kRefused, "refused"},
    {Outcome::kConnectTimeout, "connect_timeout"},
    {Outcome::kReset, "reset"},
    {Outcome::kHandshakeTimeout, "handshake_timeout"},
    {Outcome::kTlsAlert, "tls_alert"},
    {Outcome::kNotTls, "not_tls"},
    {Outcome::kNoSharedCipher, "no_shared_cipher"},
    {Outcome::kProtocolMismatch, "protocol_mismatch"},
    {Outcome::kUnexpectedEof, "unexpected_eof"},
    {Outcome::kTooLarge, "too_large"},
    {Outcome::kNetworkError, "network_error"},
    {Outcome::kTlsError, "tls_error"},
    {Outcome::kInternal, "internal"},
    {Outcome::kDnsNxdomain, "dns_nxdomain"},
    {Outcome::kDnsServfail, "dns_servfail"},
    {Outcome::kDnsTimeout, "dns_timeout"},
    {Outcome::kDnsNoAddress, "dns_no_address"},
    {Outcome::kDnsRefused, "dns_refused"},
}};

constexpr std::array<std::pair<HttpOutcome, std::string_view>, 7> kHttpOutcomes = {{
    {HttpOutcome::kNotRun, "not_run"},
    {HttpOutcome::kOk, "ok"},
    {HttpOutcome::kTimeout, "timeout"},
    {HttpOutcome::kNotHttp, "not_http"},
    {HttpOutcome::kClosed, "closed"},
    {HttpOutcome::kTooLarge, "too_large"},
    {HttpOutcome::kError, "error"},
}};

}  // namespace

std::string_view HttpOutcomeCode(HttpOutcome o) {
  for (const auto& [k, v] : kHttpOutcomes) {
    if (k == o) return v;
  }
  return "error";
}

std::optional<HttpOutcome> HttpOutcomeFromCode(std::string_view code) {
  for (const auto& [k, v] : kHttpOutcomes) {
    if (v == code) return k;
  }
  return std::nullopt;
}

bool HttpCheck::Expected(int status) const {
  if (expect_status.empty()) return status >= 200 && status <= 399;
  for (const auto& [lo, hi] : expect_status) {
    if (status >= lo && status <= hi) return true;
  }
  return false;
}

std::string_view OutcomeCode(Outcome o) {
  for (const auto& [k, v] : kOutcomes) {
    if (k == o) return v;
  }
  return "internal";
}

std::optional<Outcome> OutcomeFromCode(std::string_view code) {
  for (const auto& [k, v] : kOutcomes) {
    if (v == code) return k;
  }
  return std::nullopt;
}

bool IsDnsOutcome(Outcome o) {
  return o == Outcome::kDnsError || o == Outcome::kDnsNxdomain || o == Outcome::kDnsServfail ||
         o == Outcome::kDnsTimeout || o == Outcome::kDnsNoAddress || o == Outcome::kDnsRefused;
}

std::string_view TlsAlertName(int alert) {
  switch (alert) {
    case 0: return "close_notify";
    case 10: return "unexpected_message";
    case 20: return "bad_record_mac";
    case 21: return "decryption_failed";
    case 22: return "record_overflow";
    case 30: return "decompression_failure";
    case 40: return "handshake_failure";
    case 41: return "no_certificate";
    case 42: return "bad_certificate";
    case 43: return "unsupported_certificate";
    case 44: return "certificate_revoked";
    case 45: return "certificate_expired";
    case 46: return "certificate_unknown";
    case 47: return "illegal_parameter";
    case 48: return "unknown_ca";
    case 49: return "access_denied";
    case 50: return "decode_error";
    case 51: return "decrypt_error";
    case 60: return "export_restriction";
    case 70: return "protocol_version";
    case 71: return "insufficient_security";
    case 80: return "internal_error";
    case 86: return "inappropriate_fallback";
    case 90: return "user_canceled";
    case 100: return "no_renegotiation";
    case 109: return "missing_extension";
    case 110: return "unsupported_extension";
    case 111: return "certificate_unobtainable";
    case 112: return "unrecognized_name";
    case 113: return "bad_certificate_status_response";
    case 114: return "bad_certificate_hash_value";
    case 115: return "unknown_psk_identity";
    case 116: return "certificate_required";
    case 120: return "no_application_protocol";
    default: return "";
  }
}

std::string_view KeyTypeName(KeyType k) {
  switch (k) {
    case KeyType::kRsa: return "RSA";
    case KeyType::kEc: return "EC";
    case KeyType::kEd25519: return "Ed25519";
    case KeyType::kEd448: return "Ed448";
    case KeyType::kDsa: return "DSA";
    case KeyType::kUnknown: break;
  }
  return "unknown";
}

const std::vector<ClientProfile>& BuiltinProfiles() {
  static const std::vector<ClientProfile> kProfiles = {
      {
          .name = "modern",
          .min_version = "TLSv1.2",
          .max_version = "TLSv1.3",
          .ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                     "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                     "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
          .ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
          .groups = "X25519:P-256:P-384",
          .alpn = {"h2", "http/1.1"},
          .description = "a current browser: TLS 1.2-1.3, ECDHE with ECDSA or RSA, AEAD only",
      },
      {
          .name = "legacy-rsa",
          .min_version = "TLSv1.2",
          .max_version = "TLSv1.2",
          .ciphers = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
                     "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA:AES256-SHA",
          .ciphersuites = "",
          .groups = "P-256:P-384:X25519",
          .alpn = {"http/1.1"},
          .description = "an older proxy or fetcher: TLS 1.2 only, RSA-authenticated suites only "
                         "(no ECDHE-ECDSA)",
      },
  };
  return kProfiles;
}

const ClientProfile* FindBuiltinProfile(std::string_view name) {
  for (const auto& p : BuiltinProfiles()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string ProbeResult::VariantLabel() const {
  std::string out = spec.sni ? "sni=" + *spec.sni : std::string("no-sni");
  out += " profile=" + spec.profile;
  return out;
}

}  // namespace originwatch
