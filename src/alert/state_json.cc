// JSON of the persistent alert states and of events (alert.h).
#include <nlohmann/json.hpp>

#include "originwatch/alert.h"

namespace originwatch {

// --- JSON --------------------------------------------------------------------

namespace {

using nlohmann::json;

json TrackJson(const RuleTrack& t) {
  return {{"bad", t.bad},           {"good", t.good},
          {"open", t.open},         {"severity", std::string(SeverityName(t.severity))},
          {"since_ms", t.since_ms}, {"last_seen_ms", t.last_seen_ms},
          {"detail", t.detail}};
}

Severity SeverityFrom(const std::string& s) {
  if (s == "critical") return Severity::kCritical;
  if (s == "warning") return Severity::kWarning;
  return Severity::kInfo;
}

template <typename T>
void Read(const json& j, const char* name, T& out) {
  auto it = j.find(name);
  if (it != j.end() && !it->is_null()) out = it->get<T>();
}

RuleTrack TrackFrom(const json& j) {
  RuleTrack t;
  Read(j, "bad", t.bad);
  Read(j, "good", t.good);
  Read(j, "open", t.open);
  std::string sev;
  Read(j, "severity", sev);
  t.severity = SeverityFrom(sev);
  Read(j, "since_ms", t.since_ms);
  Read(j, "last_seen_ms", t.last_seen_ms);
  Read(j, "detail", t.detail);
  return t;
}

// Parses an object; nlohmann's type errors stay inside this function.
template <typename T, typename F>
Result<T> ParseObject(std::string_view text, const char* what, F fill) {
  const json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument(std::string(what) + ": not a JSON object");
  }
  try {
    T out;
    fill(j, out);
    return out;
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string(what) + ": " + e.what());
  }
}

}  // namespace

std::string AlertStateToJson(const VariantAlertState& s) {
  json rules = json::object();
  for (const auto& [name, t] : s.rules) {
    if (t.bad != 0 || t.good != 0 || t.open) rules[name] = TrackJson(t);
  }
  const json j = {{"origin", s.origin},
                  {"variant", s.variant},
                  {"address", s.address},
                  {"variant_key", s.variant_key},
                  {"last_at_ms", s.last_at_ms},
                  {"last_outcome", std::string(OutcomeCode(s.last_outcome))},
                  {"consecutive_failures", s.consecutive_failures},
                  {"consecutive_successes", s.consecutive_successes},
                  {"failing_since_ms", s.failing_since_ms},
                  {"last_ok_ms", s.last_ok_ms},
                  {"last_leaf",
                   {{"sha256", s.last_leaf.sha256},
                    {"subject", s.last_leaf.subject},
                    {"issuer", s.last_leaf.issuer},
                    {"key", s.last_leaf.key},
                    {"not_after", s.last_leaf.not_after}}},
                  {"baseline_version", s.baseline_version},
                  {"baseline_cipher", s.baseline_cipher},
                  {"rules", rules}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<VariantAlertState> AlertStateFromJson(std::string_view text) {
  return ParseObject<VariantAlertState>(
      text, "alert state", [](const json& j, VariantAlertState& s) {
        Read(j, "origin", s.origin);
        Read(j, "variant", s.variant);
        Read(j, "address", s.address);
        Read(j, "variant_key", s.variant_key);
        Read(j, "last_at_ms", s.last_at_ms);
        std::string outcome;
        Read(j, "last_outcome", outcome);
        s.last_outcome = OutcomeFromCode(outcome).value_or(Outcome::kInternal);
        Read(j, "consecutive_failures", s.consecutive_failures);
        Read(j, "consecutive_successes", s.consecutive_successes);
        Read(j, "failing_since_ms", s.failing_since_ms);
        Read(j, "last_ok_ms", s.last_ok_ms);
        if (auto it = j.find("last_leaf"); it != j.end() && it->is_object()) {
          Read(*it, "sha256", s.last_leaf.sha256);
          Read(*it, "subject", s.last_leaf.subject);
          Read(*it, "issuer", s.last_leaf.issuer);
          Read(*it, "key", s.last_leaf.key);
          Read(*it, "not_after", s.last_leaf.not_after);
        }
        Read(j, "baseline_version", s.baseline_version);
        Read(j, "baseline_cipher", s.baseline_cipher);
        if (auto it = j.find("rules"); it != j.end() && it->is_object()) {
          for (const auto& [name, t] : it->items()) s.rules[name] = TrackFrom(t);
        }
      });
}

std::string RuleTrackToJson(const RuleTrack& t) { return TrackJson(t).dump(-1, ' ', false, json::error_handler_t::replace); }

Result<RuleTrack> RuleTrackFromJson(std::string_view text) {
  return ParseObject<RuleTrack>(text, "rule state", [](const json& j, RuleTrack& t) { t = TrackFrom(j); });
}

std::string CertExpiryStateToJson(const CertExpiryState& s) {
  const json j = {{"sha256", s.sha256},
                  {"open", s.open},
                  {"severity", std::string(SeverityName(s.severity))},
                  {"since_ms", s.since_ms},
                  {"last_seen_ms", s.last_seen_ms}};
  return j.dump();
}

Result<CertExpiryState> CertExpiryStateFromJson(std::string_view text) {
  return ParseObject<CertExpiryState>(text, "expiry state", [](const json& j, CertExpiryState& s) {
    Read(j, "sha256", s.sha256);
    Read(j, "open", s.open);
    std::string sev;
    Read(j, "severity", sev);
    s.severity = SeverityFrom(sev);
    Read(j, "since_ms", s.since_ms);
    Read(j, "last_seen_ms", s.last_seen_ms);
  });
}

std::string AlertEventToJson(const AlertEvent& e) {
  const json j = {{"rule", e.rule},
                  {"kind", std::string(AlertKindName(e.kind))},
                  {"severity", std::string(SeverityName(e.severity))},
                  {"key", e.key},
                  {"origin", e.origin},
                  {"variant", e.variant},
                  {"address", e.address},
                  {"finding_code", e.finding_code},
                  {"summary", e.summary},
                  {"fix", e.fix},
                  {"message", e.message},
                  {"facts_before", e.facts_before},
                  {"facts_after", e.facts_after},
                  {"at_ms", e.at_ms},
                  {"since_ms", e.since_ms}};
  // Certificate text comes from hostile servers: never fail on invalid UTF-8.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace originwatch
