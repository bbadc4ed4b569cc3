// Alert rules (see alert.h for the contract, docs/alerts.md for each rule).
//
// EvaluateProbe turns one result into one observation per state rule (good,
// bad with a severity, or neutral), runs each through the same hysteresis
// (Step) and writes the events of the transitions. Which rule a failure counts
// for is exclusive, so one cause raises one alert:
//   - a failure while a variant with another SNI (same profile) works counts
//     for sni_changed, every other failure for handshake_failed;
//   - network-level failures (dns, refused, connect timeout) never count for
//     sni_changed; a local failure (Outcome::kInternal) and a connect the
//     agent has no route for (IsNoRouteFromAgent: the agent lacks that address
//     family) count for nothing: they say nothing of the origin.
// Certificate rules look at every result that carries a leaf; downgrade only
// at successful ones.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "alert/rules_internal.h"
#include "alert/rules_text.h"
#include "diagnose/diagnose_text.h"
#include "originwatch/alert.h"

namespace originwatch {

using diagnose_internal::DescribeCert;
using diagnose_internal::DescribeFailure;
using diagnose_internal::FormatDate;
using diagnose_internal::Join;
using diagnose_internal::UncoveredNames;
using diagnose_internal::VersionRank;
using namespace alert_internal;  // NOLINT: the rules' own private helpers

namespace {

// --- diagnosis ---------------------------------------------------------------

// Whether `f` explains `r`: Finding::variants holds VariantLabel(), prefixed
// with the endpoint when the origin has several.
bool Explains(const Finding& f, const ProbeResult& r) {
  const std::string label = r.VariantLabel();
  for (const std::string& v : f.variants) {
    if (v == label) return true;
    if (v.size() > label.size() + 1 && v.ends_with(" " + label) &&
        (v.starts_with(r.spec.address) || v.starts_with("[" + r.spec.address + "]"))) {
      return true;
    }
  }
  return false;
}

// The finding of the origin's diagnosis (computed once per result by the
// evaluator, with the configured profiles and thresholds) that explains r.
class Explainer {
 public:
  Explainer(const ProbeResult& r, const Diagnosis& d) : r_(r), d_(d) {}

  // The finding explaining r with one of `codes` (any code when empty), else
  // nullptr. Healthy never counts.
  const Finding* For(std::initializer_list<std::string_view> codes) const {
    for (const Finding& f : d_.findings) {
      if (f.code == finding::kHealthy || !Explains(f, r_)) continue;
      if (codes.size() == 0 ||
          std::find(codes.begin(), codes.end(), std::string_view(f.code)) != codes.end()) {
        return &f;
      }
    }
    return nullptr;
  }

 private:
  const ProbeResult& r_;
  const Diagnosis& d_;
};

// A working variant of the same origin, same profile and port, with another
// SNI than r. Same address first; other addresses only when r's address has no
// variant with another SNI at all (as src/diagnose compares).
const ProbeResult* SniCounterpart(const ProbeResult& r,
                                  const std::vector<const ProbeResult*>& siblings) {
  bool local_variant = false;
  const ProbeResult* local = nullptr;
  const ProbeResult* remote = nullptr;
  auto better = [&](const ProbeResult* cur, const ProbeResult& cand) {
    // Prefer a counterpart that sends SNI (the evidence people understand).
    return cur == nullptr || (!cur->spec.sni && cand.spec.sni);
  };
  for (const ProbeResult* sp : siblings) {
    const ProbeResult& s = *sp;
    if (s.spec.profile != r.spec.profile || s.spec.port != r.spec.port ||
        s.spec.sni == r.spec.sni) {
      continue;
    }
    if (s.spec.address == r.spec.address) {
      local_variant = true;
      if (s.ok() && better(local, s)) local = &s;
    } else if (s.ok() && better(remote, s)) {
      remote = &s;
    }
  }
  return local_variant ? local : remote;
}

std::map<std::string, std::string> NegotiatedFacts(const std::string& version,
                                                   const std::string& cipher) {
  return {{"version", version}, {"cipher", cipher}};
}

std::map<std::string, std::string> ResultFacts(const ProbeResult& r) {
  std::map<std::string, std::string> f;
  f["outcome"] = std::string(OutcomeCode(r.outcome));
  if (!r.ok()) f["failure"] = DescribeFailure(r);
  if (r.alert >= 0) f["alert"] = std::to_string(r.alert);
  if (!r.version.empty()) f["version"] = r.version;
  if (!r.cipher.empty()) f["cipher"] = r.cipher;
  if (const CertInfo* leaf = r.leaf()) {
    f["sha256"] = leaf->sha256_hex;
    f["issuer"] = leaf->issuer;
    f["subject"] = leaf->subject;
    f["key"] = KeyText(*leaf);
    f["not_after"] = FormatDate(leaf->not_after);
  }
  if (r.verify_code >= 0) f["verify_code"] = std::to_string(r.verify_code);
  if (!r.verify_error.empty()) f["verify_error"] = r.verify_error;
  return f;
}

// --- observations ------------------------------------------------------------

// The agent's own failures: neutral for every rule, counted nowhere.
bool SaysNothingOfOrigin(const ProbeResult& r) {
  return r.outcome == Outcome::kInternal || IsNoRouteFromAgent(r);
}

struct Observations {
  Observation handshake, sni, name, chain, downgrade, http;
  const ProbeResult* sni_ref = nullptr;
  std::vector<std::string> uncovered;
  std::string downgrade_reasons;
};

std::string DowngradeReasons(const std::string& base_version, const std::string& base_cipher,
                             const ProbeResult& r, bool* worse, bool* severe) {
  std::vector<std::string> reasons;
  const int base_rank = VersionRank(base_version);
  const int rank = VersionRank(r.version);
  if (base_rank >= 0 && rank >= 0 && rank < base_rank) {
    reasons.push_back("protocol " + base_version + " -> " + r.version);
  }
  const CipherClass before = ClassifyCipher(base_cipher);
  const CipherClass after = ClassifyCipher(r.cipher);
  if (before.known && after.known) {
    if (before.aead && !after.aead) reasons.push_back("AEAD -> CBC cipher");
    if (before.forward_secret && !after.forward_secret) {
      reasons.push_back("forward secrecy lost (static RSA key exchange)");
    }
    if (!before.weak && after.weak) reasons.push_back("weak cipher (" + r.cipher + ")");
  }
  *worse = !reasons.empty();
  *severe = *worse && ((rank >= 0 && rank <= VersionRank("TLSv1.1")) || after.weak);
  return Join(reasons, "; ");
}

Observations Observe(const VariantAlertState& prev, const ProbeResult& r,
                     const std::vector<const ProbeResult*>& siblings) {
  Observations o;
  if (SaysNothingOfOrigin(r)) return o;  // our failure, not the origin's
  if (r.ok()) {
    o.handshake.obs = Obs::kGood;
    o.sni.obs = Obs::kGood;
  } else {
    if (!IsNetworkLevel(r.outcome)) o.sni_ref = SniCounterpart(r, siblings);
    Observation& bad = o.sni_ref != nullptr ? o.sni : o.handshake;
    bad.obs = Obs::kBad;
    bad.detail = DescribeFailure(r);
  }
  if (r.leaf() != nullptr) {
    o.uncovered = UncoveredNames(r);
    o.name.obs = o.uncovered.empty() ? Obs::kGood : Obs::kBad;
    o.name.detail = Join(o.uncovered, ", ");
    if (r.verify_code >= 0) {
      const bool verified = r.verify_code == 0 || r.chain_verified ||
                            r.verify_code == kX509HostnameMismatch;  // checked after the chain
      o.chain.obs = verified ? Obs::kGood : Obs::kBad;
      o.chain.detail =
          r.verify_error.empty() ? "verify code " + std::to_string(r.verify_code) : r.verify_error;
    }
  }
  if (r.ok() && r.spec.http && r.http.outcome != HttpOutcome::kNotRun) {  // http_failed
    const std::string_view code = HttpFindingOf(r);
    o.http.obs = code.empty() ? Obs::kGood : Obs::kBad;
    o.http.severity = code == finding::kUnexpectedStatus ? Severity::kWarning : Severity::kCritical;
    o.http.detail = DescribeHttp(r);
  }
  if (r.ok() && !r.version.empty()) {
    if (prev.baseline_version.empty()) {
      o.downgrade.obs = Obs::kGood;
    } else {
      bool worse = false, severe = false;
      o.downgrade_reasons =
          DowngradeReasons(prev.baseline_version, prev.baseline_cipher, r, &worse, &severe);
      o.downgrade.obs = worse ? Obs::kBad : Obs::kGood;
      o.downgrade.severity = severe ? Severity::kCritical : Severity::kWarning;
      o.downgrade.detail = prev.baseline_version + " with " + prev.baseline_cipher + " -> " +
                           r.version + " with " + r.cipher;
    }
  }
  return o;
}

// --- events ------------------------------------------------------------------

class EventWriter {
 public:
  EventWriter(const VariantAlertState& prev, const ProbeResult& r, const Diagnosis& d,
              const AlertThresholds& t, int64_t now_ms)
      : prev_(prev), r_(r), t_(t), now_ms_(now_ms), explain_(r, d) {}

  AlertEvent Base(std::string_view rule_name, const Transition& tr) const {
    AlertEvent e;
    e.rule = std::string(rule_name);
    e.kind = tr.kind;
    e.severity = tr.severity;
    e.key = r_.spec.origin + "|" + e.rule + "|" + VariantKey(r_.spec);
    e.origin = r_.spec.origin;
    e.variant = r_.VariantLabel();
    e.address = HostPort(r_.spec.address, r_.spec.port);
    e.at_ms = now_ms_;
    e.since_ms = tr.since_ms;
    e.facts_after = ResultFacts(r_);
    return e;
  }

  // Fills finding_code/summary/fix from the diagnosis, else from the rule.
  void Explain(AlertEvent& e, std::initializer_list<std::string_view> codes,
               const std::string& own_summary, const std::string& own_fix) {
    if (const Finding* f = explain_.For(codes)) {
      e.finding_code = f->code;
      e.summary = f->summary;
      e.fix = f->fix.empty() ? own_fix : f->fix;
    } else {
      e.summary = own_summary;
      e.fix = own_fix;
    }
  }

  static void Compose(AlertEvent& e, const std::string& headline) {
    e.message = headline;
    if (!e.summary.empty() && e.summary != headline) e.message += " " + e.summary;
    if (e.kind != AlertKind::kResolved && !e.fix.empty()) e.message += " Fix: " + e.fix;
  }

  AlertEvent Resolved(std::string_view rule_name, const Transition& tr, const std::string& how) {
    AlertEvent e = Base(rule_name, tr);
    e.fix = "No action needed.";
    e.facts_before["detail"] = tr.detail;
    Compose(e, r_.spec.origin + ": resolved: " + RuleTitle(rule_name) + " for " + Target(r_.spec) +
                   ": " + how + "; open since " + FormatDate(tr.since_ms / 1000) + " (" +
                   tr.detail + ").");
    e.summary = Capitalized(how) + ".";
    return e;
  }

  std::string GoodRun() const {
    const int m = std::max(1, t_.resolve_after);
    return m == 1 ? "1 good probe" : std::to_string(m) + " good probes in a row";
  }

  std::string Escalation(const Transition& tr) const {
    return std::string(tr.severity > tr.previous ? "escalated" : "de-escalated") + " from " +
           std::string(SeverityName(tr.previous)) + " to " + std::string(SeverityName(tr.severity));
  }

  AlertEvent Handshake(const Transition& tr) {
    if (tr.kind == AlertKind::kResolved) {
      return Resolved(rule::kHandshakeFailed, tr, "the handshake works again (" + GoodRun() + ")");
    }
    AlertEvent e = Base(rule::kHandshakeFailed, tr);
    Explain(e, {}, "The TLS handshake fails: " + tr.detail + ".",
            "Reproduce with: openssl s_client -connect " + HostPort(r_.spec.address, r_.spec.port) +
                (r_.spec.sni ? " -servername " + *r_.spec.sni : std::string()) +
                " and read the origin's TLS error log.");
    const int n = prev_.consecutive_failures + 1;
    std::string head = r_.spec.origin + ": " + Phrase(r_.spec) + " fails (" + tr.detail + "), " +
                       (n == 1 ? std::string("1 time") : std::to_string(n) + " times in a row");
    if (prev_.last_ok_ms > 0) head += "; last success " + FormatDate(prev_.last_ok_ms / 1000);
    Compose(e, head + ".");
    return e;
  }

  AlertEvent Http(const Transition& tr) {
    if (tr.kind == AlertKind::kResolved) {
      return Resolved(rule::kHttpFailed, tr, "the HTTP check passes again (" + GoodRun() + ")");
    }
    AlertEvent e = Base(rule::kHttpFailed, tr);
    e.facts_after["http"] = tr.detail;
    Explain(e, {finding::kBadGateway, finding::kGatewayTimeout, finding::kHttpError,
                finding::kUnexpectedStatus, finding::kHttpTimeout, finding::kNotHttp},
            "The HTTP check fails: " + tr.detail + ".", "Read the server's error log.");
    const bool plain = r_.spec.http && r_.spec.http->plain;
    Compose(e, r_.spec.origin + ": " + HttpTarget(r_) + " answers " + tr.detail + " (" +
                   (plain ? "plain HTTP on " + HostPort(r_.spec.address, r_.spec.port)
                          : Target(r_.spec)) +
                   ")" + (tr.kind == AlertKind::kUpdated ? ", " + Escalation(tr) : "") + ".");
    return e;
  }

  AlertEvent Sni(const Transition& tr, const ProbeResult* ref) {
    if (tr.kind == AlertKind::kResolved) {
      return Resolved(rule::kSniChanged, tr, "the handshake works again (" + GoodRun() + ")");
    }
    AlertEvent e = Base(rule::kSniChanged, tr);
    std::string head = r_.spec.origin + ": " + Phrase(r_.spec) +
                       (prev_.last_ok_ms > 0 ? " now fails (" : " fails (") + tr.detail + ")";
    std::string own_summary, own_fix;
    if (ref != nullptr) {
      head += " while " + SniText(ref->spec) + " still works";
      e.facts_before["working_variant"] = ref->VariantLabel();
      if (ref->ok()) e.facts_before["working_version"] = ref->version;
    }
    if (!r_.spec.sni) {
      head += ": proxies and fetchers that connect by IP without SNI will get 502";
      own_summary = "Works with SNI, fails without SNI (" + tr.detail + ").";
      own_fix =
          "Make every client send SNI (nginx: proxy_ssl_server_name on; HAProxy: \"sni "
          "req.hdr(host)\" on the server line), or give the origin a default certificate for "
          "connections without SNI.";
    } else {
      head += ": clients that ask for " + *r_.spec.sni + " get no connection";
      own_summary = "The origin refuses SNI " + *r_.spec.sni + " (" + tr.detail +
                    ") while it accepts another name.";
      own_fix = "Check that the origin still has a certificate and a virtual host for " +
                *r_.spec.sni + " (nginx: server_name; CDN: the hostname's certificate binding).";
    }
    Explain(e, {finding::kSniRequired}, own_summary, own_fix);
    if (e.finding_code.empty()) Explain(e, {}, own_summary, own_fix);
    Compose(e, head + ".");
    return e;
  }

  AlertEvent Name(const Transition& tr, const std::vector<std::string>& uncovered) {
    if (tr.kind == AlertKind::kResolved) {
      return Resolved(rule::kNameNotCovered, tr,
                      "the certificate covers every expected name again (" + GoodRun() + ")");
    }
    AlertEvent e = Base(rule::kNameNotCovered, tr);
    const CertInfo& leaf = *r_.leaf();
    Explain(e, {finding::kNameOnlyInCn, finding::kNameMismatch, finding::kWrongCertWithoutSni},
            "The certificate (" + DescribeCert(leaf) + ") does not cover " + Join(uncovered, ", ") +
                ".",
            "Deploy a certificate whose subjectAltName lists " + Join(uncovered, ", ") +
                ", or correct expect_names if the name is no longer served.");
    Compose(e, r_.spec.origin + ": the certificate served for " + Target(r_.spec) + " (" +
                   DescribeCert(leaf) + ") " +
                   (prev_.last_leaf.sha256 == CertId(leaf) || prev_.last_leaf.sha256.empty() ? "does not cover "
                                                                                             : "no longer covers ") +
                   Join(uncovered, ", ") +
                   ": clients asking for " + (uncovered.size() == 1 ? "this name" : "these names") +
                   " get a certificate error.");
    return e;
  }

  AlertEvent Chain(const Transition& tr) {
    if (tr.kind == AlertKind::kResolved) {
      return Resolved(rule::kChainInvalid, tr, "the chain verifies again (" + GoodRun() + ")");
    }
    AlertEvent e = Base(rule::kChainInvalid, tr);
    Explain(e,
            {finding::kChainIncomplete, finding::kChainUntrusted, finding::kCertExpired,
             finding::kCertNotYetValid, finding::kSelfSigned},
            "The certificate chain does not verify: " + tr.detail + ".",
            "Serve the full chain (leaf, then intermediates) issued by a publicly trusted CA, "
            "with every certificate inside its validity period.");
    Compose(e, r_.spec.origin + ": the certificate chain served for " + Target(r_.spec) +
                   " no longer verifies (" + tr.detail + "): clients reject the connection.");
    return e;
  }

  AlertEvent Downgrade(const Transition& tr, const std::string& reasons) {
    if (tr.kind == AlertKind::kResolved) {
      return Resolved(
          rule::kDowngrade, tr,
          "it negotiates " + r_.version + " with " + r_.cipher + " again (" + GoodRun() + ")");
    }
    AlertEvent e = Base(rule::kDowngrade, tr);
    e.facts_before = NegotiatedFacts(prev_.baseline_version, prev_.baseline_cipher);
    e.summary = "It now negotiates " + r_.version + " with " + r_.cipher +
                "; the last good result negotiated " + prev_.baseline_version + " with " +
                prev_.baseline_cipher + ".";
    e.fix =
        "If nobody changed the origin's TLS settings on purpose, restore them (nginx: "
        "ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers with ECDHE and AES-GCM or CHACHA20 suites "
        "first) and check whether another load balancer or a middlebox now terminates TLS on "
        "this address.";
    if (t_.downgrade_accept_after_days > 0) {
      e.fix += " If it was deliberate, the new level becomes the baseline after " +
               std::to_string(t_.downgrade_accept_after_days) + " days and the alert resolves.";
    }
    std::string head =
        r_.spec.origin + ": " + Phrase(r_.spec) + " was downgraded (" + reasons + ")";
    if (tr.kind == AlertKind::kUpdated) head += ", " + Escalation(tr);
    Compose(e, head + ".");
    return e;
  }

  AlertEvent Accepted(const Transition& tr) {
    AlertEvent e = Base(rule::kDowngrade, tr);
    e.kind = AlertKind::kResolved;
    e.facts_before = NegotiatedFacts(prev_.baseline_version, prev_.baseline_cipher);
    e.summary = r_.version + " with " + r_.cipher + " is now the baseline of this variant.";
    e.fix = "No action needed if the change was deliberate.";
    Compose(e, r_.spec.origin + ": resolved: " + RuleTitle(rule::kDowngrade) + " for " +
                   Target(r_.spec) + ": the downgrade to " + r_.version + " with " + r_.cipher +
                   " has lasted since " + FormatDate(tr.since_ms / 1000) +
                   " and is accepted as the new baseline.");
    return e;
  }

  AlertEvent CertChanged(const LeafFacts& before, const CertInfo& leaf) {
    std::vector<std::string> what;
    what.push_back("new fingerprint " + ShortSha(before.sha256) + " -> " + ShortSha(CertId(leaf)));
    bool significant = false;
    if (before.issuer != leaf.issuer) {
      what.push_back("new issuer \"" + leaf.issuer + "\" (was \"" + before.issuer + "\")");
      significant = true;
    }
    if (before.key != KeyText(leaf)) {
      what.push_back("new key " + KeyText(leaf) + " (was " + before.key + ")");
      significant = true;
    }
    if (before.subject != leaf.subject) {
      what.push_back("new subject \"" + leaf.subject + "\" (was \"" + before.subject + "\")");
    }
    AlertEvent e;
    e.rule = std::string(rule::kCertChanged);
    e.kind = AlertKind::kEvent;
    e.severity = significant ? Severity::kWarning : Severity::kInfo;
    e.key = r_.spec.origin + "|" + e.rule + "|" + before.sha256 + ">" + CertId(leaf);
    e.origin = r_.spec.origin;
    e.variant = r_.VariantLabel();
    e.address = HostPort(r_.spec.address, r_.spec.port);
    e.at_ms = now_ms_;
    e.since_ms = now_ms_;
    e.facts_before = {{"sha256", before.sha256},
                      {"subject", before.subject},
                      {"issuer", before.issuer},
                      {"key", before.key},
                      {"not_after", FormatDate(before.not_after)}};
    e.facts_after = {{"sha256", CertId(leaf)},
                     {"subject", leaf.subject},
                     {"issuer", leaf.issuer},
                     {"key", KeyText(leaf)},
                     {"not_after", FormatDate(leaf.not_after)}};
    Explain(e,
            {finding::kNameOnlyInCn, finding::kNameMismatch, finding::kWrongCertWithoutSni, finding::kChainIncomplete,
             finding::kChainUntrusted, finding::kCertExpired, finding::kCertNotYetValid,
             finding::kSelfSigned, finding::kCertExpiringSoon},
            "The new certificate (" + DescribeCert(leaf) + ") is valid until " +
                FormatDate(leaf.not_after) + ".",
            significant ? "If the change was not planned, find out who deployed it; update "
                          "certificate or key pins and clients that trust only the old issuer."
                        : "No action needed if this is a planned renewal.");
    Compose(e, r_.spec.origin + ": the certificate served for " + Target(r_.spec) +
                   " changed: " + Join(what, "; ") + ".");
    return e;
  }

 private:
  const VariantAlertState& prev_;
  const ProbeResult& r_;
  const AlertThresholds& t_;
  int64_t now_ms_;
  Explainer explain_;
};

LeafFacts FactsOf(const CertInfo& leaf) {
  return {CertId(leaf), leaf.subject, leaf.issuer, KeyText(leaf), leaf.not_after};
}

}  // namespace


// --- per-variant evaluation --------------------------------------------------

Evaluation EvaluateProbe(const VariantAlertState& prev, const ProbeResult& result,
                         const std::vector<const ProbeResult*>& siblings, const Diagnosis& diagnosis,
                         const AlertThresholds& t, int64_t now_ms) {
  Evaluation ev{prev, {}};
  if (result.started_at_ms != 0 && result.started_at_ms < prev.last_at_ms) return ev;  // late
  VariantAlertState& s = ev.state;
  s.origin = result.spec.origin;
  s.variant = result.VariantLabel();
  s.address = result.spec.address;
  s.variant_key = VariantKey(result.spec);
  s.last_at_ms = std::max(prev.last_at_ms, result.started_at_ms);
  s.last_outcome = result.outcome;
  if (result.ok()) {
    s.consecutive_successes = std::min(s.consecutive_successes + 1, kCountCap);
    s.consecutive_failures = 0;
    s.failing_since_ms = 0;
    s.last_ok_ms = now_ms;
  } else if (!SaysNothingOfOrigin(result)) {
    if (s.consecutive_failures == 0 || s.failing_since_ms == 0) s.failing_since_ms = result.started_at_ms;
    s.consecutive_failures = std::min(s.consecutive_failures + 1, kCountCap);
    s.consecutive_successes = 0;
  }

  EventWriter w(prev, result, diagnosis, t, now_ms);
  const Observations o = Observe(prev, result, siblings);

  if (auto tr = Step(s.rules[std::string(rule::kHandshakeFailed)], o.handshake, t, now_ms)) {
    ev.events.push_back(w.Handshake(*tr));
  }
  if (auto tr = Step(s.rules[std::string(rule::kSniChanged)], o.sni, t, now_ms)) {
    ev.events.push_back(w.Sni(*tr, o.sni_ref));
  }
  if (auto tr = Step(s.rules[std::string(rule::kNameNotCovered)], o.name, t, now_ms)) {
    ev.events.push_back(w.Name(*tr, o.uncovered));
  }
  if (auto tr = Step(s.rules[std::string(rule::kChainInvalid)], o.chain, t, now_ms)) {
    ev.events.push_back(w.Chain(*tr));
  }
  if (auto tr = Step(s.rules[std::string(rule::kHttpFailed)], o.http, t, now_ms)) {
    ev.events.push_back(w.Http(*tr));
  }

  // downgrade: a long-lasting downgrade becomes the new baseline.
  RuleTrack& dg = s.rules[std::string(rule::kDowngrade)];
  const int64_t accept_ms = int64_t{t.downgrade_accept_after_days} * kDayMs;
  if (o.downgrade.obs == Obs::kBad && dg.open && accept_ms > 0 &&
      now_ms - dg.since_ms >= accept_ms) {
    ev.events.push_back(w.Accepted(
        Transition{AlertKind::kResolved, dg.severity, dg.severity, dg.since_ms, dg.detail}));
    dg = RuleTrack{};
    s.baseline_version = result.version;
    s.baseline_cipher = result.cipher;
  } else {
    if (auto tr = Step(dg, o.downgrade, t, now_ms)) {
      ev.events.push_back(w.Downgrade(*tr, o.downgrade_reasons));
    }
    if (o.downgrade.obs == Obs::kGood) {
      s.baseline_version = result.version;
      s.baseline_cipher = result.cipher;
    }
  }

  // cert_changed: an event against the last leaf this variant served.
  if (const CertInfo* leaf = result.leaf()) {
    if (!prev.last_leaf.sha256.empty() && prev.last_leaf.sha256 != CertId(*leaf)) {
      ev.events.push_back(w.CertChanged(prev.last_leaf, *leaf));
    }
    s.last_leaf = FactsOf(*leaf);
  }
  return ev;
}

std::vector<AlertEvent> RetireVariant(const VariantAlertState& prev, std::string_view reason,
                                      int64_t now_ms) {
  std::vector<AlertEvent> out;
  for (std::string_view r : kStateRules) {
    auto it = prev.rules.find(std::string(r));
    if (it == prev.rules.end() || !it->second.open) continue;
    const RuleTrack& t = it->second;
    AlertEvent e;
    e.rule = std::string(r);
    e.kind = AlertKind::kResolved;
    e.severity = t.severity;
    e.key = prev.origin + "|" + e.rule + "|" + prev.variant_key;
    e.origin = prev.origin;
    e.variant = prev.variant;
    e.address = HostPortOfKey(prev.variant_key);
    e.at_ms = now_ms;
    e.since_ms = t.since_ms;
    e.facts_before["detail"] = t.detail;
    e.summary = "The variant is no longer probed: " + std::string(reason) + ".";
    e.fix = "No action needed.";
    e.message = prev.origin + ": resolved: " + RuleTitle(r) + " for " + prev.variant + " on " +
                HostPortOfKey(prev.variant_key) + ": " + std::string(reason) + "; open since " +
                FormatDate(t.since_ms / 1000) + " (" + t.detail + ").";
    out.push_back(std::move(e));
  }
  return out;
}


}  // namespace originwatch
