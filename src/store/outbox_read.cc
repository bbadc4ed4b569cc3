// The webhook sender's view of the outbox: the oldest pending row of each
// webhook with its event, read on a read-only connection (RunQuery), so the
// sender never holds the writer's connection while it waits on the network.
#include <cstdlib>

#include "originwatch/store.h"

namespace originwatch {
namespace {

constexpr const char* kHeadSql =
    "SELECT o.id, o.webhook, o.attempts, o.next_attempt_ms, o.created_ms, o.last_error, "
    "e.event_id, e.kind, e.rule, e.severity, e.origin, e.tags, e.variant, e.address, "
    "e.finding_code, e.summary, e.fix, e.at_ms, e.payload, coalesce(a.dedup_key, ''), "
    "coalesce(a.opened_ms, 0) "
    "FROM outbox o JOIN alert_events e ON e.id = o.event_row "
    "LEFT JOIN alerts a ON a.id = e.alert_id "
    "WHERE o.id IN (SELECT min(id) FROM outbox WHERE state = 'pending' GROUP BY webhook) "
    "ORDER BY o.id";

constexpr const char* kOpenSql =
    "SELECT a.dedup_key, a.rule, a.severity, a.origin, a.variant, a.address, a.opened_ms, "
    "a.finding_code, a.summary, a.fix, "
    "coalesce((SELECT e.tags FROM alert_events e WHERE e.alert_id = a.id ORDER BY e.id DESC "
    "LIMIT 1), '') "
    "FROM alerts a WHERE a.resolved_ms IS NULL ORDER BY a.id";

std::string Cell(const std::vector<std::optional<std::string>>& r, size_t i) {
  return i < r.size() && r[i] ? *r[i] : std::string();
}
int64_t IntCell(const std::vector<std::optional<std::string>>& r, size_t i) {
  return i < r.size() && r[i] ? std::strtoll(r[i]->c_str(), nullptr, 10) : 0;
}

}  // namespace

Result<std::vector<OutboxEntry>> PendingOutboxHeads(const std::string& db_path) {
  auto rows = RunQuery(db_path, kHeadSql);
  if (!rows.ok()) return rows.status();
  std::vector<OutboxEntry> out;
  out.reserve(rows->rows.size());
  for (const auto& r : rows->rows) {
    OutboxEntry o;
    o.id = IntCell(r, 0);
    o.webhook = Cell(r, 1);
    o.attempts = IntCell(r, 2);
    o.next_attempt_ms = IntCell(r, 3);
    o.created_ms = IntCell(r, 4);
    o.last_error = Cell(r, 5);
    EventRecord& e = o.event;
    e.event_id = Cell(r, 6);
    e.kind = Cell(r, 7);
    e.rule = Cell(r, 8);
    e.severity = Cell(r, 9);
    e.origin = Cell(r, 10);
    e.tags = Cell(r, 11);
    e.variant = Cell(r, 12);
    e.address = Cell(r, 13);
    e.finding_code = Cell(r, 14);
    e.summary = Cell(r, 15);
    e.fix = Cell(r, 16);
    e.at_ms = IntCell(r, 17);
    e.payload = Cell(r, 18);
    e.dedup_key = Cell(r, 19);
    o.alert_opened_ms = IntCell(r, 20);
    out.push_back(std::move(o));
  }
  return out;
}

Result<std::vector<EventRecord>> OpenAlertEvents(const std::string& db_path) {
  auto rows = RunQuery(db_path, kOpenSql);
  if (!rows.ok()) return rows.status();
  std::vector<EventRecord> out;
  out.reserve(rows->rows.size());
  for (const auto& r : rows->rows) {
    EventRecord e;
    e.kind = "firing";
    e.dedup_key = Cell(r, 0);
    e.rule = Cell(r, 1);
    e.severity = Cell(r, 2);
    e.origin = Cell(r, 3);
    e.variant = Cell(r, 4);
    e.address = Cell(r, 5);
    e.at_ms = IntCell(r, 6);
    e.finding_code = Cell(r, 7);
    e.summary = Cell(r, 8);
    e.fix = Cell(r, 9);
    e.tags = Cell(r, 10);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace originwatch
