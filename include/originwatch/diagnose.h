// Diagnosis: compares the variants of one origin (the same host probed with and
// without SNI, with other names, with several client profiles, on every address)
// and explains what is wrong in plain words, with the fix.
//
// Pure functions over values: no I/O, no clock (now is a parameter), no global
// state. Safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "originwatch/probe.h"

namespace originwatch {

enum class Severity : int { kInfo = 0, kWarning = 1, kCritical = 2 };
std::string_view SeverityName(Severity s);  // "info", "warning", "critical"

// Stable finding codes (documented in docs/findings.md). Never rename.
namespace finding {
inline constexpr std::string_view kHealthy = "healthy";
inline constexpr std::string_view kSniRequired = "sni_required";
inline constexpr std::string_view kWrongCertWithoutSni = "wrong_cert_without_sni";
inline constexpr std::string_view kNameMismatch = "name_mismatch";
// The expected name is only in the subject CN, in no DNS SAN: browsers ignore the CN.
inline constexpr std::string_view kNameOnlyInCn = "name_only_in_cn";
inline constexpr std::string_view kChainUntrusted = "chain_untrusted";
inline constexpr std::string_view kChainIncomplete = "chain_incomplete";
inline constexpr std::string_view kCertExpired = "cert_expired";
inline constexpr std::string_view kCertNotYetValid = "cert_not_yet_valid";
inline constexpr std::string_view kCertExpiringSoon = "cert_expiring_soon";
inline constexpr std::string_view kSelfSigned = "self_signed";
inline constexpr std::string_view kNotTls = "not_tls";
inline constexpr std::string_view kNoSharedCipher = "no_shared_cipher";
inline constexpr std::string_view kProtocolMismatch = "protocol_mismatch";
inline constexpr std::string_view kRefused = "refused";
inline constexpr std::string_view kTimeout = "timeout";
inline constexpr std::string_view kReset = "reset";
inline constexpr std::string_view kDnsError = "dns_error";
inline constexpr std::string_view kHandshakeFailed = "handshake_failed";  // a failure no rule above explains
inline constexpr std::string_view kOversizedHandshake = "oversized_handshake";
inline constexpr std::string_view kSlowHandshake = "slow_handshake";
// Info: the agent has no route to the address's family (see IsNoRouteFromAgent).
inline constexpr std::string_view kNoRouteFromAgent = "no_route_from_agent";
// The HTTP check (ProbeSpec::http) of a variant whose handshake (or, for an
// http:// origin, TCP connect) worked. TLS findings keep precedence: a
// variant whose handshake failed made no request.
inline constexpr std::string_view kBadGateway = "bad_gateway";          // status 502
inline constexpr std::string_view kGatewayTimeout = "gateway_timeout";  // status 504
inline constexpr std::string_view kHttpError = "http_error";            // another 5xx not expected
inline constexpr std::string_view kUnexpectedStatus = "unexpected_status";  // not in expect_status
inline constexpr std::string_view kHttpTimeout = "http_timeout";  // no response head in time
// The answer is no HTTP/1.x response: not HTTP, closed before a complete
// head, a head over the size limit, or the request could not be made.
inline constexpr std::string_view kNotHttp = "not_http";
}  // namespace finding

// True for the six HTTP finding codes above.
bool IsHttpFinding(std::string_view code);
// The HTTP finding code that r's own HTTP answer gives (one of the six),
// or "" when the check passed, was not asked, or made no request (the
// handshake failed: the TLS findings explain that).
std::string_view HttpFindingOf(const ProbeResult& r);

// True when r failed because the agent itself has no route to the family of
// r.spec.address: the TCP connect gave ENETUNREACH ("Network is unreachable",
// as the engine spells it: kNetworkError, error_text "connect: " + strerror).
// Such a probe says nothing of the origin. EHOSTUNREACH and the other network
// errors are not this: a router or the origin's own network may cause them.
bool IsNoRouteFromAgent(const ProbeResult& r);

struct Finding {
  std::string code;      // one of finding::k*
  Severity severity = Severity::kInfo;
  std::string summary;   // what happens, in plain words, with the evidence
  std::string fix;       // what to do about it ("" for healthy)
  std::vector<std::string> variants;  // ProbeResult::VariantLabel() of the variants it explains
};

struct DiagnoseOptions {
  int64_t now_s = 0;                 // unix seconds, "now" for validity checks
  int expiry_warning_days = 21;      // cert_expiring_soon below this
  int64_t slow_handshake_ms = 2000;  // slow_handshake above this
  // Profiles the probes used (to explain no_shared_cipher / protocol_mismatch);
  // unknown names fall back to BuiltinProfiles().
  std::vector<ClientProfile> profiles;
};

struct Diagnosis {
  // Sorted: the finding that explains the most comes first. Never empty: a
  // fully working origin yields exactly one finding, "healthy". Variants the
  // agent has no route to (no_route_from_agent, info) do not count against the
  // origin: when every other variant works, "healthy" leads and
  // no_route_from_agent follows it.
  std::vector<Finding> findings;
  // No finding above info and one of them is "healthy": at least one variant
  // works. An origin none of whose variants the agent could route to is not
  // healthy (nothing is known of it), though its only finding is info.
  bool healthy() const;
  const Finding& lead() const { return findings.front(); }
};

// The HTTP answer of r in a few words, as evidence: "502 Bad Gateway
// (Server: nginx/1.22.1; Via: 1.1 varnish)", "no answer: <error_text>"; ""
// when no request was made.
std::string DescribeHttp(const ProbeResult& r);
// "www.example.com/promo": the Host the request named (else the probed host)
// and its path; "" when r has no HTTP check.
std::string HttpTarget(const ProbeResult& r);

// Diagnoses the results of one origin (all its addresses and variants).
Diagnosis Diagnose(const std::vector<ProbeResult>& results, const DiagnoseOptions& options);

}  // namespace originwatch
