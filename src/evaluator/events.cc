// From an AlertEvent to what the store records: the episode counter, the
// deterministic event id, the webhook body, the tags and the routes; and the
// evaluator's configuration snapshot (evaluator.h).
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>

#include "evaluator/evaluator_internal.h"
#include "originwatch/evaluator.h"
#include "originwatch/webhook.h"

namespace originwatch {
namespace {

bool Matches(const std::vector<std::string>& filter, const std::string& value) {
  return filter.empty() || std::find(filter.begin(), filter.end(), value) != filter.end();
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}


}  // namespace

std::string DeterministicEventId(const std::string& dedup_key, int64_t episode, std::string_view kind,
                                 int64_t update) {
  // The inputs, unambiguously separated (a key may hold any byte but NUL).
  std::string input = "originwatch.event/1";
  input += '\0';
  input += dedup_key;
  input += '\0';
  input += std::to_string(episode);
  input += '\0';
  input += kind;
  input += '\0';
  input += std::to_string(update);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), md, &len, EVP_sha256(), nullptr);
  // UUID layout, version 8 (RFC 9562: custom, here name-based on SHA-256).
  md[6] = static_cast<unsigned char>((md[6] & 0x0f) | 0x80);
  md[8] = static_cast<unsigned char>((md[8] & 0x3f) | 0x80);
  char out[37];
  std::snprintf(out, sizeof(out),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0], md[1],
                md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11], md[12], md[13],
                md[14], md[15]);
  return out;
}

void Evaluator::Record(AlertEvent e, Commit& c) {
  EpisodeRecord& ep = episodes_[e.key];
  ep.dedup_key = e.key;
  int64_t update = 0;
  switch (e.kind) {
    case AlertKind::kFiring:
    case AlertKind::kEvent:
      ++ep.episode;
      ep.updates = 0;
      break;
    case AlertKind::kUpdated:
      update = ++ep.updates;
      break;
    case AlertKind::kResolved:
      if (ep.episode == 0) ep.episode = 1;  // opened before episodes were counted
      break;
  }
  c.episodes.push_back(ep);
  ++stats_.events;

  EventRecord r;
  r.kind = std::string(AlertKindName(e.kind));
  r.event_id = DeterministicEventId(e.key, ep.episode, r.kind, update);
  r.rule = e.rule;
  r.severity = std::string(SeverityName(e.severity));
  r.dedup_key = e.key;
  r.origin = e.origin;
  std::vector<std::string> tags;
  for (const std::string& o : SplitComma(e.origin)) {
    auto it = config_->origin_tags.find(o);
    if (it == config_->origin_tags.end()) continue;
    for (const std::string& t : it->second)
      if (std::find(tags.begin(), tags.end(), t) == tags.end()) tags.push_back(t);
  }
  for (const std::string& t : tags) r.tags += (r.tags.empty() ? "" : ",") + t;
  r.variant = e.variant;
  r.address = e.address;
  r.finding_code = e.finding_code;
  r.summary = e.summary;
  r.fix = e.fix;
  r.at_ms = e.at_ms;
  r.webhooks = config_->Routes(e);

  EventPayloadInput p;
  p.event_id = r.event_id;
  p.kind = r.kind;
  p.rule = e.rule;
  p.severity = r.severity;
  p.origin = e.origin;
  p.tags = std::move(tags);
  p.variant = e.variant;
  p.address = e.address;
  p.finding_code = e.finding_code;
  p.summary = e.summary;
  p.fix = e.fix;
  p.message = e.message;
  p.facts_before = std::move(e.facts_before);
  p.facts_after = std::move(e.facts_after);
  p.at_ms = e.at_ms;
  p.alert_opened_ms = e.kind == AlertKind::kEvent ? 0 : e.since_ms;
  r.payload = BuildEventPayload(p);
  c.events.push_back(std::move(r));
}

// --- configuration ---------------------------------------------------------------

const AlertThresholds& EvaluatorConfig::For(const std::string& origin) const {
  auto it = per_origin.find(origin);
  return it == per_origin.end() ? global : it->second;
}

std::vector<std::string> EvaluatorConfig::Routes(const AlertEvent& e) const {
  std::vector<std::string> out;
  const std::vector<std::string> origins = SplitComma(e.origin);  // cert_expiry names several
  for (const WebhookConfig& w : webhooks) {
    if (!Matches(w.rules, e.rule)) continue;
    if (!Matches(w.severities, std::string(SeverityName(e.severity)))) continue;
    if (!w.tags.empty()) {
      bool any = false;
      for (const std::string& o : origins) {
        auto it = origin_tags.find(o);
        if (it == origin_tags.end()) continue;
        for (const std::string& tag : it->second) any |= Matches(w.tags, tag);
      }
      if (!any) continue;
    }
    out.push_back(w.name);
  }
  return out;
}

Result<std::shared_ptr<const EvaluatorConfig>> BuildEvaluatorConfig(const AgentConfig& cfg) {
  auto ctx = std::make_shared<EvaluatorConfig>();
  ctx->global = ApplyOverrides(AlertThresholds{}, cfg.alerts);
  if (Status s = ValidateThresholds(ctx->global); !s.ok())
    return Status::InvalidArgument(cfg.source_path + ": [alerts]: " + s.message());
  for (const OriginConfig& o : cfg.origins) {
    ctx->origin_tags[o.name] = o.tags;
    ctx->origin_hosts[o.name] = o.host;
    if (!o.upstream.empty()) ctx->origin_upstreams[o.name] = o.upstream;
    const AlertSettings& a = o.alerts;
    if (a.fail_after || a.resolve_after || a.expiry_warning_days || a.expiry_critical_days ||
        a.lifetime_warning_fraction || a.lifetime_critical_fraction || a.downgrade_accept_after_days) {
      AlertThresholds t = ApplyOverrides(ctx->global, a);
      if (Status s = ValidateThresholds(t); !s.ok())
        return Status::InvalidArgument(cfg.source_path + ":" + std::to_string(o.line) + ": origin \"" +
                                       o.name + "\" [alerts]: " + s.message());
      ctx->per_origin[o.name] = t;
    }
  }
  ctx->webhooks = cfg.webhooks;
  // An [[alertmanager]] is routed like a webhook named "alertmanager:NAME"
  // (its filters alone matter here); the sender delivers it the Alertmanager way.
  for (const AlertmanagerConfig& a : cfg.alertmanagers) {
    WebhookConfig route;
    route.name = std::string(kAlertmanagerRoutePrefix) + a.name;
    route.rules = a.rules;
    route.severities = a.severities;
    route.tags = a.tags;
    ctx->webhooks.push_back(std::move(route));
  }
  ctx->profiles = cfg.profiles;
  return std::shared_ptr<const EvaluatorConfig>(std::move(ctx));
}

namespace evaluator_internal {

bool DurableEqual(const RuleTrack& a, const RuleTrack& b, int cap) {
  return a.open == b.open && a.severity == b.severity && a.since_ms == b.since_ms &&
         std::min(a.bad, cap) == std::min(b.bad, cap) && std::min(a.good, cap) == std::min(b.good, cap);
}

bool DurableEqual(const VariantAlertState& a, const VariantAlertState& b, int cap) {
  if (a.origin != b.origin || a.variant_key != b.variant_key || a.last_leaf.sha256 != b.last_leaf.sha256 ||
      a.baseline_version != b.baseline_version || a.baseline_cipher != b.baseline_cipher ||
      (a.last_outcome == Outcome::kOk) != (b.last_outcome == Outcome::kOk) ||
      a.consecutive_failures != b.consecutive_failures ||  // the failing view shows it
      std::min(a.consecutive_successes, cap) != std::min(b.consecutive_successes, cap) ||
      a.failing_since_ms != b.failing_since_ms ||
      (a.last_ok_ms == 0) != (b.last_ok_ms == 0)) {
    return false;
  }
  auto live = [](const std::map<std::string, RuleTrack>& m) {
    size_t n = 0;
    for (const auto& [k, t] : m) n += (t.bad != 0 || t.good != 0 || t.open);
    return n;
  };
  if (live(a.rules) != live(b.rules)) return false;
  for (const auto& [name, tb] : b.rules) {
    auto it = a.rules.find(name);
    const RuleTrack ta = it == a.rules.end() ? RuleTrack{} : it->second;
    if (!DurableEqual(ta, tb, cap)) return false;
  }
  return true;
}

}  // namespace evaluator_internal
}  // namespace originwatch
