// Alert rules: pure functions that turn the previous alert state of a variant
// (or of a certificate, or of an origin's address set) and one new observation
// into the new state and the alert events to record. Rules and messages are
// documented in docs/alerts.md.
//
// Pure: no I/O, no clock (now_ms is a parameter), no global state, no
// diagnosis of their own: the caller (src/evaluator) diagnoses each result
// once and passes the Diagnosis in, so an event names the same finding as the
// stored state and the terminal. Safe to call from any thread; the caller owns
// every state value and has the store persist it (AlertStateToJson /
// ...FromJson) in the same transaction as the probe row and the events.
//
// Lifecycle of a state rule (handshake_failed, name_not_covered, chain_invalid,
// sni_changed, downgrade, http_failed), one per origin x rule x variant:
//
//   closed --(fail_after consecutive bad observations)--> open   [kFiring]
//   open   --(bad again)--> open: last_seen_ms moves; a new severity emits kUpdated
//   open   --(resolve_after consecutive good observations)--> closed [kResolved]
//
// A good observation resets the bad count and a bad one resets the good count,
// so a variant flapping below the thresholds raises nothing. Results that say
// nothing about a rule (e.g. a failed handshake for name_not_covered) are
// neutral: they change neither count.
//
// cert_changed and addresses_changed are one-shot events (kEvent). cert_expiry
// is one alert per certificate (leaf SHA-256), shared by every endpoint that
// serves it, with two severities (warning, critical).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "originwatch/config.h"
#include "originwatch/diagnose.h"
#include "originwatch/probe.h"
#include "originwatch/status.h"

namespace originwatch {

// Stable rule names (stored, sent in webhooks, used in config). Never rename.
namespace rule {
inline constexpr std::string_view kHandshakeFailed = "handshake_failed";
inline constexpr std::string_view kNameNotCovered = "name_not_covered";
inline constexpr std::string_view kChainInvalid = "chain_invalid";
inline constexpr std::string_view kCertExpiry = "cert_expiry";
inline constexpr std::string_view kCertChanged = "cert_changed";
inline constexpr std::string_view kSniChanged = "sni_changed";
inline constexpr std::string_view kDowngrade = "downgrade";
inline constexpr std::string_view kAddressesChanged = "addresses_changed";
inline constexpr std::string_view kDnsError = "dns_error";
// The HTTP check of a variant (ProbeSpec::http) fails: one of the six HTTP
// findings of diagnose.h. A variant whose handshake failed, or that made no
// request, is neutral for it.
inline constexpr std::string_view kHttpFailed = "http_failed";
// About the agent itself, not an origin: the database refuses writes. Sent
// directly to the webhooks (the outbox cannot be written), never stored.
inline constexpr std::string_view kStoreUnwritable = "store_unwritable";
}  // namespace rule

// "address:port|sni=NAME|profile" or "address:port|no-sni|profile": a variant's
// identity within its origin (the tail of a state rule's AlertEvent::key).
std::string VariantKeyOf(const ProbeSpec& spec);

// Thresholds, configurable globally and per origin (ApplyOverrides).
struct AlertThresholds {
  int fail_after = 2;     // consecutive bad observations before a state rule fires
  int resolve_after = 2;  // consecutive good observations before it resolves
  // cert_expiry: a threshold is the SMALLER of the day count and the fraction of
  // the certificate's lifetime, so a 90-day certificate warns at 21 days left
  // and a 7-day certificate at 0.33 x 7 = 2.3 days left (not from its first day).
  int expiry_warning_days = 21;
  int expiry_critical_days = 7;
  double lifetime_warning_fraction = 0.33;
  double lifetime_critical_fraction = 0.10;
  // downgrade: after the downgrade has been open this long, the lower level is
  // accepted as the new baseline and the alert resolves. 0 = never.
  int downgrade_accept_after_days = 7;
};

// Per-origin overrides of the global thresholds come as the configuration's
// AlertSettings ([alerts] / [origin.alerts]): unset fields inherit.
AlertThresholds ApplyOverrides(const AlertThresholds& global, const AlertSettings& origin);
// InvalidArgument naming the field: counts >= 1, 0 <= critical days <=
// warning days, 0 < critical fraction <= warning fraction < 1, accept days >= 0.
Status ValidateThresholds(const AlertThresholds& t);

enum class AlertKind : int {
  kFiring = 0,    // a state rule opened
  kUpdated = 1,   // an open alert changed severity (escalated or de-escalated)
  kResolved = 2,  // an open alert closed
  kEvent = 3,     // one-shot: cert_changed, addresses_changed
};
std::string_view AlertKindName(AlertKind k);  // "firing", "updated", "resolved", "event"

struct AlertEvent {
  std::string rule;  // rule::k*
  AlertKind kind = AlertKind::kEvent;
  Severity severity = Severity::kInfo;  // of a resolved event: the severity it had
  // Dedup key; one open alert per key (format in docs/alerts.md):
  //   state rules:        origin|rule|address:port|sni=NAME or no-sni|profile
  //   cert_expiry:        cert_expiry|<leaf sha256>
  //   cert_changed:       origin|cert_changed|<old sha256>><new sha256>
  //   addresses_changed:  origin|addresses_changed|<new addresses, sorted, comma-joined>
//   dns_error:          origin|dns_error
  // Events with equal keys describe the same thing (e.g. one renewal seen by
  // several variants): a consumer may drop repeats of a kEvent key.
  std::string key;
  std::string origin;   // all origins serving the certificate, comma-joined, for cert_expiry
  std::string variant;  // ProbeResult::VariantLabel(), "" when not per variant
  std::string address;  // "ip:port" probed ("[v6]:port"), "" when not per variant
  // From src/diagnose when a finding applies (finding::k*), else "". summary
  // and fix are never empty: the finding's, or the rule's own words.
  std::string finding_code;
  std::string summary;
  std::string fix;
  // Complete sentences for the person on call: "<origin>: what changed ... Fix: ...".
  std::string message;
  // Facts that explain the event ("version", "cipher", "sha256", "issuer",
  // "key", "outcome", "not_after", "days_left", "addresses", ...).
  std::map<std::string, std::string> facts_before;
  std::map<std::string, std::string> facts_after;
  int64_t at_ms = 0;     // now_ms of the evaluation
  int64_t since_ms = 0;  // when the alert first fired (== at_ms for kFiring, kEvent)
};

// Hysteresis of one state rule of one variant.
struct RuleTrack {
  int bad = 0;   // consecutive bad observations
  int good = 0;  // consecutive good observations
  bool open = false;
  Severity severity = Severity::kInfo;  // while open
  int64_t since_ms = 0;                 // when it fired; 0 when closed
  int64_t last_seen_ms = 0;             // last bad observation while open
  std::string detail;                   // evidence when last bad ("alert 112 unrecognized_name")
};

// The leaf certificate facts cert_changed compares.
struct LeafFacts {
  std::string sha256;  // "" = no leaf seen yet
  std::string subject;
  std::string issuer;
  std::string key;  // "EC 256 prime256v1", "RSA 2048"
  int64_t not_after = 0;
};

// Persistent alert state of one variant (origin x address x SNI x profile).
// Default-constructed = a variant never evaluated. Not the store's
// VariantState (store.h): the store keeps this one as JSON next to it.
struct VariantAlertState {
  std::string origin;   // identity, set by the first evaluation
  std::string variant;  // ProbeResult::VariantLabel()
  std::string address;
  std::string variant_key;  // "address:port|sni=NAME|profile", see AlertEvent::key
  int64_t last_at_ms = 0;   // started_at_ms of the newest result evaluated
  Outcome last_outcome = Outcome::kInternal;
  int consecutive_failures = 0;
  int64_t failing_since_ms = 0;  // started_at_ms of the first failure of the current run; 0 = not failing
  int consecutive_successes = 0;
  int64_t last_ok_ms = 0;  // 0 = never succeeded
  LeafFacts last_leaf;     // the last leaf served (failures with a chain count)
  // downgrade baseline: the negotiated parameters of the last good result
  // that was not a downgrade. "" = none yet.
  std::string baseline_version;
  std::string baseline_cipher;
  std::map<std::string, RuleTrack> rules;  // keyed by rule::k* (state rules only)

  // Names of the rules open on this variant, in rule order.
  std::vector<std::string> OpenRules() const;
};

struct Evaluation {
  VariantAlertState state;
  std::vector<AlertEvent> events;  // 0..n, in rule order
};

// Evaluates one new result of one variant against its previous state.
// `siblings` are the latest results of the other variants of the same origin
// (all addresses; an entry for the same variant as `result` is ignored): they
// decide sni_changed. `diagnosis` is the origin's diagnosis with this result
// (Diagnose over result + siblings): each event names the finding of it that
// explains the variant. A result older than prev.last_at_ms (it arrived late)
// changes nothing and raises nothing.
Evaluation EvaluateProbe(const VariantAlertState& prev, const ProbeResult& result,
                         const std::vector<const ProbeResult*>& siblings, const Diagnosis& diagnosis,
                         const AlertThresholds& t, int64_t now_ms);

// dns_error, one per origin: a lookup of the origin's name that fails is a bad
// observation, one that answers is a good one (fail_after / resolve_after
// count lookups, with the hysteresis of the state rules). A failed lookup
// never retires an address: `kept_addresses` are the addresses still probed
// (the last good answer), named in the event. `track` is updated in place.
std::optional<AlertEvent> EvaluateDns(RuleTrack& track, const std::string& origin,
                                      const std::string& host, bool resolved,
                                      const std::string& error,
                                      const std::vector<std::string>& kept_addresses,
                                      const AlertThresholds& t, int64_t now_ms);

// Resolves every open alert of a variant that is no longer probed (its address
// vanished from DNS, the origin or variant was removed from the config).
// `reason` completes "... resolved: <reason>." Returns the events; the state
// should then be deleted.
std::vector<AlertEvent> RetireVariant(const VariantAlertState& prev, std::string_view reason,
                                      int64_t now_ms);

// Expiry state of one certificate, shared by every endpoint serving it.
struct CertExpiryState {
  std::string sha256;
  bool open = false;
  Severity severity = Severity::kInfo;  // while open
  int64_t since_ms = 0;
  int64_t last_seen_ms = 0;
};

struct ExpiryEvaluation {
  CertExpiryState state;
  std::optional<AlertEvent> event;
};

// Evaluates the expiry of one leaf certificate. `origins_serving_it` are the
// origins whose latest results serve it; empty = it is no longer served
// anywhere (replaced), which resolves an open alert. Warning when the time left
// is below min(expiry_warning_days, lifetime_warning_fraction x lifetime),
// critical below min(expiry_critical_days, lifetime_critical_fraction x
// lifetime) or once expired. When origins with different thresholds share the
// certificate, pass the strictest.
ExpiryEvaluation EvaluateExpiry(const CertExpiryState& prev, const CertInfo& leaf,
                                const std::vector<std::string>& origins_serving_it,
                                const AlertThresholds& t, int64_t now_ms);

// An event when an origin's address set changed (order and duplicates are
// ignored). No event when `before` is empty (first resolution) or `after` is
// empty (the name did not resolve: dns_error covers that). The caller passes
// the sets after hysteresis (src/dns AddressBook), so answers that rotate
// within the retirement window raise nothing.
std::optional<AlertEvent> EvaluateAddresses(const std::string& origin,
                                            const std::vector<std::string>& before,
                                            const std::vector<std::string>& after, int64_t now_ms);

// Serialization of the persistent states (a JSON object; field names are the
// member names without trailing '_'). FromJson rejects what is not such an
// object with InvalidArgument; unknown fields are ignored and missing ones
// keep their defaults, so older rows still load.
std::string AlertStateToJson(const VariantAlertState& s);
Result<VariantAlertState> AlertStateFromJson(std::string_view json);
std::string CertExpiryStateToJson(const CertExpiryState& s);
std::string RuleTrackToJson(const RuleTrack& t);
Result<RuleTrack> RuleTrackFromJson(std::string_view json);
Result<CertExpiryState> CertExpiryStateFromJson(std::string_view json);
// One event as a JSON object (what the outbox stores and the webhook body embeds).
std::string AlertEventToJson(const AlertEvent& e);

}  // namespace originwatch
