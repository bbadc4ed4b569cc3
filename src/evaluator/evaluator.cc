// The evaluator's per-result path (evaluator.h): latest results, one
// diagnosis, the pure rules, one Commit.
#include "originwatch/evaluator.h"

#include <algorithm>
#include <utility>

#include "evaluator/correlate.h"
#include "evaluator/evaluator_internal.h"

namespace originwatch {

using evaluator_internal::DurableEqual;
using evaluator_internal::kCertPrefix;
using evaluator_internal::kDnsPrefix;
using evaluator_internal::kAddressesPrefix;
using evaluator_internal::kVariantPrefix;

std::string VariantIdentity(const std::string& origin, const ProbeSpec& spec) {
  return std::string(kVariantPrefix) + origin + "|" + VariantKeyOf(spec);
}

Evaluator::Evaluator(std::shared_ptr<const EvaluatorConfig> config, const AlertSnapshot& restored)
    : config_(std::move(config)) {
  for (const EpisodeRecord& e : restored.episodes) episodes_[e.dedup_key] = e;
  for (const StateRecord& st : restored.states) {
    const std::string& key = st.key;
    if (key.starts_with(kVariantPrefix)) {
      auto s = AlertStateFromJson(st.value);
      if (!s.ok() || s->origin.empty() || s->variant_key.empty()) continue;
      Variant& v = origins_[s->origin].variants[s->variant_key];
      v.state = s.value();
      v.persisted = v.state;
      if (!v.state.last_leaf.sha256.empty()) {
        Serving& sv = serving_[v.state.last_leaf.sha256];
        sv.Add(std::string(kVariantPrefix) + s->origin + "|" + s->variant_key, s->origin);
        sv.strictest_dirty = true;
        CertInfo& facts = cert_facts_[v.state.last_leaf.sha256];
        facts.sha256_hex = v.state.last_leaf.sha256;
        facts.subject = v.state.last_leaf.subject;
        facts.issuer = v.state.last_leaf.issuer;
        facts.not_after = v.state.last_leaf.not_after;
      }
    } else if (key.starts_with(kCertPrefix)) {
      auto s = CertExpiryStateFromJson(st.value);
      if (s.ok()) certs_[key.substr(kCertPrefix.size())] = s.value();
    } else if (key.starts_with(kDnsPrefix)) {
      auto t = RuleTrackFromJson(st.value);
      if (!t.ok()) continue;
      Origin& o = origins_[key.substr(kDnsPrefix.size())];
      o.dns = t.value();
      o.dns_persisted = o.dns;
    } else if (key.starts_with(kAddressesPrefix)) {
      books_[key.substr(kAddressesPrefix.size())] = st.value;
    }
  }
}

Commit Evaluator::OnResult(ProbeResult r, int64_t now_ms) {
  ++stats_.results;
  Commit c;
  c.at_ms = now_ms;
  const std::string origin = r.spec.origin;
  if (!config_->Configured(origin)) {  // removed while in flight: history only
    c.probe = std::move(r);
    return c;
  }
  Origin& o = origins_[origin];
  if (o.dns_ms >= 0 && r.dns_ms < 0) {  // the address came from this origin's last lookup
    r.dns_ms = o.dns_ms;
    r.dns_cached = o.dns_cached;
    r.dns_addresses = o.dns_addresses;
    r.dns_ttl_ms = o.dns_ttl_ms;
    r.dns_resolver = o.dns_resolver;
  }
  const std::string vkey = VariantKeyOf(r.spec);
  Variant& v = o.variants[vkey];
  if (r.started_at_ms != 0 && r.started_at_ms < v.state.last_at_ms) {  // late: history only
    c.probe = std::move(r);
    return c;
  }
  // The latest result of this variant, without certificate bytes (the store
  // keeps the DER); the commit keeps the original.
  if (v.latest < 0) {
    v.latest = static_cast<int>(o.latest.size());
    o.latest.emplace_back();
  }
  ProbeResult& latest = o.latest[static_cast<size_t>(v.latest)];
  latest.spec = r.spec;
  latest.started_at_ms = r.started_at_ms;
  latest.connect_ms = r.connect_ms;
  latest.handshake_ms = r.handshake_ms;
  latest.total_ms = r.total_ms;
  latest.outcome = r.outcome;
  latest.alert = r.alert;
  latest.alert_sent = r.alert_sent;
  latest.error_text = r.error_text;
  latest.first_bytes = r.first_bytes;
  latest.bytes_read = r.bytes_read;
  latest.bytes_written = r.bytes_written;
  latest.version = r.version;
  latest.cipher = r.cipher;
  latest.group = r.group;
  latest.alpn = r.alpn;
  latest.chain.resize(r.chain.size());
  for (size_t i = 0; i < r.chain.size(); ++i) {
    const CertInfo& from = r.chain[i];
    CertInfo& to = latest.chain[i];
    to.subject = from.subject;
    to.issuer = from.issuer;
    to.common_name = from.common_name;
    to.serial_hex = from.serial_hex;
    to.dns_names = from.dns_names;
    to.ip_names = from.ip_names;
    to.not_before = from.not_before;
    to.not_after = from.not_after;
    to.key_type = from.key_type;
    to.key_bits = from.key_bits;
    to.key_curve = from.key_curve;
    to.signature_algorithm = from.signature_algorithm;
    to.sha256_hex = from.sha256_hex;
    to.self_issued = from.self_issued;
    to.is_ca = from.is_ca;
    to.der.clear();
  }
  latest.chain_verified = r.chain_verified;
  latest.verify_code = r.verify_code;
  latest.verify_error = r.verify_error;
  latest.verify_depth = r.verify_depth;
  latest.names = r.names;
  latest.ocsp_stapled = r.ocsp_stapled;
  latest.http = r.http;

  // One diagnosis of the origin, with the configured profiles and thresholds.
  const AlertThresholds& t = config_->For(origin);
  DiagnoseOptions dopts;
  dopts.now_s = now_ms / 1000;
  dopts.expiry_warning_days = t.expiry_warning_days;
  dopts.profiles = config_->profiles;
  Diagnosis d = Diagnose(o.latest, dopts);
  ++stats_.diagnoses;
  Correlate(origin, o, d);
  o.diagnosis = d;
  c.lead = FindingRecord{d.lead().code, d.lead().summary};

  std::vector<const ProbeResult*> siblings;
  siblings.reserve(o.latest.size());
  for (size_t i = 0; i < o.latest.size(); ++i) {
    if (static_cast<int>(i) != v.latest) siblings.push_back(&o.latest[i]);
  }
  const std::string old_sha = v.state.last_leaf.sha256;
  Evaluation ev = EvaluateProbe(v.state, latest, siblings, d, t, now_ms);
  v.state = std::move(ev.state);
  for (AlertEvent& e : ev.events) Record(std::move(e), c);
  for (const auto& [rule_name, track] : v.state.rules) {
    if (track.open && track.last_seen_ms == now_ms)
      c.seen_keys.push_back(origin + "|" + rule_name + "|" + v.state.variant_key);
  }
  Persist(origin, vkey, v, c);
  c.counts = VariantCounts{v.state.consecutive_failures, v.state.consecutive_successes, v.state.failing_since_ms};

  if (const CertInfo* leaf = latest.leaf()) {
    CertInfo& facts = cert_facts_[leaf->sha256_hex];
    facts = *leaf;
    facts.dns_names.clear();
    facts.ip_names.clear();
    Serve(VariantIdentity(origin, r.spec), origin, old_sha, leaf->sha256_hex, now_ms, c);
  }
  c.probe = std::move(r);
  return c;
}

void Evaluator::Correlate(const std::string& origin, const Origin& o, Diagnosis& d) const {
  auto up = config_->origin_upstreams.find(origin);
  if (up == config_->origin_upstreams.end()) return;
  evaluator_internal::UpstreamView view;
  view.name = up->second;
  if (auto h = config_->origin_hosts.find(up->second); h != config_->origin_hosts.end())
    view.host = h->second;
  if (auto u = origins_.find(up->second); u != origins_.end() && !u->second.diagnosis.findings.empty()) {
    view.diagnosis = &u->second.diagnosis;
    view.latest = &u->second.latest;
  }
  for (Finding& f : d.findings) {
    if (!evaluator_internal::IsGatewayFinding(f.code)) continue;
    // The evidence: the first variant this finding explains.
    for (const ProbeResult& r : o.latest) {
      if (HttpFindingOf(r) == f.code) {
        evaluator_internal::ExplainByUpstream(f, r, view);
        break;
      }
    }
  }
}

void Evaluator::Persist(const std::string& origin, const std::string& vkey, Variant& v, Commit& c) {
  const int cap = std::max({config_->For(origin).fail_after, config_->For(origin).resolve_after, 1});
  if (DurableEqual(v.persisted, v.state, cap)) return;
  c.states.push_back({std::string(kVariantPrefix) + origin + "|" + vkey, AlertStateToJson(v.state), false});
  v.persisted = v.state;
  ++stats_.states_written;
}

}  // namespace originwatch
