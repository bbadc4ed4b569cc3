// Retention (Store::Prune): old probe rows in short steps, then what no probe
// references any more. Each step is a command on the writer thread, so
// batches run between steps.
#include <sqlite3.h>

#include <mutex>
#include <string>
#include <vector>

#include "store/store_impl.h"

namespace originwatch {

using namespace store_internal;  // NOLINT: this component's own helpers

Result<int64_t> Store::Impl::PruneStep(int64_t cutoff, int max_rows) {
  sqlite3* d = raw();
  if (Status s = ExecSql(d, "BEGIN IMMEDIATE"); !s.ok()) return s;
  Status s = Run(d, stmts,
                 "DELETE FROM probes WHERE id IN "
                 "(SELECT id FROM probes WHERE ts < ?1 ORDER BY ts LIMIT ?2)",
                 {cutoff, int64_t{max_rows}});
  int64_t n = sqlite3_changes64(d);
  if (s.ok()) s = ExecSql(d, "COMMIT");
  if (!s.ok()) (void)ExecSql(d, "ROLLBACK");
  // Deleting probes set variant_state.last_probe_id to NULL (ON DELETE SET
  // NULL): the cached states are stale.
  ClearCaches();
  if (!s.ok()) return s;
  return n;
}

Status Store::Impl::PruneFinish(int64_t cutoff) {
  sqlite3* d = raw();
  if (Status s = ExecSql(d, "BEGIN IMMEDIATE"); !s.ok()) return s;
  Status s = Run(d, stmts, "DELETE FROM leaf_changes WHERE ts < ?1", {cutoff});
  // A chain whose newest probe is older than the cutoff has no probe left.
  if (s.ok()) s = Run(d, stmts, "DELETE FROM chains WHERE last_seen < ?1", {cutoff});
  // The deleted fingerprints leave Options::known_certs once this commits.
  std::vector<std::string> deleted_certs;
  if (s.ok()) {
    auto stmt = stmts.Get(
        "DELETE FROM certificates WHERE "
        "NOT EXISTS (SELECT 1 FROM chain_certs cc WHERE cc.cert_id = certificates.id) AND "
        "NOT EXISTS (SELECT 1 FROM leaf_changes l WHERE l.old_cert_id = certificates.id) AND "
        "NOT EXISTS (SELECT 1 FROM leaf_changes l WHERE l.new_cert_id = certificates.id) "
        "RETURNING sha256");
    if (!stmt.ok()) {
      s = stmt.status();
    } else {
      int rc;
      while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) deleted_certs.push_back(ColumnText(*stmt, 0));
      sqlite3_reset(*stmt);
      if (rc != SQLITE_DONE) s = SqliteError(d, "");
    }
  }
  // Dictionary texts no probe row references any more (error texts can be
  // unique per probe: a timeout names the bytes it read), so the dictionary
  // stays bounded by retention like the probes. One scan of probes.
  if (s.ok()) {
    s = Run(d, stmts,
            "DELETE FROM strings WHERE id NOT IN ("
            "SELECT version_id FROM probes WHERE version_id IS NOT NULL UNION "
            "SELECT cipher_id FROM probes WHERE cipher_id IS NOT NULL UNION "
            "SELECT group_id FROM probes WHERE group_id IS NOT NULL UNION "
            "SELECT alpn_id FROM probes WHERE alpn_id IS NOT NULL UNION "
            "SELECT verify_error_id FROM probes WHERE verify_error_id IS NOT NULL UNION "
            "SELECT missing_names_id FROM probes WHERE missing_names_id IS NOT NULL UNION "
            "SELECT error_id FROM probes WHERE error_id IS NOT NULL)",
            {});
  }
  if (s.ok()) {
    s = Run(d, stmts,
            "DELETE FROM dns_answers WHERE id NOT IN "
            "(SELECT dns_answer_id FROM probes WHERE dns_answer_id IS NOT NULL)",
            {});
  }
  // The alert tables (schema/002): finished deliveries, events nothing still
  // waits to deliver, and alerts resolved before the cutoff. Open alerts and
  // pending outbox rows are never pruned, however old.
  if (s.ok()) {
    s = Run(d, stmts,
            "DELETE FROM deliveries WHERE outbox_id IN "
            "(SELECT id FROM outbox WHERE done_ms IS NOT NULL AND done_ms < ?1)",
            {cutoff});
  }
  if (s.ok()) s = Run(d, stmts, "DELETE FROM outbox WHERE done_ms IS NOT NULL AND done_ms < ?1", {cutoff});
  if (s.ok()) {
    s = Run(d, stmts,
            "DELETE FROM alert_events WHERE at_ms < ?1 AND "
            "NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_row = alert_events.id) AND "
            "(alert_id IS NULL OR alert_id IN (SELECT id FROM alerts WHERE resolved_ms IS NOT NULL))",
            {cutoff});
  }
  if (s.ok()) {
    s = Run(d, stmts,
            "DELETE FROM alerts WHERE resolved_ms IS NOT NULL AND resolved_ms < ?1 AND "
            "NOT EXISTS (SELECT 1 FROM alert_events e WHERE e.alert_id = alerts.id)",
            {cutoff});
  }
  if (s.ok()) s = ExecSql(d, "COMMIT");
  if (!s.ok()) (void)ExecSql(d, "ROLLBACK");
  ClearCaches();
  if (s.ok() && options.known_certs && !deleted_certs.empty()) {
    options.known_certs->Remove(deleted_certs);
  }
  return s;
}

Status Store::Prune(int64_t older_than_ms, int max_rows_per_step) {
  Impl* m = impl_.get();
  if (max_rows_per_step < 1) max_rows_per_step = 1;
  for (;;) {
    int64_t deleted = 0;
    Status s = m->RunOnWriter([&]() -> Status {
      auto n = m->PruneStep(older_than_ms, max_rows_per_step);
      if (!n.ok()) return n.status();
      deleted = *n;
      return Status::Ok();
    });
    if (!s.ok()) {
      return Status::IoError("database \"" + m->options.path + "\": retention: " + s.message());
    }
    {
      std::lock_guard<std::mutex> lk(m->mu);
      m->stats.pruned += static_cast<uint64_t>(deleted);
    }
    if (deleted < max_rows_per_step) break;
  }
  Status s = m->RunOnWriter([&]() -> Status { return m->PruneFinish(older_than_ms); });
  if (!s.ok()) {
    return Status::IoError("database \"" + m->options.path + "\": retention: " + s.message());
  }
  return Status::Ok();
}

}  // namespace originwatch
