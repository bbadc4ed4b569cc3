// The Alertmanager side of the sender thread (webhook.h), private to
// src/webhook. Everything here runs on the sender thread (and in Start, before
// that thread exists); nothing is locked.
//
// Transitions come from the outbox (rows routed "alertmanager:NAME") and are
// recorded like webhook deliveries (Store::RecordDelivery): 2xx = delivered;
// no answer, 429 and 5xx = retried with the sender's backoff until max_age;
// any other status = failed. Each endpoint keeps the set of its open alerts,
// keyed by dedup key, with the labels they fired with:
//   firing   -> posted with endsAt = now + 4 x resend_interval; added
//   updated  -> the new severity posted firing; the old label set, if it
//               differs, posted with endsAt = now (resolved); replaced
//   resolved -> the labels it fired with, endsAt = the event's time; removed
//   event    -> posted once with endsAt = now + 4 x resend_interval (one-shot)
// and every resend_interval the whole set is posted again with endsAt = now +
// 4 x resend_interval, as Prometheus does: an agent that stops lets its
// alerts end by themselves, and an agent that runs keeps them alive. The set
// starts from the store's open alerts (OpenAlertEvents).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "originwatch/config.h"
#include "originwatch/store.h"
#include "originwatch/webhook.h"
#include "webhook/http_post.h"

namespace originwatch::webhook_internal {

class AlertmanagerDelivery {
 public:
  struct Deps {
    Store* store = nullptr;
    std::string db_path;
    std::function<int64_t()> clock;
    std::function<int64_t(int64_t attempts)> backoff;  // the sender's backoff with jitter
  };
  explicit AlertmanagerDelivery(Deps deps) : deps_(std::move(deps)) {}

  // Replaces the endpoints (tokens in the same order). An endpoint that keeps
  // its name keeps its open set and connection; a new one loads the store's
  // open alerts that its filters take.
  void Apply(std::vector<AlertmanagerConfig> configs, std::vector<std::string> tokens);

  // One outbox head routed "alertmanager:NAME". Returns true when it made
  // progress (an attempt or an expiry was recorded); lowers *wait_ms to when
  // the row is due.
  bool Handle(OutboxEntry& entry, int64_t* wait_ms);

  // Re-posts the open sets that are due; lowers *wait_ms to the next due time.
  void Resend(int64_t* wait_ms);

  // store_unwritable (webhook.h SendDirect): posted to every endpoint whose
  // rules and severities take it; a firing one joins the open set.
  void SendDirect(const EventPayloadInput& e);

  struct Counters {
    uint64_t delivered = 0, failed = 0, retried = 0, attempts = 0, write_errors = 0, resends = 0,
             open = 0;
  };
  Counters counters() const;  // sender thread only

 private:
  struct Endpoint {
    AlertmanagerConfig config;
    std::string token;
    std::unique_ptr<HttpClient> client;
    std::map<std::string, AlertmanagerAlert> open;  // dedup key -> as it fired
    bool loaded = false;                            // the store's open alerts were read
    int64_t next_resend_ms = 0;
    int64_t resend_failures = 0;
  };

  PostResult Post(Endpoint& ep, std::vector<AlertmanagerAlert> alerts);
  bool Takes(const AlertmanagerConfig& c, const std::string& rule, const std::string& severity,
             const std::vector<std::string>& tags) const;
  void Load(Endpoint& ep);
  bool Record(const OutboxEntry& row, int64_t attempts, const std::string& state,
              int64_t next_attempt_ms, const std::string& error, const PostResult* r, int64_t at,
              int64_t now);

  Deps deps_;
  std::map<std::string, Endpoint> endpoints_;
  std::set<std::string> logged_unconfigured_;
  std::map<int64_t, int64_t> hold_until_;  // outbox id -> not before (a write failed)
  int64_t last_load_error_log_ms_ = 0;
  Counters counters_;
};

}  // namespace originwatch::webhook_internal
