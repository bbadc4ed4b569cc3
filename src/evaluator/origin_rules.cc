// The evaluator's rules of an origin or a certificate rather than of one
// result: certificate expiry shared by every variant serving a leaf, DNS
// answers and address retirement, configuration changes (evaluator.h).
#include <algorithm>
#include <set>

#include "evaluator/evaluator_internal.h"
#include "originwatch/evaluator.h"

namespace originwatch {

using evaluator_internal::DurableEqual;
using evaluator_internal::kAddressesPrefix;
using evaluator_internal::kCertPrefix;
using evaluator_internal::kDnsPrefix;
using evaluator_internal::kVariantPrefix;

namespace {

std::string JoinComma(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

// --- certificates --------------------------------------------------------------

Evaluator::Serving::Added Evaluator::Serving::Add(const std::string& identity, const std::string& origin) {
  if (!variants.emplace(identity, origin).second) return Added::kNo;
  return ++origins[origin] == 1 ? Added::kVariantAndOrigin : Added::kVariant;
}

bool Evaluator::Serving::Remove(const std::string& identity) {
  auto it = variants.find(identity);
  if (it == variants.end()) return false;
  auto o = origins.find(it->second);
  if (o != origins.end() && --o->second <= 0) {
    origins.erase(o);
    strictest_dirty = true;  // the strictest may have been the one that left
  }
  variants.erase(it);
  return true;
}

std::vector<std::string> Evaluator::Serving::OriginList() const {
  std::vector<std::string> out;
  out.reserve(origins.size());
  for (const auto& [origin, n] : origins) out.push_back(origin);
  return out;
}

void Evaluator::Serve(const std::string& identity, const std::string& origin, const std::string& old_sha,
                      const std::string& new_sha, int64_t now_ms, Commit& c) {
  if (old_sha != new_sha && !old_sha.empty()) {
    auto it = serving_.find(old_sha);
    if (it != serving_.end() && it->second.Remove(identity))
      Expiry(old_sha, now_ms, /*force=*/true, c);  // perhaps nobody serves it now
  }
  Serving& sv = serving_[new_sha];
  const Serving::Added added = sv.Add(identity, origin);
  if (added == Serving::Added::kVariantAndOrigin && !sv.strictest_dirty) {
    // One more origin: fold its thresholds in, O(1).
    const AlertThresholds& ot = config_->For(origin);
    AlertThresholds& t = sv.strictest;
    t.expiry_warning_days = std::max(t.expiry_warning_days, ot.expiry_warning_days);
    t.expiry_critical_days = std::max(t.expiry_critical_days, ot.expiry_critical_days);
    t.lifetime_warning_fraction = std::max(t.lifetime_warning_fraction, ot.lifetime_warning_fraction);
    t.lifetime_critical_fraction = std::max(t.lifetime_critical_fraction, ot.lifetime_critical_fraction);
  }
  Expiry(new_sha, now_ms, added != Serving::Added::kNo, c);
}

const Evaluator::Serving& Evaluator::ServingOf(const std::string& sha) {
  Serving& sv = serving_[sha];
  if (sv.strictest_dirty) {
    // Origins sharing a certificate with different thresholds: the strictest
    // (earliest warning) among them applies, each origin's own thresholds.
    AlertThresholds t = sv.origins.empty() ? config_->global : config_->For(sv.origins.begin()->first);
    for (const auto& [o, n] : sv.origins) {
      const AlertThresholds& ot = config_->For(o);
      t.expiry_warning_days = std::max(t.expiry_warning_days, ot.expiry_warning_days);
      t.expiry_critical_days = std::max(t.expiry_critical_days, ot.expiry_critical_days);
      t.lifetime_warning_fraction = std::max(t.lifetime_warning_fraction, ot.lifetime_warning_fraction);
      t.lifetime_critical_fraction = std::max(t.lifetime_critical_fraction, ot.lifetime_critical_fraction);
    }
    sv.strictest = t;
    sv.strictest_dirty = false;
  }
  return sv;
}

// Expiry of one leaf, shared by every origin serving it: the strictest
// thresholds among them apply. `force`: the set of origins serving it may have
// changed (an open alert then names them anew).
void Evaluator::Expiry(const std::string& sha, int64_t now_ms, bool force, Commit& c) {
  auto facts = cert_facts_.find(sha);
  CertInfo leaf;
  if (facts != cert_facts_.end()) leaf = facts->second;
  leaf.sha256_hex = sha;
  const Serving& sv = ServingOf(sha);
  const AlertThresholds t = sv.strictest;
  const bool nobody = sv.origins.empty();
  auto st = certs_.find(sha);
  const CertExpiryState prev = st == certs_.end() ? CertExpiryState{} : st->second;
  if (!prev.open && nobody) {
    if (st != certs_.end()) certs_.erase(st);
    serving_.erase(sha);
    cert_facts_.erase(sha);
    return;
  }
  const std::string alert_key = std::string(rule::kCertExpiry) + "|" + sha;
  if (!nobody) {
    // The hot path (every probe of every variant serving the leaf, and every
    // new variant of a shared leaf): decide with one origin, O(1); only an
    // event or an open alert whose origins changed needs the full list.
    ExpiryEvaluation quick = EvaluateExpiry(prev, leaf, {sv.origins.begin()->first}, t, now_ms);
    if (!quick.event && !(force && quick.state.open)) {
      const bool changed = quick.state.open != prev.open || quick.state.severity != prev.severity ||
                           quick.state.since_ms != prev.since_ms;
      if (quick.state.open) c.seen_keys.push_back(alert_key);
      if (force && changed)
        c.states.push_back({std::string(kCertPrefix) + sha, CertExpiryStateToJson(quick.state), false});
      certs_[sha] = quick.state;
      return;
    }
  }
  const std::vector<std::string> origins = sv.OriginList();
  ExpiryEvaluation ev = EvaluateExpiry(prev, leaf, origins, t, now_ms);
  const bool changed = ev.event.has_value() || ev.state.open != prev.open ||
                       ev.state.severity != prev.severity || ev.state.since_ms != prev.since_ms;
  certs_[sha] = ev.state;
  if (changed) c.states.push_back({std::string(kCertPrefix) + sha, CertExpiryStateToJson(ev.state), false});
  if (ev.event) {
    Record(std::move(*ev.event), c);
  } else if (ev.state.open) {
    c.seen_keys.push_back(alert_key);
    if (force && !origins.empty()) c.alert_origins.emplace_back(alert_key, JoinComma(origins));
  }
  if (!ev.state.open && origins.empty()) {
    certs_.erase(sha);
    c.states.push_back({std::string(kCertPrefix) + sha, "", true});
    serving_.erase(sha);
    cert_facts_.erase(sha);
  }
}

// --- retirement ----------------------------------------------------------------

void Evaluator::Retire(const std::string& origin, const std::string& vkey, const std::string& reason,
                       int64_t now_ms, Commit& c) {
  auto oit = origins_.find(origin);
  if (oit == origins_.end()) return;
  Origin& o = oit->second;
  auto vit = o.variants.find(vkey);
  if (vit == o.variants.end()) return;
  for (AlertEvent& e : RetireVariant(vit->second.state, reason, now_ms)) Record(std::move(e), c);
  const std::string identity = std::string(kVariantPrefix) + origin + "|" + vkey;
  c.states.push_back({identity, "", true});
  const std::string sha = vit->second.state.last_leaf.sha256;
  const int idx = vit->second.latest;
  o.variants.erase(vit);
  if (idx >= 0) {
    // Keep Origin::latest dense: the last entry moves into the hole.
    const size_t last = o.latest.size() - 1;
    if (static_cast<size_t>(idx) != last) {
      o.latest[static_cast<size_t>(idx)] = std::move(o.latest[last]);
      for (auto& [k, v] : o.variants)
        if (v.latest == static_cast<int>(last)) v.latest = idx;
    }
    o.latest.pop_back();
  }
  if (!sha.empty()) {
    auto it = serving_.find(sha);
    if (it != serving_.end() && it->second.Remove(identity)) Expiry(sha, now_ms, true, c);
  }
}

void Evaluator::RetireOrigin(const std::string& origin, int64_t now_ms, Commit& c) {
  auto oit = origins_.find(origin);
  if (oit == origins_.end()) return;
  std::vector<std::string> keys;
  for (const auto& [k, v] : oit->second.variants) keys.push_back(k);
  for (const std::string& k : keys) Retire(origin, k, "the origin was removed from the configuration", now_ms, c);
  RuleTrack& dns = oit->second.dns;
  if (dns.open) {
    AlertEvent e;
    e.rule = std::string(rule::kDnsError);
    e.kind = AlertKind::kResolved;
    e.severity = dns.severity;
    e.key = origin + "|" + e.rule;
    e.origin = origin;
    e.at_ms = now_ms;
    e.since_ms = dns.since_ms;
    e.facts_before["detail"] = dns.detail;
    e.summary = "The origin was removed from the configuration.";
    e.fix = "No action needed.";
    e.message = origin + ": resolved: DNS lookups failing: the origin was removed from the configuration.";
    Record(std::move(e), c);
  }
  c.states.push_back({std::string(kDnsPrefix) + origin, "", true});
  c.states.push_back({std::string(kAddressesPrefix) + origin, "", true});
  books_.erase(origin);
  origins_.erase(oit);
}

// --- DNS -------------------------------------------------------------------------

Commit Evaluator::OnDns(const DnsObservation& dns, int64_t now_ms) {
  Commit c;
  c.at_ms = now_ms;
  if (!config_->Configured(dns.origin)) return c;
  Origin& o = origins_[dns.origin];
  const AlertThresholds& t = config_->For(dns.origin);
  if (dns.resolved) {
    o.dns_ms = dns.dns_ms;
    o.dns_cached = dns.cached;
    o.dns_ttl_ms = dns.ttl_ms;
    o.dns_resolver = dns.resolver;
    o.dns_addresses.clear();
    for (const std::string& a : dns.answer) o.dns_addresses += (o.dns_addresses.empty() ? "" : ",") + a;
  }
  if (auto e = EvaluateDns(o.dns, dns.origin, dns.host, dns.resolved, dns.error, dns.addresses, t, now_ms))
    Record(std::move(*e), c);
  if (o.dns.open && o.dns.last_seen_ms == now_ms) c.seen_keys.push_back(dns.origin + "|" + std::string(rule::kDnsError));
  if (!DurableEqual(o.dns_persisted, o.dns, std::max({t.fail_after, t.resolve_after, 1}))) {
    c.states.push_back({std::string(kDnsPrefix) + dns.origin, RuleTrackToJson(o.dns), false});
    o.dns_persisted = o.dns;
  }
  // addresses_changed only for a change that held over the hysteresis
  // window: an address the book retired. New addresses are probed at once
  // without an event (a CDN's rotation); a name that moved raises the event
  // when its old addresses are retired.
  if (dns.resolved && !dns.retired.empty() && !dns.previous.empty()) {
    if (auto e = EvaluateAddresses(dns.origin, dns.previous, dns.addresses, now_ms)) Record(std::move(*e), c);
  }
  if (!dns.book_state.empty() && books_[dns.origin] != dns.book_state) {
    books_[dns.origin] = dns.book_state;
    c.states.push_back({std::string(kAddressesPrefix) + dns.origin, dns.book_state, false});
  }
  if (!dns.retired.empty()) {
    const std::set<std::string> gone(dns.retired.begin(), dns.retired.end());
    std::vector<std::string> keys;
    for (const auto& [k, v] : o.variants)
      if (gone.count(v.state.address)) keys.push_back(k);
    for (const std::string& k : keys)
      Retire(dns.origin, k, "its address left DNS (absent from every answer for the retirement window)",
             now_ms, c);
  }
  return c;
}

// --- configuration ---------------------------------------------------------------

Commit Evaluator::OnConfig(std::shared_ptr<const EvaluatorConfig> config, const PlanView& plan, int64_t now_ms) {
  // An origin whose host changed is a new name: the variants of the old
  // name's addresses are the configuration's business, not DNS's.
  std::set<std::string> renamed;
  for (const auto& [name, host] : config->origin_hosts) {
    auto old = config_->origin_hosts.find(name);
    if (old != config_->origin_hosts.end() && old->second != host) renamed.insert(name);
  }
  config_ = std::move(config);
  for (auto& [sha, sv] : serving_) sv.strictest_dirty = true;  // thresholds may have changed
  Commit c;
  c.at_ms = now_ms;
  std::vector<std::string> removed;
  for (const auto& [name, o] : origins_)
    if (!config_->Configured(name)) removed.push_back(name);
  for (const std::string& name : removed) RetireOrigin(name, now_ms, c);
  for (auto& [name, o] : origins_) {
    const bool fixed = plan.fixed_origins.count(name) > 0 || renamed.count(name) > 0;
    auto addrs = plan.addresses.find(name);
    std::vector<std::string> dropped;
    for (const auto& [vkey, v] : o.variants) {
      const std::string identity = std::string(kVariantPrefix) + name + "|" + vkey;
      if (plan.variants.count(identity)) continue;
      const bool address_planned = addrs != plan.addresses.end() && addrs->second.count(v.state.address);
      // An address absent from the plan of a resolved origin is the address
      // book's business (OnDns), never a configuration change.
      if (fixed || address_planned) dropped.push_back(vkey);
    }
    for (const std::string& k : dropped)
      Retire(name, k, "the variant is no longer probed (SNI, profile or address removed from the configuration)",
             now_ms, c);
  }
  return c;
}

}  // namespace originwatch
