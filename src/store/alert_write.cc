// The alert side of a commit (schema/002_alerts.sql, 004_event_ids.sql): alert
// states, episode counters, alerts rows opened, updated and resolved, events
// and their outbox rows; and what the evaluator and the webhook sender read
// back. Writer thread only.
#include <sqlite3.h>

#include <type_traits>

#include "store/store_impl.h"

namespace originwatch {

using namespace store_internal;  // NOLINT: this component's own helpers

// Runs one slot statement with ?1 = text and ?2 = an integer or a second
// text, bound without copies (the commit outlives the step).
namespace {

template <typename Second>
Status RunPair(sqlite3* db, Result<sqlite3_stmt*> stmt, const std::string& first,
               const Second& second) {
  if (!stmt.ok()) return stmt.status();
  Binder b(*stmt);
  b.Text(1, first);
  if constexpr (std::is_same_v<Second, std::string>) {
    b.Text(2, second);
  } else {
    b.Int(2, second);
  }
  if (!b.ok()) return SqliteError(db, "bind");
  return StepReset(db, *stmt);
}

}  // namespace

Status Store::Impl::WriteAlerts(const Commit& c) {
  for (const StateRecord& st : c.states) {
    Status s;
    if (st.erase) {
      auto stmt = Stmt(kSqlDeleteAlertState);
      if (!stmt.ok()) return stmt.status();
      if (!Binder(*stmt).Text(1, st.key).ok()) return SqliteError(raw(), "bind");
      s = StepReset(raw(), *stmt);
    } else {
      auto stmt = Stmt(kSqlUpsertAlertState);
      if (!stmt.ok()) return stmt.status();
      if (!Binder(*stmt).Text(1, st.key).Text(2, st.value).Int(3, c.at_ms).ok()) {
        return SqliteError(raw(), "bind");
      }
      s = StepReset(raw(), *stmt);
    }
    if (!s.ok()) return s;
  }
  for (const EpisodeRecord& e : c.episodes) {
    auto stmt = Stmt(kSqlUpsertEpisode);
    if (!stmt.ok()) return stmt.status();
    if (!Binder(*stmt).Text(1, e.dedup_key).Int(2, e.episode).Int(3, e.updates).ok()) {
      return SqliteError(raw(), "bind");
    }
    if (Status s = StepReset(raw(), *stmt); !s.ok()) return s;
  }
  for (const EventRecord& e : c.events) {
    if (Status s = WriteEvent(e); !s.ok()) return s;
  }
  for (const std::string& key : c.seen_keys) {
    if (Status s = RunPair(raw(), Stmt(kSqlSeenKey), key, c.at_ms); !s.ok()) return s;
  }
  for (const auto& [key, origins] : c.alert_origins) {
    if (Status s = RunPair(raw(), Stmt(kSqlAlertOrigins), key, origins); !s.ok()) return s;
  }
  return Status::Ok();
}

Status Store::Impl::WriteEvent(const EventRecord& e) {
  Status s;
  if (e.kind == "firing") {
    s = Run(raw(), stmts,
            "INSERT INTO alerts (dedup_key, rule, origin, variant, address, severity, opened_ms, "
            "last_seen_ms, finding_code, summary, fix) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, "
            "?10) ON CONFLICT (dedup_key) WHERE resolved_ms IS NULL DO UPDATE SET "
            "severity = excluded.severity, last_seen_ms = excluded.last_seen_ms, "
            "summary = excluded.summary, fix = excluded.fix, origin = excluded.origin",
            {e.dedup_key, e.rule, e.origin, e.variant, e.address, e.severity, e.at_ms, e.finding_code,
             e.summary, e.fix});
  } else if (e.kind == "updated") {
    s = Run(raw(), stmts,
            "UPDATE alerts SET severity = ?2, last_seen_ms = ?3, summary = ?4, fix = ?5, "
            "finding_code = ?6, origin = ?7 WHERE dedup_key = ?1 AND resolved_ms IS NULL",
            {e.dedup_key, e.severity, e.at_ms, e.summary, e.fix, e.finding_code, e.origin});
  } else if (e.kind == "resolved") {
    s = Run(raw(), stmts,
            "UPDATE alerts SET resolved_ms = ?2, last_seen_ms = ?2 "
            "WHERE dedup_key = ?1 AND resolved_ms IS NULL",
            {e.dedup_key, e.at_ms});
  }
  if (!s.ok()) return s;
  int64_t alert_id = 0;
  if (e.kind != "event") {
    auto id = LookupId(raw(), stmts,
                       "SELECT id FROM alerts WHERE dedup_key = ?1 "
                       "ORDER BY (resolved_ms IS NULL) DESC, id DESC LIMIT 1",
                       {e.dedup_key});
    if (!id.ok()) return id.status();
    alert_id = *id;
  }
  // The same event raised again (a crash between its commit and the agent's
  // own record of it cannot happen inside one transaction, but a restored
  // older state can replay it): the id is deterministic, the row is kept once.
  s = Run(raw(), stmts,
          "INSERT INTO alert_events (event_id, alert_id, kind, rule, severity, origin, tags, variant, "
          "address, finding_code, summary, fix, at_ms, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
          "?8, ?9, ?10, ?11, ?12, ?13, ?14) ON CONFLICT (event_id) DO NOTHING",
          {e.event_id, IdOrNull(alert_id), e.kind, e.rule, e.severity, e.origin, e.tags, e.variant,
           e.address, e.finding_code, e.summary, e.fix, e.at_ms, e.payload});
  if (!s.ok()) return s;
  if (sqlite3_changes(raw()) == 0) return Status::Ok();  // already recorded and routed
  const int64_t event_row = sqlite3_last_insert_rowid(raw());
  for (const std::string& webhook : e.webhooks) {
    s = Run(raw(), stmts,
            "INSERT INTO outbox (event_row, webhook, next_attempt_ms, created_ms) VALUES (?1, ?2, ?3, ?3)",
            {event_row, webhook, e.at_ms});
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Result<AlertSnapshot> Store::Impl::ReadAlertSnapshot() {
  AlertSnapshot out;
  {
    auto stmt = stmts.Get("SELECT key, state FROM alert_state ORDER BY key");
    if (!stmt.ok()) return stmt.status();
    int rc;
    while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) {
      out.states.push_back({ColumnText(*stmt, 0), ColumnText(*stmt, 1), false});
    }
    sqlite3_reset(*stmt);
    if (rc != SQLITE_DONE) return SqliteError(raw(), "");
  }
  auto stmt = stmts.Get("SELECT dedup_key, episode, updates FROM alert_episodes");
  if (!stmt.ok()) return stmt.status();
  int rc;
  while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) {
    out.episodes.push_back({ColumnText(*stmt, 0), ColumnInt(*stmt, 1), ColumnInt(*stmt, 2)});
  }
  sqlite3_reset(*stmt);
  if (rc != SQLITE_DONE) return SqliteError(raw(), "");
  return out;
}

Status Store::Impl::WriteDelivery(const DeliveryRecord& d) {
  if (d.attempted) {
    Status s = Run(raw(), stmts,
                   "INSERT INTO deliveries (outbox_id, attempt, at_ms, http_status, error, duration_ms) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                   {d.outbox_id, d.attempts, d.at_ms,
                    d.http_status > 0 ? SqlValue(int64_t{d.http_status}) : SqlValue(nullptr),
                    TextOrNull(d.error), d.duration_ms});
    if (!s.ok()) return s;
  }
  const bool done = d.state != "pending";
  return Run(raw(), stmts,
             "UPDATE outbox SET state = ?2, attempts = ?3, next_attempt_ms = ?4, done_ms = ?5, "
             "last_error = ?6 WHERE id = ?1 AND state = 'pending'",
             {d.outbox_id, d.state, d.attempts, d.next_attempt_ms,
              done ? SqlValue(d.done_ms) : SqlValue(nullptr), TextOrNull(d.last_error)});
}

}  // namespace originwatch
