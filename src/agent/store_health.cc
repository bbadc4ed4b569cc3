#include "agent/store_health.h"

#include "originwatch/alert.h"
#include "originwatch/evaluator.h"

namespace originwatch::agent_internal {

EventPayloadInput StoreHealthEvent(const WriteHealth& h, const std::string& db_path) {
  EventPayloadInput e;
  e.kind = h.writable ? "resolved" : "firing";
  e.rule = std::string(rule::kStoreUnwritable);
  e.severity = h.writable ? "info" : "critical";
  e.finding_code = std::string(rule::kStoreUnwritable);
  e.event_id = DeterministicEventId(std::string(rule::kStoreUnwritable) + "|" + db_path,
                                    h.since_ms, e.kind, 0);
  const std::string db = "\"" + db_path + "\"";
  if (!h.writable) {
    e.summary = "originwatch cannot write its database " + db + ": " + h.error +
                ". Probing goes on; results wait in memory and are dropped (counted) when that "
                "buffer is full; alert transitions are kept and sent once writes resume.";
    e.fix = "Free space on the filesystem that holds " + db +
            " (or fix its permissions or the disk); originwatch resumes writing by itself.";
  } else {
    e.summary = "originwatch writes its database " + db + " again; " + std::to_string(h.dropped) +
                " probe results were dropped while it could not (last error: " + h.error + ").";
    e.fix = "No action needed.";
  }
  e.message = e.summary + " Fix: " + e.fix;
  e.facts_after = {{"database", db_path}, {"error", h.error},
                   {"dropped", std::to_string(h.dropped)}, {"held", std::to_string(h.held)}};
  e.at_ms = h.at_ms;
  e.alert_opened_ms = h.since_ms;
  return e;
}

}  // namespace originwatch::agent_internal
