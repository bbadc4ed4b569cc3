// Evaluator::View (evaluator.h): a snapshot of one origin for the HTTP
// endpoint, built on the evaluator thread from the state it already holds.
#include <algorithm>
#include <map>

#include "evaluator/evaluator_internal.h"
#include "originwatch/evaluator.h"

namespace originwatch {
namespace {

// "[::1]:443|sni=x|modern" -> address, sni ("none" without SNI), profile.
void SplitVariantKey(const std::string& key, VariantView* v) {
  const size_t a = key.find('|');
  const size_t b = a == std::string::npos ? std::string::npos : key.find('|', a + 1);
  v->address = key.substr(0, a);
  if (b == std::string::npos) return;
  const std::string sni = key.substr(a + 1, b - a - 1);
  v->sni = sni.starts_with("sni=") ? sni.substr(4) : "none";
  v->profile = key.substr(b + 1);
}

}  // namespace

std::set<std::string> Evaluator::ConfiguredOrigins() const {
  std::set<std::string> out;
  for (const auto& [name, host] : config_->origin_hosts) out.insert(name);
  return out;
}

std::shared_ptr<OriginView> Evaluator::View(const std::string& origin, int64_t now_ms) const {
  auto host = config_->origin_hosts.find(origin);
  if (host == config_->origin_hosts.end()) return nullptr;
  auto view = std::make_shared<OriginView>();
  view->name = origin;
  view->host = host->second;
  view->updated_ms = now_ms;
  auto it = origins_.find(origin);
  if (it == origins_.end()) return view;
  const Origin& o = it->second;

  std::map<std::string, std::pair<int, int64_t>> leaves;  // sha -> (variants serving, not_after)
  const CertInfo* best = nullptr;
  for (const auto& [vkey, v] : o.variants) {
    if (v.latest < 0) continue;
    const ProbeResult& r = o.latest[static_cast<size_t>(v.latest)];
    VariantView vv;
    vv.key = vkey;
    SplitVariantKey(vkey, &vv);
    vv.last.spec = r.spec;  // with its HTTP check: what the answer is judged by
    vv.last.http = r.http;
    vv.last.started_at_ms = r.started_at_ms;
    vv.last.connect_ms = r.connect_ms;
    vv.last.handshake_ms = r.handshake_ms;
    vv.last.total_ms = r.total_ms;
    vv.last.outcome = r.outcome;
    vv.last.alert = r.alert;
    vv.last.error_text = r.error_text;
    vv.last.version = r.version;
    vv.last.cipher = r.cipher;
    vv.last.group = r.group;
    vv.last.alpn = r.alpn;
    vv.last.chain_verified = r.chain_verified;
    vv.last.verify_error = r.verify_error;
    if (const CertInfo* leaf = r.leaf()) {
      CertInfo l = *leaf;
      l.der.clear();
      l.dns_names.clear();
      l.ip_names.clear();
      vv.last.chain.push_back(std::move(l));
      auto& [n, not_after] = leaves[leaf->sha256_hex];
      ++n;
      not_after = leaf->not_after;
    }
    vv.open_rules = v.state.OpenRules();
    for (const auto& [rule_name, track] : v.state.rules) {
      if (track.open)
        view->open_alerts.push_back({rule_name, vkey, std::string(SeverityName(track.severity)), track.since_ms,
                                     track.detail});
    }
    view->variants.push_back(std::move(vv));
  }
  // The leaf most variants serve (ties: the one that expires first).
  int best_n = 0;
  for (const VariantView& vv : view->variants) {
    if (vv.last.chain.empty()) continue;
    const CertInfo& l = vv.last.chain.front();
    const int n = leaves[l.sha256_hex].first;
    if (best == nullptr || n > best_n || (n == best_n && l.not_after < best->not_after)) {
      best = &l;
      best_n = n;
    }
  }
  if (best != nullptr) {
    view->cert_subject = best->subject;
    view->cert_issuer = best->issuer;
    view->cert_not_after = best->not_after;
    auto c = certs_.find(best->sha256_hex);
    if (c != certs_.end() && c->second.open)
      view->open_alerts.push_back({"cert_expiry", "", std::string(SeverityName(c->second.severity)),
                                   c->second.since_ms, ""});
  }
  if (o.dns.open)
    view->open_alerts.push_back({"dns_error", "", std::string(SeverityName(o.dns.severity)), o.dns.since_ms,
                                 o.dns.detail});

  // The diagnosis OnResult made (and correlated with the upstream): the same
  // findings the alerts, the store and the webhooks got, not a second one.
  if (o.latest.empty() || o.diagnosis.findings.empty()) return view;
  Diagnosis d = o.diagnosis;
  Severity worst = Severity::kInfo;
  for (Finding& f : d.findings) {
    worst = std::max(worst, f.severity);
    view->findings.push_back({f.code, std::string(SeverityName(f.severity)), std::move(f.summary), std::move(f.fix)});
  }
  view->state = d.healthy() && worst == Severity::kInfo ? "ok"
                : worst == Severity::kCritical          ? "critical"
                : worst == Severity::kWarning           ? "warning"
                                                        : "unknown";
  return view;
}

}  // namespace originwatch
