// What the agent shows of an origin over HTTP (/metrics, /api/v1/origins, the
// status page): an immutable snapshot, built by the evaluator thread after
// the results that changed the origin, published through a ViewSink and read
// by the HTTP thread without any lock held while it renders.
//
// Ownership: a published OriginView is never changed again (shared_ptr<const>);
// a newer snapshot replaces it whole.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "originwatch/probe.h"

namespace originwatch {

// One probe in an origin's recent strip.
struct ProbeMark {
  int64_t at_ms = 0;  // started_at_ms
  Outcome outcome = Outcome::kInternal;
  int64_t handshake_ms = -1;
  int http_status = 0;  // 0: no HTTP check, or no status read
  bool passed = false;  // ProbePassed
};

// The probe worked: connected, handshake done (for https), and with an HTTP
// check an answer whose status the check expects (a front answering 502 did
// not pass, though its TCP connect did).
inline bool ProbePassed(const ProbeResult& r) {
  if (!r.ok()) return false;
  if (!r.spec.http) return true;
  return r.http.outcome == HttpOutcome::kOk && r.spec.http->Expected(r.http.status);
}

// One variant (origin x address x SNI x profile): its last result, without
// certificate bytes and with the leaf only, and its recent probes.
struct VariantView {
  std::string key;      // VariantKeyOf: "address:port|sni=NAME|profile"
  std::string address;  // "ip:port" ("[v6]:port")
  std::string sni;      // "none" without SNI
  std::string profile;
  ProbeResult last;                // chain holds the leaf only, der empty
  std::vector<ProbeMark> recent;   // oldest first, at most kRecentProbes
  std::vector<std::string> open_rules;  // alert rules open on this variant
};

struct FindingView {
  std::string code;
  std::string severity;  // "info", "warning", "critical"
  std::string summary;
  std::string fix;
};

struct AlertView {
  std::string rule;
  std::string variant;   // the variant key, "" for an origin-wide alert (dns_error)
  std::string severity;
  int64_t since_ms = 0;
  std::string detail;
};

struct OriginView {
  static constexpr size_t kRecentProbes = 30;

  std::string name;
  std::string host;
  // "ok" (healthy), "warning", "critical" (the worst finding), "unknown" (no
  // result yet).
  std::string state = "unknown";
  int64_t updated_ms = 0;  // unix ms of the snapshot
  std::vector<VariantView> variants;  // by key
  std::vector<FindingView> findings;  // the diagnosis, lead first
  std::vector<AlertView> open_alerts;
  // The leaf certificate served by most variants (ties: the soonest expiry);
  // not_after 0 when no variant got a certificate.
  std::string cert_subject;
  std::string cert_issuer;
  int64_t cert_not_after = 0;  // unix seconds
};

// Where the evaluator stage publishes (the agent's Observatory). Called from
// the evaluator thread only; implementations must not block it.
class ViewSink {
 public:
  virtual ~ViewSink() = default;
  virtual void Publish(std::shared_ptr<const OriginView> view) = 0;
  // The configured origins after a (re)configuration: the others are dropped.
  virtual void Retain(const std::set<std::string>& origins) = 0;
  // One probe result was evaluated (probes_total by outcome).
  virtual void CountProbe(Outcome outcome) = 0;
};

}  // namespace originwatch
