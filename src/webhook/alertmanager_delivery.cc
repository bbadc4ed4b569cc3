// Alertmanager delivery on the sender thread (alertmanager_delivery.h).
#include "webhook/alertmanager_delivery.h"

#include <algorithm>

#include "originwatch/log.h"

namespace originwatch::webhook_internal {
namespace {

constexpr size_t kMaxAlertsPerPost = 500;

std::vector<std::string> SplitTags(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

EventPayloadInput ToEvent(const EventRecord& r, int64_t opened_ms) {
  EventPayloadInput e;
  e.event_id = r.event_id;
  e.kind = r.kind;
  e.rule = r.rule;
  e.severity = r.severity;
  e.origin = r.origin;
  e.tags = SplitTags(r.tags);
  e.variant = r.variant;
  e.address = r.address;
  e.finding_code = r.finding_code;
  e.summary = r.summary;
  e.fix = r.fix;
  e.at_ms = r.at_ms;
  e.alert_opened_ms = opened_ms;
  return e;
}

bool In(const std::vector<std::string>& filter, const std::string& v) {
  return filter.empty() || std::find(filter.begin(), filter.end(), v) != filter.end();
}

std::string Who(const std::string& name) { return "alertmanager \"" + name + "\""; }

}  // namespace

void AlertmanagerDelivery::Apply(std::vector<AlertmanagerConfig> configs,
                                 std::vector<std::string> tokens) {
  std::map<std::string, Endpoint> next;
  for (size_t i = 0; i < configs.size(); ++i) {
    const std::string name = configs[i].name;
    Endpoint ep;
    if (auto it = endpoints_.find(name); it != endpoints_.end()) ep = std::move(it->second);
    ep.config = std::move(configs[i]);
    ep.token = i < tokens.size() ? std::move(tokens[i]) : std::string();
    logged_unconfigured_.erase(name);
    next[name] = std::move(ep);
  }
  endpoints_ = std::move(next);
}

bool AlertmanagerDelivery::Takes(const AlertmanagerConfig& c, const std::string& rule,
                                 const std::string& severity,
                                 const std::vector<std::string>& tags) const {
  if (!In(c.rules, rule) || !In(c.severities, severity)) return false;
  if (c.tags.empty()) return true;
  for (const std::string& t : tags) {
    if (In(c.tags, t)) return true;
  }
  return false;
}

void AlertmanagerDelivery::Load(Endpoint& ep) {
  auto rows = OpenAlertEvents(deps_.db_path);
  if (!rows.ok()) {
    const int64_t now = deps_.clock();
    if (now - last_load_error_log_ms_ >= 60000) {
      last_load_error_log_ms_ = now;
      Log(LogLevel::kWarn, "",
          Who(ep.config.name) + ": cannot read the open alerts: " + rows.status().message());
    }
    return;
  }
  for (const EventRecord& r : rows.value()) {
    EventPayloadInput e = ToEvent(r, r.at_ms);
    if (!Takes(ep.config, e.rule, e.severity, e.tags)) continue;
    ep.open.emplace(r.dedup_key, AlertmanagerAlertOf(e));  // a transition already seen wins
  }
  ep.loaded = true;
}

PostResult AlertmanagerDelivery::Post(Endpoint& ep, std::vector<AlertmanagerAlert> alerts) {
  if (!ep.client) {
    auto c = HttpClient::Create();
    if (!c.ok()) {
      PostResult r;
      r.error = c.status().message();
      return r;
    }
    ep.client = std::move(c).value();
  }
  const int64_t at = deps_.clock();
  PostRequest req;
  req.url = ep.config.url + "/api/v2/alerts";
  req.body = BuildAlertmanagerBody(alerts);
  req.originwatch_headers = false;
  if (!ep.token.empty()) req.extra_headers.push_back("Authorization: Bearer " + ep.token);
  req.timestamp_s = at / 1000;
  req.timeout_ms = ep.config.timeout_ms;
  ++counters_.attempts;
  PostResult r = ep.client->Post(req, at);
  if (r.http_status > 0 && !r.error.empty() && !r.body_excerpt.empty()) {
    std::string excerpt;
    for (char c : r.body_excerpt.substr(0, 200)) {
      excerpt += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
    }
    r.error += ": " + excerpt;
  }
  return r;
}

bool AlertmanagerDelivery::Record(const OutboxEntry& row, int64_t attempts,
                                  const std::string& state, int64_t next_attempt_ms,
                                  const std::string& error, const PostResult* r, int64_t at,
                                  int64_t now) {
  DeliveryRecord d;
  d.outbox_id = row.id;
  d.attempts = attempts;
  d.state = state;
  d.next_attempt_ms = next_attempt_ms;
  d.last_error = error;
  d.done_ms = state != "pending" ? now : 0;
  if (r != nullptr) {
    d.attempted = true;
    d.at_ms = at;
    d.http_status = r->http_status;
    d.error = r->error;
    d.duration_ms = r->duration_ms;
  }
  Status s = deps_.store->RecordDelivery(d);
  if (s.ok()) return true;
  hold_until_[row.id] = now + 1000;
  ++counters_.write_errors;
  Log(LogLevel::kWarn, "",
      Who(row.webhook.substr(kAlertmanagerRoutePrefix.size())) + ": cannot record the outcome of event " +
          row.event.event_id + ": " + s.message());
  return false;
}

bool AlertmanagerDelivery::Handle(OutboxEntry& row, int64_t* wait_ms) {
  const std::string name = row.webhook.substr(kAlertmanagerRoutePrefix.size());
  auto it = endpoints_.find(name);
  if (it == endpoints_.end()) {
    if (logged_unconfigured_.insert(name).second) {
      Log(LogLevel::kWarn, "",
          Who(name) + " is not configured: its pending events stay pending until a configuration "
                      "names it again");
    }
    return false;
  }
  Endpoint& ep = it->second;
  if (!ep.loaded) Load(ep);
  const int64_t now = deps_.clock();
  if (auto h = hold_until_.find(row.id); h != hold_until_.end()) {
    if (h->second > now) {
      *wait_ms = std::min(*wait_ms, h->second - now);
      return false;
    }
    hold_until_.erase(h);
  }
  if (row.next_attempt_ms > now) {
    *wait_ms = std::min(*wait_ms, row.next_attempt_ms - now);
    return false;
  }
  const std::string& kind = row.event.kind;
  const std::string key = row.event.dedup_key.empty() ? row.event.event_id : row.event.dedup_key;
  if (now >= row.created_ms + ep.config.max_age_ms) {
    const std::string error = "max_age " + FormatDurationMs(ep.config.max_age_ms) +
                              " passed before delivery (" + std::to_string(row.attempts) +
                              " attempts)";
    if (Record(row, row.attempts, "failed", row.next_attempt_ms, error, nullptr, now, now)) {
      ++counters_.failed;
      if (kind == "resolved") ep.open.erase(key);
    }
    return true;
  }

  const int64_t ttl = 4 * ep.config.resend_interval_ms;
  AlertmanagerAlert a = AlertmanagerAlertOf(ToEvent(row.event, row.alert_opened_ms));
  std::vector<AlertmanagerAlert> post;
  auto open = ep.open.find(key);
  if (kind == "resolved") {
    if (open != ep.open.end()) a = open->second;  // the labels it fired with
    a.ends_ms = std::max(row.event.at_ms, a.starts_ms);
    post.push_back(a);
  } else {
    if (kind == "updated" && open != ep.open.end() && open->second.labels != a.labels) {
      AlertmanagerAlert old = open->second;  // the old severity ends now
      old.ends_ms = now;
      post.push_back(old);
    }
    a.ends_ms = now + ttl;
    post.push_back(a);
  }

  const int64_t at = now;
  PostResult r = Post(ep, post);
  const int64_t done = deps_.clock();
  const int64_t attempts = row.attempts + 1;
  const std::string tag = Who(name) + ": " + row.event.rule + " " + kind + " event " +
                          row.event.event_id + " attempt " + std::to_string(attempts);
  const bool ok2xx = r.http_status >= 200 && r.http_status <= 299;
  const bool retry = !ok2xx && (r.http_status == 0 || r.http_status == 429 || r.http_status >= 500);
  if (ok2xx) {
    if (Record(row, attempts, "delivered", row.next_attempt_ms, "", &r, at, done)) {
      ++counters_.delivered;
      Log(LogLevel::kDebug, "", tag + " delivered (HTTP " + std::to_string(r.http_status) + ")");
      if (kind == "resolved") {
        ep.open.erase(key);
      } else if (kind == "firing" || kind == "updated") {
        a.ends_ms = 0;
        ep.open[key] = a;
        if (ep.next_resend_ms == 0) ep.next_resend_ms = done + ep.config.resend_interval_ms;
      }
    }
    return true;
  }
  int64_t next = done + (r.retry_after_ms >= 0 && (r.http_status == 429 || r.http_status == 503)
                             ? r.retry_after_ms
                             : deps_.backoff(attempts));
  if (!retry || next >= row.created_ms + ep.config.max_age_ms) {
    const std::string error = r.error + (retry ? "; max_age passed" : " (not retried)");
    if (Record(row, attempts, "failed", row.next_attempt_ms, error, &r, at, done)) {
      ++counters_.failed;
      Log(LogLevel::kWarn, "", tag + " failed: " + error);
      if (kind == "resolved") ep.open.erase(key);
    }
    return true;
  }
  if (Record(row, attempts, "pending", next, r.error, &r, at, done)) {
    ++counters_.retried;
    Log(attempts == 1 ? LogLevel::kWarn : LogLevel::kInfo, "",
        tag + " failed: " + r.error + "; retry in " + FormatDurationMs(next - done));
  }
  return true;
}

void AlertmanagerDelivery::Resend(int64_t* wait_ms) {
  for (auto& entry : endpoints_) {
    // A named reference, not a structured binding: the lambda below captures
    // it (C++20 allows capturing bindings; clang 14, the fuzz build's, does not).
    const std::string& name = entry.first;
    auto& ep = entry.second;
    if (!ep.loaded) Load(ep);
    if (ep.open.empty()) continue;
    const int64_t now = deps_.clock();
    if (ep.next_resend_ms > now) {
      *wait_ms = std::min(*wait_ms, ep.next_resend_ms - now);
      continue;
    }
    const int64_t ends = now + 4 * ep.config.resend_interval_ms;
    std::vector<AlertmanagerAlert> batch;
    bool ok = true;
    std::string error;
    auto flush = [&] {
      PostResult r = Post(ep, std::move(batch));
      batch.clear();
      if (r.http_status < 200 || r.http_status > 299) {
        ok = false;
        error = r.error;
      }
    };
    for (const auto& [key, alert] : ep.open) {
      batch.push_back(alert);
      batch.back().ends_ms = ends;
      if (batch.size() == kMaxAlertsPerPost) flush();
    }
    if (!batch.empty()) flush();
    const int64_t done = deps_.clock();
    if (ok) {
      ++counters_.resends;
      ep.resend_failures = 0;
      ep.next_resend_ms = done + ep.config.resend_interval_ms;
    } else {
      ++ep.resend_failures;
      if (ep.resend_failures == 1 || ep.resend_failures % 10 == 0) {
        Log(LogLevel::kWarn, "",
            Who(name) + ": re-sending " + std::to_string(ep.open.size()) + " open alerts failed (" +
                std::to_string(ep.resend_failures) + " in a row): " + error);
      }
      ep.next_resend_ms =
          done + std::min(ep.config.resend_interval_ms, deps_.backoff(ep.resend_failures));
    }
    *wait_ms = std::min(*wait_ms, std::max<int64_t>(ep.next_resend_ms - done, 1));
  }
}

void AlertmanagerDelivery::SendDirect(const EventPayloadInput& e) {
  for (auto& [name, ep] : endpoints_) {
    if (!In(ep.config.rules, e.rule) || !In(ep.config.severities, e.severity)) continue;
    AlertmanagerAlert a = AlertmanagerAlertOf(e);
    const std::string key = e.rule + "|" + (a.labels.count("database") ? a.labels["database"] : "");
    const int64_t now = deps_.clock();
    if (e.kind == "resolved") {
      if (auto it = ep.open.find(key); it != ep.open.end()) a = it->second;
      a.ends_ms = std::max(now, a.starts_ms);
      ep.open.erase(key);
    } else {
      a.ends_ms = 0;
      ep.open[key] = a;
      a.ends_ms = now + 4 * ep.config.resend_interval_ms;
      if (ep.next_resend_ms == 0) ep.next_resend_ms = now + ep.config.resend_interval_ms;
    }
    PostResult r = Post(ep, {a});
    const std::string tag = Who(name) + ": " + e.rule + " " + e.kind;
    if (r.http_status >= 200 && r.http_status <= 299) {
      Log(LogLevel::kInfo, "", tag + " sent directly (HTTP " + std::to_string(r.http_status) + ")");
    } else {
      Log(LogLevel::kWarn, "", tag + " could not be sent (" + r.error + ")" +
                                   (e.kind == "resolved" ? "; it ends by itself at its endsAt"
                                                         : "; the re-sends carry it"));
    }
  }
}

AlertmanagerDelivery::Counters AlertmanagerDelivery::counters() const {
  Counters c = counters_;
  c.open = 0;
  for (const auto& [name, ep] : endpoints_) c.open += ep.open.size();
  return c;
}

}  // namespace originwatch::webhook_internal
