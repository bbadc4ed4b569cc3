// `originwatch run --shard i/N`: which origins an agent of a fleet probes,
// and which engine thread inside it probes each. Both come from one hash,
// FNV-1a-64 of the origin's name (of its `upstream`'s name for a front, so a
// front and its upstream stay on one agent): the agent is hash mod N + 1, the
// engine thread (hash / N) mod engine_threads, so the two choices are
// independent. docs/deploy.md. Private to src/agent.
#pragma once

#include <cstdint>

#include "originwatch/config.h"

namespace originwatch::agent_internal {

uint64_t ShardHash(const OriginConfig& o);

// The agent (1..count) that probes `o` in a fleet of `count`.
int ShardOf(const OriginConfig& o, int count);

// The engine thread (0..threads-1) that probes `o` inside an agent of a fleet
// of `count` (1 without --shard).
int EngineThreadOf(const OriginConfig& o, int count, int threads);

// Keeps the origins of shard `index` of `count` and replaces "{shard}" in
// the database path with the index. count 0: nothing changes.
void ApplyShard(AgentConfig* cfg, int index, int count);

}  // namespace originwatch::agent_internal
