// Shared parts of the alert rules: thresholds, kinds, phrases and the
// hysteresis of a state rule.
#include <algorithm>

#include "alert/rules_internal.h"

namespace originwatch {

std::string VariantKeyOf(const ProbeSpec& spec) { return alert_internal::VariantKey(spec); }

using alert_internal::kStateRules;

// --- thresholds --------------------------------------------------------------

AlertThresholds ApplyOverrides(const AlertThresholds& global, const AlertSettings& origin) {
  AlertThresholds t = global;
  if (origin.fail_after) t.fail_after = *origin.fail_after;
  if (origin.resolve_after) t.resolve_after = *origin.resolve_after;
  if (origin.expiry_warning_days) t.expiry_warning_days = *origin.expiry_warning_days;
  if (origin.expiry_critical_days) t.expiry_critical_days = *origin.expiry_critical_days;
  if (origin.lifetime_warning_fraction) {
    t.lifetime_warning_fraction = *origin.lifetime_warning_fraction;
  }
  if (origin.lifetime_critical_fraction) {
    t.lifetime_critical_fraction = *origin.lifetime_critical_fraction;
  }
  if (origin.downgrade_accept_after_days) {
    t.downgrade_accept_after_days = *origin.downgrade_accept_after_days;
  }
  return t;
}

Status ValidateThresholds(const AlertThresholds& t) {
  if (t.fail_after < 1) return Status::InvalidArgument("fail_after must be at least 1");
  if (t.resolve_after < 1) return Status::InvalidArgument("resolve_after must be at least 1");
  if (t.expiry_critical_days < 0) {
    return Status::InvalidArgument("expiry_critical_days must not be negative");
  }
  if (t.expiry_warning_days < t.expiry_critical_days) {
    return Status::InvalidArgument("expiry_warning_days must be at least expiry_critical_days (" +
                                   std::to_string(t.expiry_critical_days) + ")");
  }
  if (!(t.lifetime_critical_fraction > 0 && t.lifetime_critical_fraction < 1)) {
    return Status::InvalidArgument("lifetime_critical_fraction must be between 0 and 1");
  }
  if (!(t.lifetime_warning_fraction >= t.lifetime_critical_fraction &&
        t.lifetime_warning_fraction < 1)) {
    return Status::InvalidArgument(
        "lifetime_warning_fraction must be at least lifetime_critical_fraction and below 1");
  }
  if (t.downgrade_accept_after_days < 0) {
    return Status::InvalidArgument("downgrade_accept_after_days must not be negative");
  }
  return Status::Ok();
}

std::string_view AlertKindName(AlertKind k) {
  switch (k) {
    case AlertKind::kFiring:
      return "firing";
    case AlertKind::kUpdated:
      return "updated";
    case AlertKind::kResolved:
      return "resolved";
    case AlertKind::kEvent:
      return "event";
  }
  return "event";
}

std::vector<std::string> VariantAlertState::OpenRules() const {
  std::vector<std::string> out;
  for (std::string_view r : kStateRules) {
    auto it = rules.find(std::string(r));
    if (it != rules.end() && it->second.open) out.emplace_back(r);
  }
  return out;
}


namespace alert_internal {

std::string RuleTitle(std::string_view r) {
  if (r == rule::kHandshakeFailed) return "handshake failing";
  if (r == rule::kSniChanged) return "SNI behaviour changed";
  if (r == rule::kNameNotCovered) return "certificate does not cover an expected name";
  if (r == rule::kChainInvalid) return "certificate chain does not verify";
  if (r == rule::kDowngrade) return "protocol or cipher downgrade";
  if (r == rule::kCertExpiry) return "certificate expiry";
  if (r == rule::kHttpFailed) return "HTTP check failing";
  return std::string(r);
}

std::string HostPort(const std::string& address, uint16_t port) {
  const bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

std::string VariantKey(const ProbeSpec& s) {
  return HostPort(s.address, s.port) + "|" + (s.sni ? "sni=" + *s.sni : std::string("no-sni")) +
         "|" + s.profile;
}

// "the handshake without SNI to 127.0.0.1:443" / "... with SNI a.example.com
// (profile legacy-rsa) to ...".
std::string Phrase(const ProbeSpec& s) {
  std::string out = s.sni ? "the handshake with SNI " + *s.sni : "the handshake without SNI";
  if (s.profile != "modern") out += " (profile " + s.profile + ")";
  return out + " to " + HostPort(s.address, s.port);
}

// "SNI a.example.com on 127.0.0.1:443" / "connections without SNI on ...": what a
// certificate is served for.
std::string Target(const ProbeSpec& s) {
  std::string out = s.sni ? "SNI " + *s.sni : std::string("connections without SNI");
  if (s.profile != "modern") out += " (profile " + s.profile + ")";
  return out + " on " + HostPort(s.address, s.port);
}

std::string Capitalized(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
  return s;
}

std::string Uncapitalized(std::string s) {
  if (s.size() > 1 && s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z')) {
    s[0] = static_cast<char>(s[0] - 'A' + 'a');
  }
  return s;
}

// "SNI a.example.com" / "the handshake without SNI": the working counterpart.
std::string SniText(const ProbeSpec& s) {
  return s.sni ? "SNI " + *s.sni : std::string("the handshake without SNI");
}

// "127.0.0.1:443" out of a variant key "127.0.0.1:443|sni=...|profile".
std::string HostPortOfKey(const std::string& variant_key) {
  return variant_key.substr(0, variant_key.find('|'));
}

std::string KeyText(const CertInfo& c) {
  std::string out = std::string(KeyTypeName(c.key_type)) + " " + std::to_string(c.key_bits);
  if (!c.key_curve.empty()) out += " " + c.key_curve;
  return out;
}

std::string CertId(const CertInfo& c) {
  return c.sha256_hex.empty() ? c.subject + "|" + c.serial_hex : c.sha256_hex;
}

bool IsNetworkLevel(Outcome o) {
  return IsDnsOutcome(o) || o == Outcome::kRefused || o == Outcome::kConnectTimeout ||
         o == Outcome::kNetworkError;
}

// --- hysteresis --------------------------------------------------------------

std::optional<Transition> Step(RuleTrack& t, const Observation& o, const AlertThresholds& th,
                               int64_t now_ms) {
  const int fail_after = std::max(1, th.fail_after);
  const int resolve_after = std::max(1, th.resolve_after);
  switch (o.obs) {
    case Obs::kNeutral:
      return std::nullopt;
    case Obs::kBad: {
      t.good = 0;
      t.bad = std::min(t.bad + 1, kCountCap);
      t.detail = o.detail;
      if (t.open) {
        t.last_seen_ms = now_ms;
        if (t.severity == o.severity) return std::nullopt;
        const Severity previous = t.severity;
        t.severity = o.severity;
        return Transition{AlertKind::kUpdated, o.severity, previous, t.since_ms, t.detail};
      }
      if (t.bad < fail_after) return std::nullopt;
      t.open = true;
      t.severity = o.severity;
      t.since_ms = now_ms;
      t.last_seen_ms = now_ms;
      return Transition{AlertKind::kFiring, o.severity, o.severity, now_ms, t.detail};
    }
    case Obs::kGood: {
      t.bad = 0;
      t.good = std::min(t.good + 1, kCountCap);
      if (!t.open || t.good < resolve_after) return std::nullopt;
      Transition tr{AlertKind::kResolved, t.severity, t.severity, t.since_ms, t.detail};
      t.open = false;
      t.severity = Severity::kInfo;
      t.since_ms = 0;
      return tr;
    }
  }
  return std::nullopt;
}


}  // namespace alert_internal
}  // namespace originwatch
