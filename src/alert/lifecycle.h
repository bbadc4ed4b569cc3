// The alert lifecycle in the database: runs the pure rules of alert.h inside the
// store writer's transaction, so the probe row, the variant's alert state, the
// alert rows, the event and one outbox row per matching webhook commit together
// (an alert is never lost, and never sent for data that was not saved).
//
// Thread: the store's writer thread (from a WriteHook). AlertContext is an
// immutable snapshot of the configuration, shared by pointer and replaced whole
// on reload.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "originwatch/alert.h"
#include "originwatch/config.h"
#include "originwatch/probe.h"
#include "originwatch/store.h"

namespace originwatch::alert {

struct AlertContext {
  AlertThresholds global;
  std::map<std::string, AlertThresholds> per_origin;          // origins with overrides
  std::map<std::string, std::vector<std::string>> origin_tags;
  std::vector<WebhookConfig> webhooks;                         // filters are read here

  const AlertThresholds& For(const std::string& origin) const;
  // Which webhooks take an event of this rule, severity and origin.
  std::vector<std::string> Routes(const AlertEvent& e) const;
};

// Builds the context from a configuration. Errors: thresholds that do not
// validate together (ValidateThresholds), naming the origin.
Result<std::shared_ptr<const AlertContext>> BuildAlertContext(const AgentConfig& cfg);

// Evaluates one stored probe (w: what the store wrote; r: the result; siblings:
// the latest results of the origin's other variants) and records the events.
Status ApplyProbe(WriteTxn& txn, const WrittenProbe& w, const ProbeResult& r,
                  const std::vector<ProbeResult>& siblings, const AlertContext& ctx, int64_t now_ms);

// Compares the origin's address set with the one stored at the last (re)load
// and records an addresses_changed event when it differs.
Status ApplyAddresses(WriteTxn& txn, const std::string& origin, const std::vector<std::string>& addresses,
                      const AlertContext& ctx, int64_t now_ms);

// The identity of a variant as the plan and the store both know it.
std::string PlannedVariantKey(const std::string& origin, const std::string& address,
                              const std::optional<std::string>& sni, const std::string& profile);

// Closes what no probe will close any more: the open alerts of variants whose
// origin was removed from the configuration, or that the current plan no longer
// probes (an address that left DNS, an SNI or profile dropped from the origin)
// — RetireVariant, then their state is dropped — and the expiry alerts of
// certificates that no configured origin serves now. `planned`: every
// PlannedVariantKey of the current plan; nullptr = judge by origin only.
// Called after SyncOrigins at start, on every reload and when DNS answers change.
Status RetireRemoved(WriteTxn& txn, const AlertContext& ctx, const std::set<std::string>* planned,
                     int64_t now_ms);

// Writes one event: alerts row (open/update/resolve), alert_events row with the
// webhook payload, and an outbox row per matching webhook.
Status RecordEvent(WriteTxn& txn, const AlertEvent& e, const AlertContext& ctx);

}  // namespace originwatch::alert
