// Webhook delivery: the sender thread that POSTs the SQLite outbox to the
// configured [[webhook]] endpoints, signed, retried with backoff, rate-limited
// and logged in table deliveries (schema/002_alerts.sql, docs/webhooks.md).
//
// Data flow: the store's writer commits an alert event (alert_events.payload,
// built with BuildEventPayload) and one outbox row per matching webhook in the
// probe's transaction. The sender reads pending outbox rows with its own
// read-only connection (RunQuery) and records every attempt and its outcome
// through Store::Write, so the store stays the only writer of the database and
// a restart resumes exactly where the last run stopped.
//
// Delivery, per webhook: pending rows in id order, head of line: row N+1 is not
// sent before row N is delivered or failed (ordering; one slow endpoint does
// not reorder its own events). 2xx = delivered; 5xx, 429, timeouts and
// connection errors = retried with exponential backoff (429 and 503 honour
// Retry-After) until created_ms + max_age_ms; any other status = failed at
// once. A receiver may see an event more than once (an attempt whose answer was
// lost is retried): it deduplicates by X-Originwatch-Event.
//
// Threads: one sender thread per WebhookSender runs every HTTP request (libcurl
// easy interface, blocking, bounded by the webhook's timeout_ms). Start, Update,
// Wake, Stop and stats may be called from any thread; none blocks on the
// network except Stop (it waits for the attempt in flight).
//
// Secrets (secret_env / secret_file) are read at Start and on Update, kept in
// memory, never logged. URLs are never logged either (a Slack webhook URL is a
// credential); log lines name the webhook.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "originwatch/config.h"
#include "originwatch/status.h"

namespace originwatch {

class Store;

// The value of the "schema" field of every event body.
inline constexpr std::string_view kEventSchema = "originwatch.event/1";
inline constexpr std::string_view kWebhookUserAgent = "originwatch/0.1";

// One event as the alert component knows it; BuildEventPayload turns it into
// the body stored in alert_events.payload and POSTed to "json" webhooks.
struct EventPayloadInput {
  std::string event_id;  // unique, the idempotency key (X-Originwatch-Event)
  std::string kind;      // firing | resolved | updated | event | test
  std::string rule;      // alert.h rule::k*
  std::string severity;  // info | warning | critical
  std::string origin;
  std::vector<std::string> tags;
  std::string variant;  // "sni=NAME profile=P" / "no-sni profile=P"; "" when not per variant
  std::string address;  // "ip:port"; "" when not per variant
  std::string finding_code;
  std::string summary;
  std::string fix;
  std::string message;  // complete sentences for the person on call; may be ""
  std::map<std::string, std::string> facts_before;
  std::map<std::string, std::string> facts_after;
  int64_t at_ms = 0;            // when the event was raised (unix ms)
  int64_t alert_opened_ms = 0;  // when its alert first fired; 0 = none (JSON null)
};

// The JSON body (docs/webhooks.md: "originwatch.event/1"), keys in documented
// order. Never throws; invalid UTF-8 in any field is replaced by U+FFFD.
std::string BuildEventPayload(const EventPayloadInput& event);

// The Slack-compatible body {"text": "..."} (mrkdwn, &<> escaped) built from an
// event's columns; used for webhooks with format = "slack".
std::string BuildSlackPayload(const EventPayloadInput& event);

// The sample event of `originwatch webhook test`: kind "test", rule "test",
// severity "info", origin "originwatch-test", event_id "test-<now_ms>",
// plausible facts. BuildSamplePayload = BuildEventPayload(SampleEvent(now_ms)).
EventPayloadInput SampleEvent(int64_t now_ms);
std::string BuildSamplePayload(int64_t now_ms);

// The X-Originwatch-Signature value: "sha256=" + lower-hex
// HMAC-SHA256(secret, "<timestamp_s>.<body>"), timestamp_s being the value sent
// in X-Originwatch-Timestamp (unix seconds).
std::string SignBody(std::string_view secret, int64_t timestamp_s, std::string_view body);

// The webhook-signature value of Standard Webhooks (signing =
// "standard-webhooks"): "v1," + base64 HMAC-SHA256(key, "<id>.<timestamp_s>.<body>").
// The key is the base64-decoded rest of a secret that starts with "whsec_" (the
// spec's serialization), else the secret's bytes as they are.
std::string SignStandardWebhooks(std::string_view secret, std::string_view id,
                                 int64_t timestamp_s, std::string_view body);

// The webhook's secret: the environment variable secret_env, or the content of
// secret_file without trailing newlines; "" when the webhook has neither.
// InvalidArgument when the variable is unset or empty, IoError when the file
// cannot be read, InvalidArgument when it is empty, or when signing is
// "standard-webhooks" and a "whsec_" secret is not valid base64. Messages name the webhook
// and the variable or file, never the secret.
Result<std::string> ReadWebhookSecret(const WebhookConfig& webhook);

// --- Alertmanager (docs/alertmanager.md) -------------------------------------
// An [[alertmanager]] NAME is the route "alertmanager:NAME" on events and
// outbox rows (webhook names cannot hold ':'); the sender delivers such rows
// to {url}/api/v2/alerts instead of as webhooks.
inline constexpr std::string_view kAlertmanagerRoutePrefix = "alertmanager:";

// One alert of Alertmanager's v2 API. Labels carry no agent identity, so
// several agents probing the same origins post the same label set and an
// Alertmanager (cluster) deduplicates them.
struct AlertmanagerAlert {
  std::map<std::string, std::string> labels;       // alertname, origin, address, sni, profile, severity, tags
  std::map<std::string, std::string> annotations;  // summary, fix, finding
  int64_t starts_ms = 0;
  int64_t ends_ms = 0;  // 0 = not sent
};

// The labels and annotations of an event (empty values are left out):
// alertname = rule; origin; address; sni (the SNI sent, "none" without SNI) and
// profile from the variant; severity; tags = ",a,b," (the origin's tags with a
// comma before and after each, "" when none: match one with tags=~".*,prod,.*");
// for store_unwritable, database = the database path and severity always
// "critical" (the resolved event must carry the labels the firing one had).
// starts_ms = alert_opened_ms, else at_ms; ends_ms = 0.
AlertmanagerAlert AlertmanagerAlertOf(const EventPayloadInput& event);

// The JSON array POSTed to /api/v2/alerts: labels, annotations, startsAt and
// endsAt (RFC 3339; endsAt left out when ends_ms is 0).
std::string BuildAlertmanagerBody(const std::vector<AlertmanagerAlert>& alerts);

// The bearer token of an [[alertmanager]] (bearer_token_env / _file), "" when
// none; errors as ReadWebhookSecret, naming the alertmanager.
Result<std::string> ReadAlertmanagerToken(const AlertmanagerConfig& am);

// curl_global_init, once per process (std::call_once). WebhookSender::Start and
// SendTestEvent call it; main() may call it first while the process still has
// one thread, which is what libcurl recommends.
void WebhookGlobalInit();

// What one test POST got.
struct TestDelivery {
  int http_status = 0;  // 0 = no HTTP answer (see error)
  std::string error;    // "" on 2xx; curl's message, or "HTTP 500"
  int64_t duration_ms = 0;
  std::string body_excerpt;  // the first 512 bytes of the answer's body
};

// `originwatch webhook test NAME`: POSTs SampleEvent(now_ms) once (JSON or
// Slack per webhook.format) with the same headers and signature as real
// deliveries, no retry. Blocks up to webhook.timeout_ms. A non-OK Result only
// when the secret cannot be read or curl cannot be set up; HTTP and network
// failures are reported in TestDelivery.
Result<TestDelivery> SendTestEvent(const WebhookConfig& webhook, int64_t now_ms);

class WebhookSender {
 public:
  struct Options {
    std::string db_path;     // the database the store writes (read here read-only)
    Store* store = nullptr;  // required; outlives the sender (Stop the sender first)
    std::vector<WebhookConfig> webhooks;
    // Outbox rows routed "alertmanager:NAME" go to these; their open alerts
    // (the store's at start, then the transitions delivered) are re-posted
    // every resend_interval, outside the outbox.
    std::vector<AlertmanagerConfig> alertmanagers;
    std::function<int64_t()> clock;  // unix ms; default: the system clock
    // Retry delay after the n-th failed attempt:
    // min(backoff_max_ms, backoff_base_ms * backoff_factor^(n-1)) * (1 ± backoff_jitter).
    int64_t backoff_base_ms = 1000;
    double backoff_factor = 2.0;
    int64_t backoff_max_ms = 5 * 60 * 1000;
    double backoff_jitter = 0.2;
    // Per-endpoint token bucket over attempts (retries included): at most
    // rate_burst at once, refilled at rate_per_minute. An attempt beyond the
    // limit waits for a token; nothing is dropped. rate_burst 0 = rate_per_minute.
    double rate_per_minute = 30;
    int rate_burst = 0;
    // The outbox is read at least this often even without Wake().
    int64_t poll_ms = 500;
  };

  struct Stats {
    uint64_t delivered = 0;     // rows marked delivered
    uint64_t failed = 0;        // rows marked failed (4xx, max age passed)
    uint64_t retried = 0;       // attempts that ended in a scheduled retry
    uint64_t attempts = 0;      // HTTP attempts made
    uint64_t write_errors = 0;  // outcomes Store::Write could not record
    uint64_t direct = 0;        // SendDirect POSTs (not through the outbox)
    uint64_t alertmanager_delivered = 0;  // outbox rows Alertmanager took (not in delivered)
    uint64_t alertmanager_failed = 0;     // outbox rows given up (not in failed)
    uint64_t alertmanager_resends = 0;  // re-posts of open alerts that Alertmanager took
    uint64_t alertmanager_open = 0;     // open alerts held for re-sending, all alertmanagers
  };

  // Reads every secret (an error names the webhook: nothing starts), then
  // starts the thread, which reads the outbox at once.
  static Result<std::unique_ptr<WebhookSender>> Start(Options options);

  ~WebhookSender();  // Stop()
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // SIGHUP: replaces the webhook list (secrets re-read here, on the caller's
  // thread). On error nothing changes. Rows of a webhook no longer configured
  // stay pending (logged once) until a configuration names it again. Rate
  // buckets and connections of webhooks that keep their name are kept.
  // The alertmanagers are replaced too (tokens re-read); one that is new
  // loads the store's open alerts.
  Status Update(std::vector<WebhookConfig> webhooks,
                std::vector<AlertmanagerConfig> alertmanagers = {});

  // New outbox rows were committed: read the outbox now instead of at the next
  // poll. Never blocks; cheap to call often.
  void Wake();

  // An event about the agent itself that the outbox cannot carry because the
  // database refuses writes (rule store_unwritable): POSTed once, on the
  // sender thread, to every webhook whose `rules` and `severities` filters take
  // it (tag filters do not apply: it names no origin), signed as usual, never
  // retried, never recorded. Alertmanagers whose filters take it get it too,
  // and keep re-sending a firing one until its resolved event comes. Never blocks; at most 16 wait (the oldest go).
  void SendDirect(EventPayloadInput event);

  // Lets the attempt in flight finish (and be recorded), then stops the thread.
  // Pending rows stay pending for the next run. Idempotent.
  void Stop();

  Stats stats() const;

  struct Impl;

 private:
  explicit WebhookSender(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace originwatch
