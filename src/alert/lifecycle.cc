#include "alert/lifecycle.h"

#include <algorithm>
#include <random>

#include "originwatch/webhook.h"

namespace originwatch::alert {
namespace {

std::string NewEventId() {
  // 122 random bits as a UUIDv4: the idempotency key receivers dedupe on.
  // Every bit comes from the kernel (std::random_device reads getrandom on
  // Linux): a seeded PRNG would repeat ids across runs that drew the same seed.
  static thread_local std::random_device rd;
  auto word = [] { return (static_cast<uint64_t>(rd()) << 32) | rd(); };
  uint64_t a = word(), b = word();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

bool Matches(const std::vector<std::string>& filter, const std::string& value) {
  return filter.empty() || std::find(filter.begin(), filter.end(), value) != filter.end();
}

std::optional<std::string> LoadState(WriteTxn& txn, const std::string& key) {
  auto q = txn.Query("SELECT state FROM alert_state WHERE key = ?1", {key});
  if (!q.ok() || q->rows.empty() || !q->rows[0][0]) return std::nullopt;
  return *q->rows[0][0];
}

Status SaveState(WriteTxn& txn, const std::string& key, const std::string& json, int64_t now_ms) {
  auto r = txn.Exec(
      "INSERT INTO alert_state (key, state, updated_ms) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (key) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms",
      {key, json, now_ms});
  return r.ok() ? Status::Ok() : r.status();
}

AlertThresholds FromSettings(const AlertThresholds& base, const AlertSettings& s) {
  AlertThresholdOverrides o;
  o.fail_after = s.fail_after;
  o.resolve_after = s.resolve_after;
  o.expiry_warning_days = s.expiry_warning_days;
  o.expiry_critical_days = s.expiry_critical_days;
  o.lifetime_warning_fraction = s.lifetime_warning_fraction;
  o.lifetime_critical_fraction = s.lifetime_critical_fraction;
  o.downgrade_accept_after_days = s.downgrade_accept_after_days;
  return ApplyOverrides(base, o);
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

Status EvaluateLeafExpiry(WriteTxn& txn, const CertInfo& leaf, const AlertContext& ctx, int64_t now_ms);

// Expiry of one leaf, seen by one probe of `origin`, on the hot path (every
// successful probe). A certificate shared by thousands of origins (a CDN's
// wildcard) must not cost a query over all of them per probe: decide first
// with this origin alone, which is O(1), and look up every origin serving the
// certificate only when something changes (an event, or a variant that starts
// serving it while its alert is open).
Status ObserveLeafExpiry(WriteTxn& txn, const CertInfo& leaf, const std::string& origin,
                         bool newly_served, const AlertContext& ctx, int64_t now_ms) {
  const std::string key = "cert:" + leaf.sha256_hex;
  CertExpiryState prev;
  if (auto json = LoadState(txn, key)) {
    auto parsed = CertExpiryStateFromJson(*json);
    if (parsed.ok()) prev = parsed.value();
  }
  ExpiryEvaluation quick = EvaluateExpiry(prev, leaf, {origin}, ctx.For(origin), now_ms);
  if (!quick.event && !(newly_served && quick.state.open)) {
    // Nothing changed (no event means the same open/closed state and
    // severity): a closed state needs no write; an open one records last_seen.
    if (!prev.open) return Status::Ok();
    if (Status st = SaveState(txn, key, CertExpiryStateToJson(quick.state), now_ms); !st.ok()) return st;
    auto u = txn.Exec("UPDATE alerts SET last_seen_ms = ?2 WHERE dedup_key = ?1 AND resolved_ms IS NULL",
                      {std::string(rule::kCertExpiry) + "|" + leaf.sha256_hex, now_ms});
    return u.ok() ? Status::Ok() : u.status();
  }
  return EvaluateLeafExpiry(txn, leaf, ctx, now_ms);
}

// Expiry of one leaf, shared by every origin serving it: the full evaluation,
// with every origin that serves it now (their strictest thresholds apply).
Status EvaluateLeafExpiry(WriteTxn& txn, const CertInfo& leaf, const AlertContext& ctx, int64_t now_ms) {
  auto serving = txn.Query(
      "SELECT DISTINCT o.name FROM variant_state vs "
      "JOIN chains ch ON ch.id = vs.last_chain_id "
      "JOIN certificates c ON c.id = ch.leaf_cert_id "
      "JOIN variants v ON v.id = vs.variant_id JOIN origins o ON o.id = v.origin_id "
      "WHERE c.sha256 = ?1 AND o.removed_at IS NULL ORDER BY o.name",
      {leaf.sha256_hex});
  if (!serving.ok()) return serving.status();
  std::vector<std::string> origins;
  for (const auto& row : serving->rows)
    if (row[0]) origins.push_back(*row[0]);
  // Origins sharing a certificate with different thresholds: the strictest
  // (earliest warning) among them applies. Their own thresholds, not the
  // global ones: an origin may relax them.
  AlertThresholds t = origins.empty() ? ctx.global : ctx.For(origins.front());
  for (const std::string& o : origins) {
    const AlertThresholds& ot = ctx.For(o);
    t.expiry_warning_days = std::max(t.expiry_warning_days, ot.expiry_warning_days);
    t.expiry_critical_days = std::max(t.expiry_critical_days, ot.expiry_critical_days);
    t.lifetime_warning_fraction = std::max(t.lifetime_warning_fraction, ot.lifetime_warning_fraction);
    t.lifetime_critical_fraction = std::max(t.lifetime_critical_fraction, ot.lifetime_critical_fraction);
  }
  const std::string key = "cert:" + leaf.sha256_hex;
  CertExpiryState prev;
  if (auto json = LoadState(txn, key)) {
    auto parsed = CertExpiryStateFromJson(*json);
    if (parsed.ok()) prev = parsed.value();
  }
  if (!prev.open && origins.empty()) return Status::Ok();
  ExpiryEvaluation ev = EvaluateExpiry(prev, leaf, origins, t, now_ms);
  if (Status s = SaveState(txn, key, CertExpiryStateToJson(ev.state), now_ms); !s.ok()) return s;
  if (ev.event) return RecordEvent(txn, *ev.event, ctx);
  // No event, but the set of origins serving the certificate may have grown
  // or shrunk (another origin's first probe): the open alert names them all.
  if (ev.state.open && !origins.empty()) {
    std::string joined;
    for (const std::string& o : origins) joined += (joined.empty() ? "" : ",") + o;
    auto u = txn.Exec(
        "UPDATE alerts SET origin = ?2, last_seen_ms = ?3 WHERE dedup_key = ?1 AND resolved_ms IS NULL",
        {std::string(rule::kCertExpiry) + "|" + leaf.sha256_hex, joined, now_ms});
    if (!u.ok()) return u.status();
  }
  return Status::Ok();
}

}  // namespace

const AlertThresholds& AlertContext::For(const std::string& origin) const {
  auto it = per_origin.find(origin);
  return it == per_origin.end() ? global : it->second;
}

std::vector<std::string> AlertContext::Routes(const AlertEvent& e) const {
  std::vector<std::string> out;
  // cert_expiry events name every origin serving the certificate.
  std::vector<std::string> origins = SplitComma(e.origin);
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

Result<std::shared_ptr<const AlertContext>> BuildAlertContext(const AgentConfig& cfg) {
  auto ctx = std::make_shared<AlertContext>();
  ctx->global = FromSettings(AlertThresholds{}, cfg.alerts);
  if (Status s = ValidateThresholds(ctx->global); !s.ok())
    return Status::InvalidArgument(cfg.source_path + ": [alerts]: " + s.message());
  for (const OriginConfig& o : cfg.origins) {
    ctx->origin_tags[o.name] = o.tags;
    const AlertSettings& a = o.alerts;
    if (a.fail_after || a.resolve_after || a.expiry_warning_days || a.expiry_critical_days ||
        a.lifetime_warning_fraction || a.lifetime_critical_fraction || a.downgrade_accept_after_days) {
      AlertThresholds t = FromSettings(ctx->global, a);
      if (Status s = ValidateThresholds(t); !s.ok())
        return Status::InvalidArgument(cfg.source_path + ":" + std::to_string(o.line) + ": origin \"" +
                                       o.name + "\" [alerts]: " + s.message());
      ctx->per_origin[o.name] = t;
    }
  }
  ctx->webhooks = cfg.webhooks;
  return std::shared_ptr<const AlertContext>(std::move(ctx));
}

Status RecordEvent(WriteTxn& txn, const AlertEvent& e, const AlertContext& ctx) {
  const std::string severity(SeverityName(e.severity));
  const std::string kind(AlertKindName(e.kind));
  int64_t alert_id = 0;
  switch (e.kind) {
    case AlertKind::kFiring: {
      auto r = txn.Exec(
          "INSERT INTO alerts (dedup_key, rule, origin, variant, address, severity, opened_ms, "
          "last_seen_ms, finding_code, summary, fix) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?10) "
          "ON CONFLICT (dedup_key) WHERE resolved_ms IS NULL DO UPDATE SET severity = excluded.severity, "
          "last_seen_ms = excluded.last_seen_ms, summary = excluded.summary, fix = excluded.fix, "
          "origin = excluded.origin",
          {e.key, e.rule, e.origin, e.variant, e.address, severity, e.at_ms, e.finding_code, e.summary, e.fix});
      if (!r.ok()) return r.status();
      break;
    }
    case AlertKind::kUpdated: {
      auto r = txn.Exec(
          "UPDATE alerts SET severity = ?2, last_seen_ms = ?3, summary = ?4, fix = ?5, finding_code = ?6, "
          "origin = ?7 WHERE dedup_key = ?1 AND resolved_ms IS NULL",
          {e.key, severity, e.at_ms, e.summary, e.fix, e.finding_code, e.origin});
      if (!r.ok()) return r.status();
      break;
    }
    case AlertKind::kResolved: {
      auto r = txn.Exec(
          "UPDATE alerts SET resolved_ms = ?2, last_seen_ms = ?2 WHERE dedup_key = ?1 AND resolved_ms IS NULL",
          {e.key, e.at_ms});
      if (!r.ok()) return r.status();
      break;
    }
    case AlertKind::kEvent:
      break;
  }
  if (e.kind != AlertKind::kEvent) {
    auto q = txn.Query(
        "SELECT id FROM alerts WHERE dedup_key = ?1 ORDER BY (resolved_ms IS NULL) DESC, id DESC LIMIT 1",
        {e.key});
    if (q.ok() && !q->rows.empty() && q->rows[0][0]) alert_id = std::stoll(*q->rows[0][0]);
  }

  EventPayloadInput p;
  p.event_id = NewEventId();
  p.kind = kind;
  p.rule = e.rule;
  p.severity = severity;
  p.origin = e.origin;
  for (const std::string& o : SplitComma(e.origin)) {
    auto it = ctx.origin_tags.find(o);
    if (it == ctx.origin_tags.end()) continue;
    for (const std::string& t : it->second)
      if (std::find(p.tags.begin(), p.tags.end(), t) == p.tags.end()) p.tags.push_back(t);
  }
  p.variant = e.variant;
  p.address = e.address;
  p.finding_code = e.finding_code;
  p.summary = e.summary;
  p.fix = e.fix;
  p.message = e.message;
  p.facts_before = e.facts_before;
  p.facts_after = e.facts_after;
  p.at_ms = e.at_ms;
  p.alert_opened_ms = e.kind == AlertKind::kEvent ? 0 : e.since_ms;
  std::string tags;
  for (const std::string& t : p.tags) tags += (tags.empty() ? "" : ",") + t;

  auto ins = txn.Exec(
      "INSERT INTO alert_events (event_id, alert_id, kind, rule, severity, origin, tags, variant, address, "
      "finding_code, summary, fix, at_ms, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
      "?12, ?13, ?14)",
      {p.event_id, alert_id > 0 ? SqlValue(alert_id) : SqlValue(nullptr), kind, e.rule, severity, e.origin, tags,
       e.variant, e.address, e.finding_code, e.summary, e.fix, e.at_ms, BuildEventPayload(p)});
  if (!ins.ok()) return ins.status();
  const int64_t event_row = ins.value();
  for (const std::string& webhook : ctx.Routes(e)) {
    auto o = txn.Exec(
        "INSERT INTO outbox (event_row, webhook, next_attempt_ms, created_ms) VALUES (?1, ?2, ?3, ?3)",
        {event_row, webhook, e.at_ms});
    if (!o.ok()) return o.status();
  }
  return Status::Ok();
}

Status ApplyProbe(WriteTxn& txn, const WrittenProbe& w, const ProbeResult& r,
                  const std::vector<ProbeResult>& siblings, const AlertContext& ctx, int64_t now_ms) {
  if (!w.state_advanced) return Status::Ok();  // a late result: history only
  // A result of an origin removed by a reload, still in flight when the new
  // configuration arrived: history only; its alerts were retired.
  auto removed = txn.Query("SELECT removed_at IS NOT NULL FROM origins WHERE id = ?1", {w.origin_id});
  if (!removed.ok()) return removed.status();
  if (!removed->rows.empty() && removed->rows[0][0] && *removed->rows[0][0] == "1") return Status::Ok();
  const std::string key = "variant:" + std::to_string(w.variant_id);
  VariantAlertState prev;
  if (auto json = LoadState(txn, key)) {
    auto parsed = AlertStateFromJson(*json);
    if (parsed.ok()) prev = parsed.value();
  }
  Evaluation ev = EvaluateProbe(prev, r, siblings, ctx.For(r.spec.origin), now_ms);
  if (Status s = SaveState(txn, key, AlertStateToJson(ev.state), now_ms); !s.ok()) return s;
  for (const AlertEvent& e : ev.events) {
    if (Status s = RecordEvent(txn, e, ctx); !s.ok()) return s;
  }
  // Open alerts seen bad again: their last_seen moves.
  for (const auto& [rule_name, track] : ev.state.rules) {
    if (!track.open || track.last_seen_ms != now_ms) continue;
    auto u = txn.Exec("UPDATE alerts SET last_seen_ms = ?2 WHERE dedup_key = ?1 AND resolved_ms IS NULL",
                      {r.spec.origin + "|" + rule_name + "|" + ev.state.variant_key, now_ms});
    if (!u.ok()) return u.status();
  }
  if (const CertInfo* leaf = r.leaf()) {
    const bool newly_served = !w.before.has_value() || w.leaf_changed;
    if (Status s = ObserveLeafExpiry(txn, *leaf, r.spec.origin, newly_served, ctx, now_ms); !s.ok()) return s;
  }
  // The certificate this variant served before: if nobody serves it any more,
  // its expiry alert resolves.
  if (w.leaf_changed && !w.old_leaf_sha256.empty()) {
    auto q = txn.Query("SELECT not_before, not_after, subject, common_name FROM certificates WHERE sha256 = ?1",
                       {w.old_leaf_sha256});
    if (q.ok() && !q->rows.empty() && q->rows[0][0] && q->rows[0][1]) {
      CertInfo old;
      old.sha256_hex = w.old_leaf_sha256;
      old.not_before = std::stoll(*q->rows[0][0]);
      old.not_after = std::stoll(*q->rows[0][1]);
      old.subject = q->rows[0][2].value_or("");
      old.common_name = q->rows[0][3].value_or("");
      if (Status s = EvaluateLeafExpiry(txn, old, ctx, now_ms); !s.ok()) return s;
    }
  }
  return Status::Ok();
}

std::string PlannedVariantKey(const std::string& origin, const std::string& address,
                              const std::optional<std::string>& sni, const std::string& profile) {
  // The store keeps "no SNI" as '' (schema/001_init.sql).
  return origin + '\x1f' + address + '\x1f' + sni.value_or("") + '\x1f' + profile;
}

Status RetireRemoved(WriteTxn& txn, const AlertContext& ctx, const std::set<std::string>* planned,
                     int64_t now_ms) {
  auto all = txn.Query(
      "SELECT a.key, a.state, o.removed_at IS NOT NULL, o.name, v.address, v.sni, v.profile "
      "FROM alert_state a JOIN variants v ON a.key = 'variant:' || v.id "
      "JOIN origins o ON o.id = v.origin_id");
  if (!all.ok()) return all.status();
  for (const auto& row : all->rows) {
    if (!row[0] || !row[1]) continue;
    const bool origin_gone = row[2] && *row[2] == "1";
    std::string reason;
    if (origin_gone) {
      reason = "the origin was removed from the configuration";
    } else if (planned != nullptr) {
      const std::string key = PlannedVariantKey(row[3].value_or(""), row[4].value_or(""),
                                                row[5].value_or(""), row[6].value_or(""));
      if (planned->count(key) == 0) reason = "the variant is no longer probed (address, SNI or profile gone)";
    }
    if (reason.empty()) continue;
    auto state = AlertStateFromJson(*row[1]);
    if (state.ok()) {
      for (const AlertEvent& e : RetireVariant(state.value(), reason, now_ms)) {
        if (Status s = RecordEvent(txn, e, ctx); !s.ok()) return s;
      }
    }
    auto del = txn.Exec("DELETE FROM alert_state WHERE key = ?1", {*row[0]});
    if (!del.ok()) return del.status();
  }
  // Expiry alerts: re-evaluated against the origins configured now; a
  // certificate nobody serves any more resolves.
  auto open = txn.Query(
      "SELECT c.sha256, c.not_before, c.not_after, c.subject, c.common_name FROM alerts a "
      "JOIN certificates c ON a.dedup_key = 'cert_expiry|' || c.sha256 "
      "WHERE a.rule = 'cert_expiry' AND a.resolved_ms IS NULL");
  if (!open.ok()) return open.status();
  for (const auto& row : open->rows) {
    if (!row[0] || !row[1] || !row[2]) continue;
    CertInfo cert;
    cert.sha256_hex = *row[0];
    cert.not_before = std::stoll(*row[1]);
    cert.not_after = std::stoll(*row[2]);
    cert.subject = row[3].value_or("");
    cert.common_name = row[4].value_or("");
    if (Status s = EvaluateLeafExpiry(txn, cert, ctx, now_ms); !s.ok()) return s;
  }
  return Status::Ok();
}

Status ApplyAddresses(WriteTxn& txn, const std::string& origin, const std::vector<std::string>& addresses,
                      const AlertContext& ctx, int64_t now_ms) {
  const std::string key = "addresses:" + origin;
  std::vector<std::string> before;
  if (auto stored = LoadState(txn, key)) before = SplitComma(*stored);
  std::vector<std::string> after = addresses;
  std::sort(after.begin(), after.end());
  std::string joined;
  for (const std::string& a : after) joined += (joined.empty() ? "" : ",") + a;
  if (!after.empty()) {
    if (Status s = SaveState(txn, key, joined, now_ms); !s.ok()) return s;
  }
  if (auto e = EvaluateAddresses(origin, before, after, now_ms)) return RecordEvent(txn, *e, ctx);
  return Status::Ok();
}

}  // namespace originwatch::alert
