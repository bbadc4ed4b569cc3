// GET /api/v1/origins and /api/v1/origins/NAME: the origins' snapshots as
// JSON, schema "originwatch.api/1" (docs/status-page.md). Invalid UTF-8 in
// server-supplied text (certificate names, error texts) is replaced, never
// passed through.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "originwatch/origin_view.h"

namespace originwatch::agent_internal {

inline constexpr const char* kApiSchema = "originwatch.api/1";

std::string OriginsJson(const std::vector<std::shared_ptr<const OriginView>>& origins, int64_t now_ms);
std::string OriginJson(const OriginView& origin, int64_t now_ms);

// "2026-11-30T19:31:47Z"; "" for 0.
std::string IsoTime(int64_t unix_s);

}  // namespace originwatch::agent_internal
