// The Prometheus text exposition (format 0.0.4) of GET /metrics: per variant
// series from the origins' snapshots, per origin findings, and the agent's
// own counters. Names and labels: docs/metrics.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/engine_shard.h"
#include "originwatch/origin_view.h"

namespace originwatch::agent_internal {

// The agent-wide values of one scrape (read by the HTTP thread from the
// engines', the store's and the sender's thread-safe stats).
struct AgentGauges {
  std::vector<std::pair<std::string, uint64_t>> probes_by_outcome;  // every outcome code
  uint64_t in_flight = 0;
  DriftSummary drift;
  uint64_t store_queue_depth = 0;
  bool store_writable = true;
  int64_t webhook_backlog = 0;
  bool last_reload_ok = true;
};

// A label value as the text format wants it: backslash, double quote and
// newline escaped.
std::string EscapeLabelValue(std::string_view v);

// per_variant=false leaves out the per origin x address x SNI x profile series.
std::string RenderMetrics(const std::vector<std::shared_ptr<const OriginView>>& origins, const AgentGauges& g,
                          bool per_variant);

}  // namespace originwatch::agent_internal
