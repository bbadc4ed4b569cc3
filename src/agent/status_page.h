// GET / and GET /origin/NAME: the status page, rendered on the server as one
// self-contained HTML document (inline CSS, no script, no external asset).
// Every text that comes from the configuration or from servers is escaped.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "originwatch/origin_view.h"
#include "originwatch/store.h"

namespace originwatch::agent_internal {

std::string HtmlEscape(std::string_view s);

// Every origin: state, findings with their fix, certificate expiry, and a
// strip of recent probes per variant.
std::string RenderStatusPage(const std::vector<std::shared_ptr<const OriginView>>& origins, int64_t now_ms);

// One origin, and its stored history (the store's "origin" report: latest
// per variant, then recent probes) and the newest alert events; `history`
// and `events` may be null when the store could not answer (`note` says why).
std::string RenderOriginPage(const OriginView& origin, const QueryResult* history, const QueryResult* events,
                             const std::string& note, int64_t now_ms);

std::string RenderNotFoundPage(std::string_view what);

}  // namespace originwatch::agent_internal
