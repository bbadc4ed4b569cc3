// Private helpers of the diagnosis: facts derived from ProbeResult values
// (name coverage, what a cipher string can authenticate, version order) and the
// small phrases the summaries are built from. Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "originwatch/probe.h"

namespace originwatch::diagnose_internal {

// Order of protocol versions: "SSLv3" 0 ... "TLSv1.3" 4; -1 if unknown or "".
int VersionRank(std::string_view version);

// Which authentication an OpenSSL TLS <= 1.2 cipher string can negotiate. An
// empty string is the library default (both). Aliases we cannot resolve without
// OpenSSL ("HIGH", "DEFAULT") count as both, so we never blame a key type wrongly.
struct CipherAuth {
  bool ecdsa = false;
  bool rsa = false;
};
CipherAuth AnalyzeCiphers(std::string_view ciphers);

// The names a variant must cover: spec.expect_names, or {spec.host} when empty.
std::vector<std::string> ExpectedNames(const ProbeResult& r);
// RFC 6125 matching of one presented DNS name (wildcard in the left-most label
// only) against a name; case-insensitive, trailing dots ignored.
bool DnsNameMatches(std::string_view pattern, std::string_view name);
// Expected names the leaf does not cover: from r.names when the engine filled
// it, else computed from the leaf's SANs. The subject CN never covers a name,
// as in browsers and in the engine's check (src/tls/facts.h).
std::vector<std::string> UncoveredNames(const ProbeResult& r);
// The uncovered names the leaf's subject CN matches (RFC 6125 rules, as for a
// SAN) and none of its DNS SANs does: the certificate names them, but only
// where clients no longer look. A subset of UncoveredNames(r), in order.
std::vector<std::string> NamesOnlyInCn(const ProbeResult& r);

// "2024-05-01 12:00 UTC".
std::string FormatDate(int64_t unix_s);
// "less than a day", "1 day", "12 days" for a non-negative duration.
std::string DaysText(int64_t seconds);
// "CN a.example.com; names: a.example.com, www.a.example.com" (bounded length).
std::string DescribeCert(const CertInfo& cert);
// "alert 112 unrecognized_name" / "alert 199".
std::string AlertText(int alert);
// One phrase for why a probe failed: "alert 40 handshake_failure", "the server
// closed the connection without an alert", ...
std::string DescribeFailure(const ProbeResult& r);
// Cuts s to at most n bytes (on a UTF-8 boundary), appending "..." when cut.
std::string Truncate(std::string_view s, size_t n);
std::string Join(const std::vector<std::string>& parts, std::string_view sep);
// Appends s to v unless already present; keeps first-seen order.
void AddUnique(std::vector<std::string>& v, std::string s);
bool Contains(std::string_view haystack, std::string_view needle);
// s in double quotes, as is (summaries quote names and subjects).
std::string Quote(std::string_view s);
// "1 variant", "3 variants".
std::string Plural(size_t n, std::string_view one, std::string_view many);
// The identity of a certificate for de-duplication: its fingerprint, or
// subject and serial when the fingerprint is unknown.
std::string CertKey(const CertInfo& c);
// "the leaf certificate (CN a; names: ...)" or "the intermediate certificate
// \"CN=R3,O=...\" (depth 1)".
std::string CertRole(const CertInfo& cert, size_t depth);
// The answer was not TLS, or OpenSSL says so ("wrong version number").
bool LooksPlaintext(const ProbeResult& r);

}  // namespace originwatch::diagnose_internal
