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
    "e.finding_code, e.summary, e.fix, e.at_ms, e.payload "
    "FROM outbox o JOIN alert_events e ON e.id = o.event_row "
    "WHERE o.id IN (SELECT min(id) FROM outbox WHERE state = 'pending' GROUP BY webhook) "
    "ORDER BY o.id";

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
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace originwatch
