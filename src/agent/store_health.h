// The store_unwritable event: what the agent tells the webhooks (directly,
// since the outbox is in the database that refuses writes) when the store's
// writes start failing and when they succeed again.
#pragma once

#include <string>

#include "originwatch/store.h"
#include "originwatch/webhook.h"

namespace originwatch::agent_internal {

// kind "firing" (critical) when !h.writable, "resolved" (info) when writable
// again; rule and finding code "store_unwritable"; origin "" (the agent).
// The event id is the same for both events of one outage but for the kind.
EventPayloadInput StoreHealthEvent(const WriteHealth& h, const std::string& db_path);

}  // namespace originwatch::agent_internal
