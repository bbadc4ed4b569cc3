// Facts and phrases the diagnosis is built from (see diagnose_text.h).
#include "diagnose/diagnose_text.h"

#include <algorithm>
#include <cctype>
#include <ctime>

namespace originwatch::diagnose_internal {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

bool IsNamedSuite(std::string_view token) { return token.find('-') != std::string_view::npos; }

}  // namespace

int VersionRank(std::string_view version) {
  if (version == "SSLv3") return 0;
  if (version == "TLSv1" || version == "TLSv1.0") return 1;
  if (version == "TLSv1.1") return 2;
  if (version == "TLSv1.2") return 3;
  if (version == "TLSv1.3") return 4;
  return -1;
}

CipherAuth AnalyzeCiphers(std::string_view ciphers) {
  CipherAuth auth;
  if (ciphers.empty()) return {true, true};
  size_t pos = 0;
  while (pos <= ciphers.size()) {
    size_t end = ciphers.find_first_of(":, ", pos);
    if (end == std::string_view::npos) end = ciphers.size();
    std::string_view token = ciphers.substr(pos, end - pos);
    pos = end + 1;
    if (!token.empty() && token.front() == '+') token.remove_prefix(1);
    // "!x" and "-x" remove suites, "@SECLEVEL=n" and "@STRENGTH" are directives.
    if (token.empty() || token.front() == '!' || token.front() == '-' || token.front() == '@') {
      continue;
    }
    if (IsNamedSuite(token)) {
      // Named suites: "ECDHE-ECDSA-AES128-GCM-SHA256" is ECDSA; "ECDHE-RSA-...",
      // "DHE-RSA-..." and plain-RSA "AES128-SHA" are RSA; PSK, DSS, SRP and
      // anonymous suites authenticate neither.
      if (Contains(token, "ECDSA")) {
        auth.ecdsa = true;
      } else if (!Contains(token, "PSK") && !Contains(token, "DSS") && !Contains(token, "SRP") &&
                 !token.starts_with("ADH") && !token.starts_with("AECDH")) {
        auth.rsa = true;
      }
      continue;
    }
    if (token == "aECDSA" || token == "ECDSA") {
      auth.ecdsa = true;
    } else if (token == "aRSA" || token == "kRSA" || token == "RSA") {
      auth.rsa = true;
    } else if (!Contains(token, "PSK") && !Contains(token, "SRP") && !Contains(token, "NULL") &&
               !Contains(token, "DSS")) {
      // An alias we cannot expand here ("HIGH", "ECDHE", "DEFAULT"): assume both.
      auth.ecdsa = true;
      auth.rsa = true;
    }
  }
  return auth;
}

std::vector<std::string> ExpectedNames(const ProbeResult& r) {
  if (!r.spec.expect_names.empty()) return r.spec.expect_names;
  if (r.spec.host.empty()) return {};
  return {r.spec.host};
}

bool DnsNameMatches(std::string_view pattern, std::string_view name) {
  const std::string p = Lower(pattern);
  const std::string n = Lower(name);
  if (p.empty() || n.empty()) return false;
  if (p == n) return true;
  if (p.size() > 2 && p[0] == '*' && p[1] == '.') {
    const size_t dot = n.find('.');
    // The wildcard stands for exactly one non-empty label, and never for a
    // label of a public suffix-like two-label name ("*.com").
    if (dot == std::string::npos || dot == 0) return false;
    if (p.find('.', 2) == std::string::npos) return false;
    return n.substr(dot + 1) == p.substr(2);
  }
  return false;
}

std::vector<std::string> UncoveredNames(const ProbeResult& r) {
  std::vector<std::string> out;
  if (!r.names.empty()) {
    for (const auto& check : r.names) {
      if (!check.covered) out.push_back(check.name);
    }
    return out;
  }
  const CertInfo* leaf = r.leaf();
  if (leaf == nullptr) return out;
  for (const std::string& name : ExpectedNames(r)) {
    bool covered = false;
    for (const auto& dns : leaf->dns_names) covered = covered || DnsNameMatches(dns, name);
    for (const auto& ip : leaf->ip_names) covered = covered || ip == name;
    if (!covered) out.push_back(name);
  }
  return out;
}

std::vector<std::string> NamesOnlyInCn(const ProbeResult& r) {
  std::vector<std::string> out;
  const CertInfo* leaf = r.leaf();
  if (leaf == nullptr || leaf->common_name.empty()) return out;
  for (std::string& name : UncoveredNames(r)) {
    if (!DnsNameMatches(leaf->common_name, name)) continue;
    // A SAN that matches (the engine said no for another reason) makes it a
    // plain mismatch, not a CN-only name.
    bool in_san = false;
    for (const auto& dns : leaf->dns_names) in_san = in_san || DnsNameMatches(dns, name);
    if (!in_san) out.push_back(std::move(name));
  }
  return out;
}

std::string FormatDate(int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "(invalid date)";
  char buf[32];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return n == 0 ? std::string("(invalid date)") : std::string(buf, n);
}

std::string DaysText(int64_t seconds) {
  const int64_t days = seconds / 86400;
  if (days <= 0) return "less than a day";
  if (days == 1) return "1 day";
  return std::to_string(days) + " days";
}

std::string DescribeCert(const CertInfo& cert) {
  std::string out = cert.common_name.empty() ? "no CN" : "CN " + cert.common_name;
  std::vector<std::string> names = cert.dns_names;
  names.insert(names.end(), cert.ip_names.begin(), cert.ip_names.end());
  if (names.empty()) return out + "; no subjectAltName";
  constexpr size_t kShown = 6;
  std::vector<std::string> shown(names.begin(), names.begin() + std::min(names.size(), kShown));
  out += "; names: " + Join(shown, ", ");
  if (names.size() > kShown) out += " and " + std::to_string(names.size() - kShown) + " more";
  return out;
}

std::string AlertText(int alert) {
  std::string out = "alert " + std::to_string(alert);
  const std::string_view name = TlsAlertName(alert);
  if (!name.empty()) out += " " + std::string(name);
  return out;
}

std::string DescribeFailure(const ProbeResult& r) {
  switch (r.outcome) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kTlsAlert:
      return AlertText(r.alert);
    case Outcome::kUnexpectedEof:
      return "the server closed the connection without an alert";
    case Outcome::kReset:
      return "the connection was reset";
    case Outcome::kNotTls:
      if (r.first_bytes.empty()) return "the answer is not a TLS record";
      return "the answer is not TLS: \"" + Truncate(r.first_bytes, 60) + "\"";
    case Outcome::kTlsError:
      if (r.error_text.empty()) return "TLS error";
      return "TLS error: " + Truncate(r.error_text, 120);
    case Outcome::kHandshakeTimeout:
      return "no answer to the ClientHello within " + std::to_string(r.spec.timeout_ms) + " ms";
    case Outcome::kProtocolMismatch:
      return r.alert >= 0 ? AlertText(r.alert) : "no TLS version in common";
    case Outcome::kNoSharedCipher:
      return r.alert >= 0 ? AlertText(r.alert) : "no cipher suite in common";
    case Outcome::kTooLarge:
      return "the server sent more than the handshake byte cap (" + std::to_string(r.bytes_read) +
             " bytes read)";
    case Outcome::kRefused:
      return "connection refused";
    case Outcome::kConnectTimeout:
      return "TCP connect timed out after " + std::to_string(r.spec.connect_timeout_ms) + " ms";
    case Outcome::kDnsError:
    case Outcome::kDnsNxdomain:
    case Outcome::kDnsServfail:
    case Outcome::kDnsTimeout:
    case Outcome::kDnsNoAddress:
    case Outcome::kDnsRefused:
      return r.error_text.empty() ? "the name did not resolve (" + std::string(OutcomeCode(r.outcome)) + ")"
                                  : "the name did not resolve: " + Truncate(r.error_text, 120);
    case Outcome::kNetworkError:
      return r.error_text.empty() ? "network error"
                                  : "network error: " + Truncate(r.error_text, 120);
    case Outcome::kInternal:
      return r.error_text.empty() ? "a local failure of the probe"
                                  : "a local failure of the probe: " + Truncate(r.error_text, 120);
  }
  return "unknown outcome";
}

std::string Truncate(std::string_view s, size_t n) {
  if (s.size() <= n) return std::string(s);
  size_t cut = n;
  // Do not split a UTF-8 sequence: back up over continuation bytes.
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return std::string(s.substr(0, cut)) + "...";
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

void AddUnique(std::vector<std::string>& v, std::string s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(std::move(s));
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

bool LooksPlaintext(const ProbeResult& r) {
  return r.outcome == Outcome::kNotTls || Contains(r.error_text, "wrong version number");
}

std::string CertKey(const CertInfo& c) {
  return c.sha256_hex.empty() ? c.subject + "|" + c.serial_hex : c.sha256_hex;
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string Plural(size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

// "the leaf certificate (CN a; names: ...)" or "the intermediate certificate
// \"CN=R3,O=...\" (depth 1)".
std::string CertRole(const CertInfo& cert, size_t depth) {
  if (depth == 0) return "the leaf certificate (" + DescribeCert(cert) + ")";
  const std::string_view role = cert.self_issued ? "root" : "intermediate";
  return "the " + std::string(role) + " certificate " + Quote(cert.subject) + " (depth " +
         std::to_string(depth) + ")";
}

}  // namespace originwatch::diagnose_internal
