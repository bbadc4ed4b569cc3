// The sender thread: reads the head of each webhook's pending outbox rows,
// POSTs it, records the attempt and its outcome through the store's outbox API
// (PendingOutboxHeads, Store::RecordDelivery): no SQL here.
//
// Per outbox row (state column of table outbox):
//   pending --2xx--> delivered
//   pending --5xx / 429 / timeout / no connection--> pending, attempts+1,
//            next_attempt_ms = now + backoff (or Retry-After for 429 and 503);
//            when that falls after created_ms + max_age_ms: failed
//   pending --any other HTTP status--> failed (a retry would get the same answer)
//   pending --created_ms + max_age_ms passed before an attempt--> failed
// Only the head row (lowest id) of a webhook is ever in play, so a webhook's
// events leave in id order and row N+1 waits for row N to be settled.
//
// Everything the thread owns (endpoints, rate buckets, curl handles) is
// touched by it alone; the mutex guards only stop/wake/update and stats.
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "originwatch/clock.h"
#include "originwatch/log.h"
#include "originwatch/store.h"
#include "originwatch/webhook.h"
#include "webhook/alertmanager_delivery.h"
#include "webhook/http_post.h"

namespace originwatch {

using webhook_internal::HttpClient;
using webhook_internal::PostRequest;
using webhook_internal::PostResult;

namespace {

struct Row {
  int64_t id = 0;
  std::string webhook;
  int64_t attempts = 0;
  int64_t next_attempt_ms = 0;
  int64_t created_ms = 0;
  std::string last_error;
  EventPayloadInput event;  // the columns (facts live only in the payload)
  std::string payload;
};

std::vector<std::string> SplitTags(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size() && !s.empty()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

Row FromEntry(OutboxEntry&& o) {
  Row row;
  row.id = o.id;
  row.webhook = std::move(o.webhook);
  row.attempts = o.attempts;
  row.next_attempt_ms = o.next_attempt_ms;
  row.created_ms = o.created_ms;
  row.last_error = std::move(o.last_error);
  EventPayloadInput& e = row.event;
  e.event_id = std::move(o.event.event_id);
  e.kind = std::move(o.event.kind);
  e.rule = std::move(o.event.rule);
  e.severity = std::move(o.event.severity);
  e.origin = std::move(o.event.origin);
  e.tags = SplitTags(o.event.tags);
  e.variant = std::move(o.event.variant);
  e.address = std::move(o.event.address);
  e.finding_code = std::move(o.event.finding_code);
  e.summary = std::move(o.event.summary);
  e.fix = std::move(o.event.fix);
  e.at_ms = o.event.at_ms;
  row.payload = std::move(o.event.payload);
  return row;
}

enum class Verdict { kDelivered, kRetry, kFailed };

Verdict Classify(const PostResult& r) {
  if (r.http_status >= 200 && r.http_status <= 299) return Verdict::kDelivered;
  if (r.http_status == 0 || r.http_status == 429 || r.http_status >= 500) return Verdict::kRetry;
  return Verdict::kFailed;
}

// Control characters of a receiver's answer never reach the log or the table.
std::string Printable(std::string_view s, size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) {
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  }
  return out;
}

struct Endpoint {
  WebhookConfig config;
  std::string secret;
  double tokens = 0;
  int64_t tokens_at_ms = 0;
  bool bucket_started = false;
  std::unique_ptr<HttpClient> client;
};

struct NewConfig {
  std::vector<WebhookConfig> webhooks;
  std::vector<std::string> secrets;  // same order
  std::vector<AlertmanagerConfig> alertmanagers;
  std::vector<std::string> tokens;  // same order
};

Result<NewConfig> ReadSecrets(std::vector<WebhookConfig> webhooks,
                              std::vector<AlertmanagerConfig> alertmanagers) {
  NewConfig c;
  for (const auto& a : alertmanagers) {
    auto token = ReadAlertmanagerToken(a);
    if (!token.ok()) return token.status();
    c.tokens.push_back(std::move(token).value());
  }
  c.alertmanagers = std::move(alertmanagers);
  for (const auto& w : webhooks) {
    auto secret = ReadWebhookSecret(w);
    if (!secret.ok()) return secret.status();
    c.secrets.push_back(std::move(secret).value());
  }
  c.webhooks = std::move(webhooks);
  return c;
}

std::string Who(const std::string& name) { return "webhook \"" + name + "\""; }

}  // namespace

struct WebhookSender::Impl {
  Options options;
  std::thread thread;

  mutable std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  bool woken = false;
  std::optional<NewConfig> update;
  std::deque<EventPayloadInput> direct;  // SendDirect: not through the outbox
  Stats stats;

  std::mutex stop_mu;  // serializes Stop callers around join

  // Sender-thread only (and Start, before the thread exists).
  std::map<std::string, Endpoint> endpoints;
  std::set<std::string> logged_unconfigured;
  std::map<int64_t, int64_t> hold_until;  // outbox id -> not before (a write failed)
  std::mt19937_64 rng{std::random_device{}()};
  std::unique_ptr<webhook_internal::AlertmanagerDelivery> am;
  int64_t last_read_error_log_ms = 0;

  int64_t Now() const { return options.clock(); }
  bool Stopping() const {
    std::lock_guard<std::mutex> lk(mu);
    return stop;
  }

  void Apply(NewConfig c);
  void Loop();
  void SendDirectNow(const EventPayloadInput& e);
  bool Pass(int64_t* wait_ms);
  int64_t TakeToken(Endpoint& ep, int64_t now);
  int64_t Backoff(int64_t attempts);
  void Attempt(Endpoint& ep, const Row& row);
  void Expire(Endpoint& ep, const Row& row, int64_t now);
  bool Record(const Row& row, int64_t attempts, const std::string& state, int64_t next_attempt_ms,
              const std::string& last_error, const PostResult* attempt, int64_t at_ms, int64_t now);
};

void WebhookSender::Impl::Apply(NewConfig c) {
  std::map<std::string, Endpoint> next;
  for (size_t i = 0; i < c.webhooks.size(); ++i) {
    const std::string name = c.webhooks[i].name;
    Endpoint ep;
    if (auto it = endpoints.find(name); it != endpoints.end()) ep = std::move(it->second);
    ep.config = std::move(c.webhooks[i]);
    ep.secret = std::move(c.secrets[i]);
    logged_unconfigured.erase(name);
    next[name] = std::move(ep);
  }
  endpoints = std::move(next);
  am->Apply(std::move(c.alertmanagers), std::move(c.tokens));
}

void WebhookSender::Impl::Loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu);
      if (stop) return;
      if (update) {
        NewConfig c = std::move(*update);
        update.reset();
        lk.unlock();
        Apply(std::move(c));
        lk.lock();
      }
      woken = false;
      while (!direct.empty()) {
        EventPayloadInput e = std::move(direct.front());
        direct.pop_front();
        lk.unlock();
        SendDirectNow(e);
        am->SendDirect(e);
        lk.lock();
        if (stop) return;
      }
    }
    int64_t wait_ms = std::max<int64_t>(options.poll_ms, 1);
    bool progressed = Pass(&wait_ms);
    if (!Stopping()) am->Resend(&wait_ms);
    const auto amc = am->counters();
    std::unique_lock<std::mutex> lk(mu);
    stats.alertmanager_delivered = amc.delivered;
    stats.alertmanager_failed = amc.failed;
    stats.alertmanager_resends = amc.resends;
    stats.alertmanager_open = amc.open;
    if (stop) return;
    if (progressed) continue;
    cv.wait_for(lk, std::chrono::milliseconds(std::max<int64_t>(wait_ms, 1)),
                [&] { return stop || woken || update.has_value(); });
  }
}

bool WebhookSender::Impl::Pass(int64_t* wait_ms) {
  auto heads = PendingOutboxHeads(options.db_path);
  if (!heads.ok()) {
    int64_t now = Now();
    if (now - last_read_error_log_ms >= 60000) {
      last_read_error_log_ms = now;
      Log(LogLevel::kWarn, "", "webhooks: cannot read the outbox: " + heads.status().message());
    }
    return false;
  }
  bool progressed = false;
  for (OutboxEntry& entry : heads.value()) {
    if (Stopping()) break;
    if (entry.webhook.starts_with(kAlertmanagerRoutePrefix)) {
      progressed |= am->Handle(entry, wait_ms);
      continue;
    }
    Row row = FromEntry(std::move(entry));
    auto it = endpoints.find(row.webhook);
    if (it == endpoints.end()) {
      if (logged_unconfigured.insert(row.webhook).second) {
        Log(LogLevel::kWarn, "",
            Who(row.webhook) +
                " is not configured: its pending events stay pending until a configuration "
                "names it again");
      }
      continue;
    }
    Endpoint& ep = it->second;
    const int64_t now = Now();
    if (auto h = hold_until.find(row.id); h != hold_until.end()) {
      if (h->second > now) {
        *wait_ms = std::min(*wait_ms, h->second - now);
        continue;
      }
      hold_until.erase(h);
    }
    if (row.next_attempt_ms > now) {
      *wait_ms = std::min(*wait_ms, row.next_attempt_ms - now);
      continue;
    }
    if (now >= row.created_ms + ep.config.max_age_ms) {
      Expire(ep, row, now);
      progressed = true;
      continue;
    }
    if (int64_t token_wait = TakeToken(ep, now); token_wait > 0) {
      *wait_ms = std::min(*wait_ms, token_wait);
      continue;
    }
    Attempt(ep, row);
    progressed = true;
  }
  return progressed;
}

// 0 = a token was taken; otherwise the milliseconds until one is available.
int64_t WebhookSender::Impl::TakeToken(Endpoint& ep, int64_t now) {
  const double per_minute = options.rate_per_minute;
  if (per_minute <= 0) return 0;  // unlimited
  const double capacity =
      options.rate_burst > 0 ? options.rate_burst : std::max(1.0, std::floor(per_minute));
  const double per_ms = per_minute / 60000.0;
  if (!ep.bucket_started) {
    ep.bucket_started = true;
    ep.tokens = capacity;
    ep.tokens_at_ms = now;
  }
  if (now > ep.tokens_at_ms) {
    ep.tokens = std::min(capacity, ep.tokens + static_cast<double>(now - ep.tokens_at_ms) * per_ms);
  }
  ep.tokens_at_ms = now;  // a clock that went back refills nothing
  if (ep.tokens >= 1.0) {
    ep.tokens -= 1.0;
    return 0;
  }
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - ep.tokens) / per_ms)));
}

int64_t WebhookSender::Impl::Backoff(int64_t attempts) {
  double d = static_cast<double>(std::max<int64_t>(options.backoff_base_ms, 1));
  const double max = static_cast<double>(std::max(options.backoff_max_ms, options.backoff_base_ms));
  for (int64_t i = 1; i < attempts && d < max; ++i) d *= std::max(options.backoff_factor, 1.0);
  d = std::min(d, max);
  const double j = std::clamp(options.backoff_jitter, 0.0, 1.0);
  std::uniform_real_distribution<double> u(-j, j);
  return std::max<int64_t>(1, static_cast<int64_t>(d * (1.0 + u(rng))));
}

// Writes one outcome; returns false (and holds the row) when the store refused.
bool WebhookSender::Impl::Record(const Row& row, int64_t attempts, const std::string& state,
                                 int64_t next_attempt_ms, const std::string& last_error,
                                 const PostResult* attempt, int64_t at_ms, int64_t now) {
  const bool done = state != "pending";
  DeliveryRecord d;
  d.outbox_id = row.id;
  d.attempts = attempts;
  d.state = state;
  d.next_attempt_ms = next_attempt_ms;
  d.last_error = last_error;
  d.done_ms = done ? now : 0;
  if (attempt != nullptr) {
    d.attempted = true;
    d.at_ms = at_ms;
    d.http_status = attempt->http_status;
    d.error = attempt->error;
    d.duration_ms = attempt->duration_ms;
  }
  Status s = options.store->RecordDelivery(d);
  if (s.ok()) return true;
  // The outcome is lost; the row is still pending and will be sent again
  // (receivers dedupe by event id). Hold it so a closed store is not a busy loop.
  hold_until[row.id] = now + std::max<int64_t>(options.poll_ms, 1000);
  Log(LogLevel::kWarn, "",
      Who(row.webhook) + ": cannot record the outcome of event " + row.event.event_id + ": " +
          s.message());
  std::lock_guard<std::mutex> lk(mu);
  ++stats.write_errors;
  return false;
}

void WebhookSender::Impl::Expire(Endpoint& ep, const Row& row, int64_t now) {
  std::string error = "max_age " + FormatDurationMs(ep.config.max_age_ms) +
                      " passed before delivery (" + std::to_string(row.attempts) + " attempts";
  if (!row.last_error.empty()) error += "; last error: " + row.last_error;
  error += ")";
  if (Record(row, row.attempts, "failed", row.next_attempt_ms, error, nullptr, now, now)) {
    Log(LogLevel::kWarn, "",
        Who(row.webhook) + ": event " + row.event.event_id + " failed: " + error);
    std::lock_guard<std::mutex> lk(mu);
    ++stats.failed;
  }
}

void WebhookSender::Impl::Attempt(Endpoint& ep, const Row& row) {
  if (!ep.client) {
    auto c = HttpClient::Create();
    if (!c.ok()) {
      Log(LogLevel::kError, "", Who(row.webhook) + ": " + c.status().message());
      hold_until[row.id] = Now() + std::max<int64_t>(options.poll_ms, 1000);
      return;
    }
    ep.client = std::move(c).value();
  }
  const int64_t at = Now();
  PostRequest req;
  req.url = ep.config.url;
  req.body = ep.config.format == "slack" ? BuildSlackPayload(row.event) : row.payload;
  req.event_id = row.event.event_id;
  req.secret = ep.secret;
  req.signing = ep.config.signing;
  req.timestamp_s = at / 1000;
  req.timeout_ms = ep.config.timeout_ms;
  PostResult r = ep.client->Post(req, at);
  const int64_t now = Now();
  const int64_t attempts = row.attempts + 1;
  {
    std::lock_guard<std::mutex> lk(mu);
    ++stats.attempts;
  }
  if (r.http_status > 0 && !r.error.empty() && !r.body_excerpt.empty()) {
    r.error += ": " + Printable(r.body_excerpt, 200);
  }
  const Verdict v = Classify(r);
  const std::string tag =
      Who(row.webhook) + ": event " + row.event.event_id + " attempt " + std::to_string(attempts);
  if (v == Verdict::kDelivered) {
    if (Record(row, attempts, "delivered", row.next_attempt_ms, "", &r, at, now)) {
      Log(LogLevel::kDebug, "",
          tag + " delivered (HTTP " + std::to_string(r.http_status) + ", " +
              std::to_string(r.duration_ms) + " ms)");
      std::lock_guard<std::mutex> lk(mu);
      ++stats.delivered;
    }
    return;
  }
  if (v == Verdict::kFailed) {
    const std::string error = r.error + " (not retried)";
    if (Record(row, attempts, "failed", row.next_attempt_ms, error, &r, at, now)) {
      Log(LogLevel::kWarn, "", tag + " failed: " + error);
      std::lock_guard<std::mutex> lk(mu);
      ++stats.failed;
    }
    return;
  }
  const bool honour_retry_after =
      r.retry_after_ms >= 0 && (r.http_status == 429 || r.http_status == 503);
  const int64_t delay = honour_retry_after ? r.retry_after_ms : Backoff(attempts);
  const int64_t next = now + delay;
  const int64_t deadline = row.created_ms + ep.config.max_age_ms;
  if (next >= deadline) {
    const std::string error = r.error + "; max_age " + FormatDurationMs(ep.config.max_age_ms) +
                              " passed after " + std::to_string(attempts) + " attempts";
    if (Record(row, attempts, "failed", row.next_attempt_ms, error, &r, at, now)) {
      Log(LogLevel::kWarn, "", tag + " failed: " + error);
      std::lock_guard<std::mutex> lk(mu);
      ++stats.failed;
    }
    return;
  }
  if (Record(row, attempts, "pending", next, r.error, &r, at, now)) {
    Log(attempts == 1 ? LogLevel::kWarn : LogLevel::kInfo, "",
        tag + " failed: " + r.error + "; retry in " + FormatDurationMs(delay));
    std::lock_guard<std::mutex> lk(mu);
    ++stats.retried;
  }
}

// One POST per webhook whose rules and severities take the event; no retry, no
// record (the database is what failed). Counted in the attempt stats.
void WebhookSender::Impl::SendDirectNow(const EventPayloadInput& e) {
  for (auto& [name, ep] : endpoints) {
    const auto& rules = ep.config.rules;
    const auto& sev = ep.config.severities;
    if (!rules.empty() && std::find(rules.begin(), rules.end(), e.rule) == rules.end()) continue;
    if (!sev.empty() && std::find(sev.begin(), sev.end(), e.severity) == sev.end()) continue;
    if (!ep.client) {
      auto c = HttpClient::Create();
      if (!c.ok()) {
        Log(LogLevel::kError, "", Who(name) + ": " + c.status().message());
        continue;
      }
      ep.client = std::move(c).value();
    }
    const int64_t at = Now();
    PostRequest req;
    req.url = ep.config.url;
    req.body = ep.config.format == "slack" ? BuildSlackPayload(e) : BuildEventPayload(e);
    req.event_id = e.event_id;
    req.secret = ep.secret;
    req.signing = ep.config.signing;
  req.signing = ep.config.signing;
    req.timestamp_s = at / 1000;
    req.timeout_ms = ep.config.timeout_ms;
    PostResult r = ep.client->Post(req, at);
    {
      std::lock_guard<std::mutex> lk(mu);
      ++stats.attempts;
      ++stats.direct;
    }
    const std::string tag = Who(name) + ": " + e.rule + " " + e.kind + " event " + e.event_id;
    if (Classify(r) == Verdict::kDelivered) {
      Log(LogLevel::kInfo, "", tag + " sent directly (HTTP " + std::to_string(r.http_status) + ")");
    } else {
      Log(LogLevel::kWarn, "", tag + " could not be sent (" + r.error + "); not retried: it cannot be "
                                     "kept in the database");
    }
  }
}

// ---------------------------------------------------------------------------

WebhookSender::WebhookSender(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

void WebhookSender::SendDirect(EventPayloadInput event) {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    if (impl_->direct.size() >= 16) impl_->direct.pop_front();
    impl_->direct.push_back(std::move(event));
    impl_->woken = true;
  }
  impl_->cv.notify_one();
}

WebhookSender::~WebhookSender() { Stop(); }

Result<std::unique_ptr<WebhookSender>> WebhookSender::Start(Options options) {
  if (options.store == nullptr) return Status::InvalidArgument("webhook sender: no store");
  if (options.db_path.empty()) return Status::InvalidArgument("webhook sender: no database path");
  auto config = ReadSecrets(std::move(options.webhooks), std::move(options.alertmanagers));
  if (!config.ok()) return config.status();
  WebhookGlobalInit();
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  if (!impl->options.clock) impl->options.clock = &UnixNowMs;
  Impl* self = impl.get();
  impl->am = std::make_unique<webhook_internal::AlertmanagerDelivery>(
      webhook_internal::AlertmanagerDelivery::Deps{
          impl->options.store, impl->options.db_path, impl->options.clock,
          [self](int64_t attempts) { return self->Backoff(attempts); }});
  impl->Apply(std::move(config).value());
  Impl* p = impl.get();
  impl->thread = std::thread([p] {
    pthread_setname_np(pthread_self(), "ow-webhook");
    p->Loop();
  });
  return std::unique_ptr<WebhookSender>(new WebhookSender(std::move(impl)));
}

Status WebhookSender::Update(std::vector<WebhookConfig> webhooks,
                             std::vector<AlertmanagerConfig> alertmanagers) {
  auto config = ReadSecrets(std::move(webhooks), std::move(alertmanagers));
  if (!config.ok()) {
    Log(LogLevel::kError, "", "webhooks: configuration not changed: " + config.status().message());
    return config.status();
  }
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->update = std::move(config).value();
  }
  impl_->cv.notify_one();
  return Status::Ok();
}

void WebhookSender::Wake() {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->woken = true;
  }
  impl_->cv.notify_one();
}

void WebhookSender::Stop() {
  if (!impl_) return;
  std::lock_guard<std::mutex> stop_lock(impl_->stop_mu);
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_one();
  if (impl_->thread.joinable()) impl_->thread.join();
}

WebhookSender::Stats WebhookSender::stats() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->stats;
}

Result<TestDelivery> SendTestEvent(const WebhookConfig& webhook, int64_t now_ms) {
  auto secret = ReadWebhookSecret(webhook);
  if (!secret.ok()) return secret.status();
  auto client = HttpClient::Create();
  if (!client.ok()) return client.status();
  const EventPayloadInput e = SampleEvent(now_ms);
  PostRequest req;
  req.url = webhook.url;
  req.body = webhook.format == "slack" ? BuildSlackPayload(e) : BuildEventPayload(e);
  req.event_id = e.event_id;
  req.secret = std::move(secret).value();
  req.signing = webhook.signing;
  req.timestamp_s = now_ms / 1000;
  req.timeout_ms = webhook.timeout_ms;
  PostResult r = (*client)->Post(req, now_ms);
  TestDelivery d;
  d.http_status = r.http_status;
  d.error = std::move(r.error);
  d.duration_ms = r.duration_ms;
  d.body_excerpt = std::move(r.body_excerpt);
  return d;
}

}  // namespace originwatch
