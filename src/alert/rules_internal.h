// Private helpers shared by the files of the alert rules: phrases messages are
// built from, and Step, the hysteresis every state rule runs through. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "originwatch/alert.h"

namespace originwatch::alert_internal {

inline constexpr int64_t kDayMs = 86'400'000;
inline constexpr int kCountCap = 1 << 30;         // counters saturate instead of overflowing
inline constexpr int kX509HostnameMismatch = 62;  // X509_V_ERR_HOSTNAME_MISMATCH (OpenSSL 3.0)

// The state rules of a variant, in the order their events are emitted.
inline constexpr std::string_view kStateRules[] = {rule::kHandshakeFailed, rule::kSniChanged,
                                                   rule::kNameNotCovered, rule::kChainInvalid,
                                                   rule::kDowngrade, rule::kHttpFailed};

std::string RuleTitle(std::string_view r);
// "127.0.0.1:443", "[::1]:443".
std::string HostPort(const std::string& address, uint16_t port);
// "127.0.0.1:443|sni=a.example.com|modern" (alert.h VariantKeyOf).
std::string VariantKey(const ProbeSpec& s);
// "the handshake without SNI to 127.0.0.1:443" / "... with SNI a.example.com
// (profile legacy-rsa) to ...".
std::string Phrase(const ProbeSpec& s);
// "SNI a.example.com on 127.0.0.1:443" / "connections without SNI on ...".
std::string Target(const ProbeSpec& s);
std::string Capitalized(std::string s);
std::string Uncapitalized(std::string s);
// "SNI a.example.com" / "the handshake without SNI".
std::string SniText(const ProbeSpec& s);
// "127.0.0.1:443" out of a variant key "127.0.0.1:443|sni=...|profile".
std::string HostPortOfKey(const std::string& variant_key);
// "EC 256 prime256v1", "RSA 2048".
std::string KeyText(const CertInfo& c);
// The leaf's fingerprint, or subject|serial when it has none.
std::string CertId(const CertInfo& c);
// dns, refused, connect timeout, network error: failures below TLS.
bool IsNetworkLevel(Outcome o);

// --- hysteresis ---
enum class Obs { kNeutral, kGood, kBad };
struct Observation {
  Obs obs = Obs::kNeutral;
  Severity severity = Severity::kCritical;  // when bad
  std::string detail;                       // when bad: the evidence
};

struct Transition {
  AlertKind kind;
  Severity severity;  // new severity (firing, updated) or the one it had (resolved)
  Severity previous;  // before an update
  int64_t since_ms;
  std::string detail;  // evidence of the last bad observation
};

// Moves one rule's track by one observation; the transition when it fired,
// changed severity or resolved.
std::optional<Transition> Step(RuleTrack& t, const Observation& o, const AlertThresholds& th,
                               int64_t now_ms);

}  // namespace originwatch::alert_internal
